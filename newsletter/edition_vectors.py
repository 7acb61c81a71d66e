"""An edition's papers fitted once for ranking: popularity, tf-idf vectors, category and author
incidence, and readers' interest phrases as term counts (tokenized once per edition and cached).
``newsletter.ranking`` scores readers against this; nothing here depends on the readers."""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

if TYPE_CHECKING:
    from newsletter.ranking import PaperInfo

# The analyzer that term_counts reproduces: the default token pattern, lower-case, English stop
# words, unigrams and bigrams.
_VECTORIZER_OPTIONS = {"stop_words": "english", "ngram_range": (1, 2), "lowercase": True}
# Profile pieces (phrases, liked texts) cached per edition: at most this many pieces, characters
# and cached term counts; past any of them the cache starts afresh before the next batch.
_PIECE_CACHE_LIMITS = (200_000, 40_000_000, 4_000_000)
_DENSE_LIMIT = 4_000_000  # vocabulary x papers cells kept dense (32 MB)
_EDITION_CACHE_SIZE = 2  # the daily and the weekly edition being planned
_PIECE_SEPARATOR_WORD = "zqxpaperboypiecezqx"  # a word that separates profile pieces while tokenizing
_MARK_CODE = -2
# ASCII characters that are not word characters (\w), mapped to a space: in ASCII text the
# vectorizer's token pattern (?u)\b\w\w+\b finds exactly the 2+ character words between them.
_ASCII_NON_WORD = {code: " " for code in range(128) if not (chr(code).isalnum() or chr(code) == "_")}


def author_key(name: str) -> str:
    return " ".join(name.split()).casefold()


