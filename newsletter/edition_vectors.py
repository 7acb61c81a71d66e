"""An edition's papers fitted once for ranking: popularity, tf-idf vectors, category and author
incidence, and readers' profile pieces (interest phrases, liked and disliked papers' texts) with
their similarity to every paper (computed once per edition and cached).
``newsletter.ranking`` scores readers against this; nothing here depends on the readers."""

from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from itertools import pairwise, repeat
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import Stemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.preprocessing import normalize

if TYPE_CHECKING:
    from newsletter.ranking import PaperInfo

# Profile pieces cached per edition: at most this many pieces and characters; past either the
# cache starts afresh before the next batch. Each piece keeps two float64 rows per paper.
_PIECE_CACHE_LIMITS = (100_000, 40_000_000)
_DENSE_LIMIT = 4_000_000  # vocabulary x papers cells kept dense (32 MB)
_EDITION_CACHE_SIZE = 2  # the daily and the weekly edition being planned
_PIECE_SEPARATOR_WORD = "zqxpaperboypiecezqx"  # a word that separates profile pieces while tokenizing
_MARK_CODE = -2
# A piece's similarities are divided by its best match in the edition, but never by less than this:
# each interest's best paper scores 1 (every interest gets a fair share), weak matches stay weak.
SCALE_FLOOR = 0.2
# Words every abstract uses: they say nothing about what a reader wants. They still match, at
# this fraction of their tf-idf weight, so "language models" keeps meaning something.
GENERIC_WEIGHT = 0.3
# A paper's match with a reader's phrases is the p-norm of its scaled matches with each: the best
# one, plus a little for each further phrase it matches (p = 2, 3, 4, 8 gave nDCG@10 0.778, 0.783,
# 0.786, 0.786 on the relevance bench).
PHRASE_NORM = 4.0
# Semantic similarity (optional: papers with an embedding and an ``embed`` function): an interest
# phrase's scaled match is this blend of its tf-idf and its embedding match (shares 0.3, 0.5, 0.7
# gave nDCG@10 0.850, 0.861, 0.843 on the relevance bench), and an embedding cosine of at least
# EMBEDDING_MATCH counts as a match as a tf-idf cosine of min_relevance does (about where the
# bench's relevant papers start).
EMBEDDING_SHARE = 0.5
EMBEDDING_MATCH = 0.3
EMBEDDING_FLOOR = 0.25  # an embedding row is divided by its best match, but by no less than this
GENERIC_WORDS = frozenset(
    [
        "model",
        "models",
        "modeling",
        "modelling",
        "learning",
        "learn",
        "learned",
        "language",
        "languages",
        "large",
        "method",
        "methods",
        "approach",
        "approaches",
        "framework",
        "frameworks",
        "task",
        "tasks",
        "data",
        "dataset",
        "datasets",
        "performance",
        "result",
        "results",
        "propose",
        "proposed",
        "paper",
        "study",
        "training",
        "train",
        "trained",
        "based",
        "using",
        "use",
        "new",
        "novel",
        "state",
        "art",
        "benchmark",
        "benchmarks",
        "experiment",
        "experiments",
        "experimental",
        "show",
        "shows",
        "demonstrate",
        "achieve",
        "achieves",
        "improve",
        "improves",
        "improved",
        "improvement",
        "existing",
        "efficient",
        "effective",
        "work",
        "works",
        "system",
        "systems",
    ]
)
# ASCII characters that are not word characters (\w), mapped to a space: in ASCII text the
# token pattern (?u)\b\w\w+\b finds exactly the 2+ character words between them.
_ASCII_NON_WORD = {code: " " for code in range(128) if not (chr(code).isalnum() or chr(code) == "_")}
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# TeX accents as arXiv writes them in author names: J{\"o}rg, Mikol\'a\v{s}, Kra{\ss}.
_TEX_ACCENT = re.compile(r"\\[\"'`^~=.uvHckbdr]\s*\{?\s*(\\?[A-Za-z])\s*\}?")
_TEX_LETTERS = {"\\ss": "ss", "\\o": "o", "\\O": "o", "\\l": "l", "\\L": "l", "\\ae": "ae", "\\oe": "oe", "\\i": "i"}