class EditionVectors:
    """Everything about the papers that does not depend on the readers, fitted once."""

    def __init__(self, papers: Sequence[PaperInfo]):
        n = len(papers)
        ids = [paper.id for paper in papers]
        if len(set(ids)) != n:
            raise ValueError("score_papers: duplicate paper ids in the edition")
        upvotes = np.array([max(int(paper.upvotes), 0) for paper in papers], dtype=np.float64)
        # Columns are laid out in tie-break order (more upvotes first, then the given order), so a
        # stable sort on the score alone breaks ties the documented way.
        order = np.lexsort((np.arange(n), -upvotes))
        self.papers = [papers[i] for i in order]
        self.n = n
        self.ids_obj = np.empty(n, dtype=object)
        self.ids_obj[:] = [int(paper.id) for paper in self.papers]  # shared int objects in the output
        self.col_of = {paper.id: col for col, paper in enumerate(self.papers)}
        self.id_set = frozenset(self.col_of)
        by_id = sorted(self.col_of.items())
        self.sorted_ids = np.array([pid for pid, _ in by_id], dtype=np.int64)
        self.sorted_cols = np.array([col for _, col in by_id], dtype=np.int64)

        top = upvotes.max() if n else 0.0
        self.popularity = np.log1p(upvotes[order]) / math.log1p(top) if top > 0 else np.zeros(n)

        # Pinned papers get keys above any score, decreasing in the given order.
        self.pinned_cols = np.array([col for col, paper in enumerate(self.papers) if paper.pinned], dtype=np.intp)
        self.pinned_rank = (n - order[self.pinned_cols]).astype(np.float64)

        self.category_index: dict[str, int] = {}
        for paper in self.papers:
            for category in paper.categories:
                self.category_index.setdefault(category, len(self.category_index))
        self.paper_categories = self._paper_incidence(
            [[self.category_index[c] for c in paper.categories] for paper in self.papers], len(self.category_index)
        )
        # Papers of unknown category (no categories: an HF pick arXiv has not told us about) pass any filter.
        self.uncategorized = np.array([not paper.categories for paper in self.papers], dtype=bool)
        self.author_index: dict[str, int] = {}
        for paper in self.papers:
            for name in paper.authors:
                self.author_index.setdefault(author_key(name), len(self.author_index))
        self.paper_authors = self._paper_incidence(
            [[self.author_index[author_key(a)] for a in paper.authors] for paper in self.papers],
            len(self.author_index),
        )

        tfidf = TfidfVectorizer(sublinear_tf=True, min_df=1, **_VECTORIZER_OPTIONS)
        try:
            matrix = tfidf.fit_transform([paper.text or "" for paper in self.papers]).tocsr()
        except ValueError:  # no paper, or only stop words: relevance is 0 for everybody
            self.vocabulary = {}
            self.idf = np.zeros(0)
            self.paper_vectors_t = np.zeros((0, n))
            self.similarity = np.zeros((n, n))
        else:
            self.vocabulary = tfidf.vocabulary_
            self.preprocess = tfidf.build_preprocessor()
            self.tokenize = tfidf.build_tokenizer()
            self.stop_words = frozenset(tfidf.get_stop_words() or ())
            # unigram -> column, and the marker that separates pieces in ``term_counts``
            self.token_codes = {term: col for term, col in self.vocabulary.items() if " " not in term}
            self.separable = _PIECE_SEPARATOR_WORD not in self.token_codes
            if self.separable:
                self.token_codes[_PIECE_SEPARATOR_WORD] = _MARK_CODE
            self.idf = tfidf.idf_.astype(np.float64)
            # vocabulary x papers; dense while small (a sparse x dense product is the fastest here)
            transposed = matrix.T.tocsr()
            small = transposed.shape[0] * n <= _DENSE_LIMIT
            self.paper_vectors_t = transposed.toarray() if small else transposed
            self.similarity = (matrix @ matrix.T).toarray()  # paper x paper cosine
        self.vocabulary_size = len(self.idf)
        self.phrases = PieceCache(self)
        self.lock = threading.Lock()

    @staticmethod
    def _paper_incidence(rows: list[list[int]], width: int) -> np.ndarray:
        """(width x papers) 0/1 float matrix from each paper's list of indices."""
        matrix = np.zeros((width, len(rows)), dtype=np.float32)
        for col, indices in enumerate(rows):
            matrix[indices, col] = 1.0
        return matrix

    def term_counts(self, pieces: list[str]) -> sp.csr_matrix:
        """(pieces x vocabulary) term counts: what ``CountVectorizer(vocabulary=...)`` with the
        fitted vectorizer's analyzer gives, computed for all pieces at once.

        The analyzer lower-cases, takes the tokens (runs of 2+ word characters), drops English
        stop words, and counts the unigrams and the bigrams of the remaining tokens. Here the
        pieces are joined with a marker token between them and tokenized in one pass (ASCII text
        by ``str.translate`` + ``split``, which is what the token pattern finds in ASCII; other
        text by the vectorizer's own tokenizer), and a bigram is only built where both of its
        words are in the vocabulary - no other bigram can be, since every word of a paper's
        bigram is also one of its unigrams."""
        size = (len(pieces), self.vocabulary_size)
        if not self.vocabulary or not pieces:
            return sp.csr_matrix(size)
        mark = _PIECE_SEPARATOR_WORD
        joined = self.preprocess(f" {mark} ".join(pieces))
        if len(pieces) > 1 and (not self.separable or joined.count(mark) != len(pieces) - 1):
            # a piece contains the marker word itself: one piece at a time
            stacked: sp.csr_matrix = sp.vstack([self.term_counts([piece]) for piece in pieces], format="csr")
            return stacked
        if joined.isascii():
            tokens = joined.translate(_ASCII_NON_WORD).split()
            tokens = [token for token in tokens if len(token) > 1 and token not in self.stop_words]
        else:
            tokens = [token for token in self.tokenize(joined) if token not in self.stop_words]
        codes = np.fromiter(map(self.token_codes.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
        rows = np.cumsum(codes == _MARK_CODE) if len(pieces) > 1 else np.zeros(len(codes), dtype=np.int64)
        pairs = np.flatnonzero((codes[:-1] >= 0) & (codes[1:] >= 0)).tolist()
        bigrams = np.fromiter(
            map(self.vocabulary.get, [f"{tokens[i]} {tokens[i + 1]}" for i in pairs], repeat(-1)),
            dtype=np.int64,
            count=len(pairs),
        )
        unigram = codes >= 0
        found = bigrams >= 0
        return incidence(
            np.concatenate([rows[unigram], rows[np.asarray(pairs, dtype=np.int64)][found]]),
            np.concatenate([codes[unigram], bigrams[found]]),
            size,
            np.float64,
        )


class PieceCache:
    """Profile pieces (interest phrases, liked texts) -> row of their term counts, grown lazily:
    a phrase shared by many readers is tokenized once per edition."""

    _NEW, _EMPTY, _BOUNDARY = -3, -1, -2
    _MARK = "\x01"  # separates readers in the joined interests of a batch

    def __init__(self, edition: EditionVectors):
        self.edition = edition
        self.reset()

    def reset(self) -> None:
        self.index: dict[str, int] = {"": self._EMPTY, self._MARK: self._BOUNDARY}
        self.size = 0
        self.characters = 0
        self.matrix = sp.csr_matrix((0, self.edition.vocabulary_size))  # term counts

    def full(self) -> bool:
        """Bounds the memory the cache keeps between calls (checked between batches)."""
        limit = _PIECE_CACHE_LIMITS
        return self.size > limit[0] or self.characters > limit[1] or self.matrix.nnz > limit[2]

    def _add(self, pieces: list[str]) -> None:
        for piece in pieces:
            self.index[piece] = self.size
            self.size += 1
        self.characters += sum(map(len, pieces))
        block = self.edition.term_counts(pieces)
        self.matrix = sp.vstack([self.matrix, block], format="csr") if self.matrix.shape[0] else block

    def lookup(self, pieces: list[str]) -> np.ndarray:
        """Row of each piece (any text; liked texts are used verbatim)."""
        get = self.index.get
        codes = np.fromiter(map(get, pieces, repeat(self._NEW)), dtype=np.int64, count=len(pieces))
        missing = np.flatnonzero(codes == self._NEW)
        if missing.size:
            self._add(list(dict.fromkeys(pieces[i] for i in missing)))
            codes[missing] = [self.index[pieces[i]] for i in missing]
        return codes

    def phrase_pairs(self, interests: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(reader row, piece row) for every interest phrase of a batch of readers, found with
        one join/split over the whole batch instead of a split per reader. Phrases are cached as
        written (not lower-cased: the vectorizer does that, only sharing would gain)."""
        mark = self._MARK
        joined = f",{mark},".join(interests)
        if joined.count(mark) != len(interests) - 1:  # a reader's text contains the mark itself
            joined = f",{mark},".join(text.replace(mark, " ") for text in interests)
        if ";" in joined:
            joined = joined.replace(";", ",")
        if "\n" in joined:
            joined = joined.replace("\n", ",")
        codes = self.lookup(list(map(str.strip, joined.split(","))))
        rows = np.cumsum(codes == self._BOUNDARY)
        keep = codes >= 0
        return rows[keep], codes[keep]


@functools.lru_cache(maxsize=_EDITION_CACHE_SIZE)
def edition_vectors(papers: tuple[PaperInfo, ...]) -> EditionVectors:
    return EditionVectors(papers)


def clear_cache() -> None:
    """Forget the fitted editions and their phrase caches (they are kept for the next call with
    the same papers, as the planner ranks an edition's readers batch by batch)."""
    edition_vectors.cache_clear()


def incidence(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], dtype: type[np.generic]) -> sp.csr_matrix:
    """Sparse (readers x things) matrix with a 1 per (row, col) pair; repeated pairs add up."""
    data = np.ones(len(cols), dtype=dtype)
    return sp.csr_matrix((data, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))), shape=shape)