@functools.lru_cache(maxsize=65_536)
def author_key(name: str) -> str:
    """The key that matches a followed author with a paper's author: case, spacing, accents and
    TeX accents do not matter ("Jörg Hoffmann" follows "J\\"org Hoffmann")."""
    if "\\" in name:
        name = _TEX_ACCENT.sub(lambda match: match.group(1).lstrip("\\"), name)
        for tex, letter in _TEX_LETTERS.items():
            name = re.sub(re.escape(tex) + r"(?![A-Za-z])", letter, name)
    if "{" in name or "}" in name:
        name = name.replace("{", "").replace("}", "")
    if not name.isascii():
        name = "".join(char for char in unicodedata.normalize("NFKD", name) if not unicodedata.combining(char))
    return " ".join(name.split()).casefold()


class Analyzer:
    """Text -> stemmed tokens -> terms (unigrams and bigrams): lower-case, runs of 2+ word
    characters, English stop words dropped, Snowball (Porter 2) stems, so "robotics" matches
    "robot" and "forecasting" matches "forecasts". The same analyzer reads papers and profiles."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self._stems: dict[str, str] = {}

    def tokens(self, text: str) -> list[str]:
        text = text.lower()
        if text.isascii():
            words = [word for word in text.translate(_ASCII_NON_WORD).split() if len(word) > 1]
        else:
            words = _TOKEN.findall(text)
        words = [word for word in words if word not in ENGLISH_STOP_WORDS]
        stems = self._stems
        missing = [word for word in dict.fromkeys(words) if word not in stems]
        if missing:
            stems.update(zip(missing, self._stemmer.stemWords(missing), strict=True))
        return list(map(stems.__getitem__, words))

    def terms(self, text: str) -> list[str]:
        tokens = self.tokens(text)
        return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


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

        self.analyzer = Analyzer()
        counter = CountVectorizer(analyzer=self.analyzer.terms)
        try:
            counts = counter.fit_transform([paper.text or "" for paper in self.papers]).tocsr()
        except ValueError:  # no paper, or only stop words: relevance is 0 for everybody
            self.vocabulary: dict[str, int] = {}
            self.idf = np.zeros(0)
            self.paper_terms = sp.csr_matrix((n, 0))
            self.paper_vectors_t: np.ndarray | sp.csr_matrix = np.zeros((0, n))
        else:
            self.vocabulary = counter.vocabulary_
            # unigram -> column, and the marker that separates pieces in ``term_counts``
            self.token_codes = {term: col for term, col in self.vocabulary.items() if " " not in term}
            self.mark = self.analyzer.tokens(_PIECE_SEPARATOR_WORD)[0]
            self.separable = self.mark not in self.token_codes
            if self.separable:
                self.token_codes[self.mark] = _MARK_CODE
            # TfidfVectorizer's smooth idf, with generic words weighed down
            document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
            self.idf = np.log((1 + n) / (1 + document_frequency)) + 1.0
            generic = {self.vocabulary.get(word, -1) for word in self.analyzer.tokens(" ".join(GENERIC_WORDS))}
            self.idf[sorted(generic - {-1})] *= GENERIC_WEIGHT
            self.paper_terms = counts.copy()
            self.paper_terms.data = np.ones_like(self.paper_terms.data)  # which terms each paper has
            vectors = counts.astype(np.float64)
            weigh_terms(vectors, self.idf)
            normalize(vectors, copy=False)
            # vocabulary x papers; dense while small (a sparse x dense product is the fastest here)
            transposed = vectors.T.tocsr()
            small = transposed.shape[0] * n <= _DENSE_LIMIT
            self.paper_vectors_t = transposed.toarray() if small else transposed
        self.vocabulary_size = len(self.idf)
        # Papers' embeddings (float32 bytes, unit length), where the planner passed them.
        self.embed: Callable[[list[str]], np.ndarray] | None = None  # set per call by the ranking
        embedded = [paper.embedding for paper in self.papers]
        self.has_embedding = np.array([data is not None for data in embedded], dtype=bool)
        self.paper_embeddings: np.ndarray | None = None
        if self.has_embedding.any():
            width = next(len(data) for data in embedded if data is not None) // 4
            self.paper_embeddings = np.zeros((n, width), dtype=np.float32)
            for col, data in enumerate(embedded):
                if data is not None:
                    self.paper_embeddings[col] = np.frombuffer(data, dtype="<f4")
        self.phrases = PieceCache(self)
        self.muted: dict[str, np.ndarray] = {}
        self.lock = threading.Lock()

    @staticmethod
    def _paper_incidence(rows: list[list[int]], width: int) -> np.ndarray:
        """(width x papers) 0/1 float matrix from each paper's list of indices."""
        matrix = np.zeros((width, len(rows)), dtype=np.float32)
        for col, indices in enumerate(rows):
            matrix[indices, col] = 1.0
        return matrix

    def term_counts(self, pieces: list[str]) -> sp.csr_matrix:
        """(pieces x vocabulary) term counts: what the fitted analyzer counts in each piece,
        computed for all pieces at once. The pieces are joined with a marker token between them
        and tokenized in one pass, and a bigram is only built where both of its words are in the
        vocabulary - no other bigram can be, since every word of a paper's bigram is also one of
        its unigrams."""
        size = (len(pieces), self.vocabulary_size)
        if not self.vocabulary or not pieces:
            return sp.csr_matrix(size)
        joined = f" {_PIECE_SEPARATOR_WORD} ".join(pieces)
        tokens = self.analyzer.tokens(joined)
        if len(pieces) > 1 and (not self.separable or tokens.count(self.mark) != len(pieces) - 1):
            # a piece contains the marker word itself: one piece at a time
            stacked: sp.csr_matrix = sp.vstack([self.term_counts([piece]) for piece in pieces], format="csr")
            return stacked
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

    def similarity(self, pieces: list[str]) -> np.ndarray:
        """(pieces x papers) tf-idf cosine of each piece with each paper."""
        if not self.vocabulary_size or not pieces:
            return np.zeros((len(pieces), self.n))
        vectors = self.term_counts(pieces)
        weigh_terms(vectors, self.idf)
        normalize(vectors, copy=False)
        product = vectors @ self.paper_vectors_t
        dense = product.toarray() if sp.issparse(product) else np.asarray(product)
        return dense.astype(np.float64)

    def muted_papers(self, phrase: str) -> np.ndarray:
        """Which papers (bool per column) a muted phrase hides: those containing all of its words
        in order (as stems: "LLM agents" hides "LLM agent" and "LLM-based agents" does not) - a
        one-word phrase hides every paper with that word. Cached per phrase."""
        hidden = self.muted.get(phrase)
        if hidden is None:
            needed = _phrase_terms(self.analyzer.tokens(phrase))
            columns = [self.vocabulary.get(term, -1) for term in needed]
            if not needed or min(columns) < 0:
                hidden = np.zeros(self.n, dtype=bool)
            else:
                hidden = np.asarray(self.paper_terms[:, columns].sum(axis=1)).ravel() == len(columns)
            if len(self.muted) < 100_000:
                self.muted[phrase] = hidden
        return hidden


def _phrase_terms(tokens: list[str]) -> list[str]:
    """The terms a text must have to mention a phrase: its one word, or each pair of its words in order."""
    return tokens if len(tokens) == 1 else [f"{a} {b}" for a, b in pairwise(tokens)]


def mentions(text: str, phrases: Sequence[str]) -> bool:
    """Whether ``text`` mentions one of ``phrases`` the way a muted phrase hides a paper from the
    ranking (``EditionVectors.muted_papers``): all of its words, in order, as stems."""
    analyzer = Analyzer()
    terms = set(analyzer.terms(text))
    return any((needed := _phrase_terms(analyzer.tokens(phrase))) and terms.issuperset(needed) for phrase in phrases)


def weigh_terms(counts: sp.csr_matrix, idf: np.ndarray) -> None:
    """In place: count -> idf * (1 + log(count)), the vectorizer's sublinear tf-idf weight."""
    np.log(counts.data, out=counts.data)
    counts.data += 1.0
    counts.data *= idf[counts.indices]


class PieceCache:
    """Profile pieces (interest phrases, liked texts) -> row of their similarities with the
    edition's papers, grown lazily: a phrase shared by many readers is analysed once per edition.
    ``scaled`` is the similarity divided by the piece's best match (at least SCALE_FLOOR)."""

    _NEW, _EMPTY, _BOUNDARY = -3, -1, -2
    _MARK = "\x01"  # separates readers in the joined interests of a batch

    def __init__(self, edition: EditionVectors):
        self.edition = edition
        self.reset()

    def reset(self) -> None:
        self.index: dict[str, int] = {"": self._EMPTY, self._MARK: self._BOUNDARY}
        self.texts: list[str] = []
        self.characters = 0
        self.raw = np.zeros((0, self.edition.n))
        self.scaled = np.zeros((0, self.edition.n))
        self.scaled_powered = np.zeros((0, self.edition.n))
        self.best_col = np.zeros(0, dtype=np.int64)  # each piece's best paper (first of equals)

    @property
    def size(self) -> int:
        return len(self.texts)

    def full(self) -> bool:
        """Bounds the memory the cache keeps between calls (checked between batches)."""
        return self.size > _PIECE_CACHE_LIMITS[0] or self.characters > _PIECE_CACHE_LIMITS[1]

    def _add(self, pieces: list[str], *, phrases: bool) -> None:
        for piece in pieces:
            self.index[piece] = len(self.texts)
            self.texts.append(piece)
        self.characters += sum(map(len, pieces))
        raw = self.edition.similarity(pieces)
        best = raw.max(axis=1, keepdims=True) if raw.shape[1] else np.zeros((len(pieces), 1))
        scaled = raw / np.maximum(best, SCALE_FLOOR)
        edition = self.edition
        if phrases and edition.embed is not None and edition.paper_embeddings is not None and pieces:
            cosine = (edition.embed(pieces) @ edition.paper_embeddings.T).astype(np.float64)
            cosine[:, ~edition.has_embedding] = 0.0
            semantic = cosine / np.maximum(cosine.max(axis=1, keepdims=True), EMBEDDING_FLOOR)
            # papers without an embedding keep their tf-idf match alone
            scaled = np.where(
                edition.has_embedding, (1 - EMBEDDING_SHARE) * scaled + EMBEDDING_SHARE * semantic, scaled
            )
            # A semantic match counts as a match: its cosine, shifted so EMBEDDING_MATCH lands on
            # the tf-idf threshold (min_relevance's default).
            raw = np.maximum(raw, cosine - (EMBEDDING_MATCH - 0.05))
        self.raw = np.concatenate([self.raw, raw])
        self.scaled = np.concatenate([self.scaled, scaled])
        self.scaled_powered = np.concatenate([self.scaled_powered, scaled**PHRASE_NORM])
        best_col = raw.argmax(axis=1) if raw.shape[1] else np.zeros(len(pieces), dtype=np.int64)
        self.best_col = np.concatenate([self.best_col, best_col])

    def lookup(self, pieces: list[str], *, phrases: bool = False) -> np.ndarray:
        """Row of each piece (any text; liked texts are used verbatim). ``phrases``: these are
        interest phrases (with embeddings on, they are also compared by meaning)."""
        get = self.index.get
        codes = np.fromiter(map(get, pieces, repeat(self._NEW)), dtype=np.int64, count=len(pieces))
        missing = np.flatnonzero(codes == self._NEW)
        if missing.size:
            self._add(list(dict.fromkeys(pieces[i] for i in missing)), phrases=phrases)
            codes[missing] = [self.index[pieces[i]] for i in missing]
        return codes

    def phrase_pairs(self, interests: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(reader row, piece row) for every interest phrase of a batch of readers, found with
        one join/split over the whole batch instead of a split per reader. Phrases are cached as
        written (the analyzer lower-cases them)."""
        mark = self._MARK
        joined = f",{mark},".join(interests)
        if joined.count(mark) != len(interests) - 1:  # a reader's text contains the mark itself
            joined = f",{mark},".join(text.replace(mark, " ") for text in interests)
        if ";" in joined:
            joined = joined.replace(";", ",")
        if "\n" in joined:
            joined = joined.replace("\n", ",")
        codes = self.lookup(list(map(str.strip, joined.split(","))), phrases=True)
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
