"""Rank an edition's papers for every subscriber at once: pure computation, no database.

The caller (``newsletter.planning``) loads the edition's papers and a batch of readers into the
plain, frozen objects below and gets back, per reader id, the paper ids to send, best first.

Scoring, for reader r and paper p of the edition (all terms vectorized over readers x papers)::

    score(r, p) = popularity          * pop(p)
                + relevance           * cos(r, p)
                + author_boost        * [p has an author r follows]
                - dislike_penalty     * max over d in (r.disliked & edition) of cos(d, p)

- ``pop(p) = log1p(upvotes) / log1p(max upvotes in the edition)``, in [0, 1]. The log keeps one
  viral paper (2,000 upvotes) from squashing everything else to ~0; a linear scale would make the
  popularity term useless for the rest of the edition. Negative upvotes count as 0; an edition
  where nobody upvoted has pop = 0 everywhere.
- ``cos`` is tf-idf cosine similarity. A ``TfidfVectorizer`` (English stop words, sublinear tf,
  unigrams + bigrams, min_df=1) is fitted on the edition's ``title + abstract`` texts; a reader's
  profile is their interests plus the texts of the papers they liked (``liked_texts``, plus the
  edition's own text of any liked paper that is in this edition), projected onto that vocabulary.
  The profile is vectorized piece by piece - each comma/semicolon/newline separated interest
  phrase and each liked text is a piece - and the pieces' term counts are summed before the
  sublinear tf, idf and L2 norm are applied. That equals vectorizing ``profile_text(...)`` except
  that no bigram spans two pieces ("diffusion, rlhf" does not make the bigram "diffusion rlhf"),
  and it lets the same phrase, shared by thousands of readers, be tokenized once.
- Disliked papers of this edition are never chosen, and the papers most similar to them are
  pushed down by ``dislike_penalty * cosine``. Disliked papers outside the edition only matter
  through their ids (their texts are not passed in).

Selection per reader:

1. Allowed papers: if ``reader.categories`` is non-empty, only papers sharing at least one
   category (case-sensitive arXiv names); papers by a followed author (case-insensitive name,
   whitespace-normalized) are allowed regardless of categories. Papers in ``sent`` or
   ``disliked`` are never allowed, whatever else holds.
2. Skip rule: a reader with ``skip_if_no_match`` who *expressed interests* - non-empty interests,
   a liked text, or a followed author - gets ``[]`` (no email) unless at least one allowed paper
   matches: raw relevance ``cos >= min_relevance``, or written by a followed author. Pinned papers
   do not count as a match. A reader who expressed nothing (categories alone are a filter, not an
   interest) is never skipped by this rule: they get the most popular allowed papers. Without
   ``skip_if_no_match`` a reader gets their top papers even if none matched.
3. Order: allowed pinned papers first, in the order of ``papers``; then the rest by score, ties
   broken by more upvotes, then by the order of ``papers``. Cut to ``reader.count`` (clamped to
   1..MAX_COUNT). Fewer allowed papers than ``count`` means a shorter list; none means ``[]``.

Scale: readers are processed in batches of ``batch_size``; per batch everything is a handful of
sparse/dense numpy operations on (batch x papers) arrays. The only Python loop is one linear pass
over the readers to collect index lists (phrases, categories, authors, sent/disliked ids that are
in the edition). The edition's fitted model and the phrase cache are memoized across calls with
the same papers, since the planner calls ``score_papers`` once per batch of readers.
"""

from __future__ import annotations

import gc
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

__all__ = [
    "MAX_COUNT",
    "PaperInfo",
    "ReaderInfo",
    "Weights",
    "profile_text",
    "score_papers",
]

MAX_COUNT = 50  # papers per digest, upper bound (the lower bound is 1)
_VECTORIZER_OPTIONS = {"stop_words": "english", "ngram_range": (1, 2), "lowercase": True}
_PHRASE_CACHE_LIMIT = 500_000  # distinct interest phrases kept per edition between calls
_DENSE_LIMIT = 4_000_000  # vocabulary x papers cells kept dense (32 MB)
_EDITION_CACHE_SIZE = 2  # the daily and the weekly edition being planned


@dataclass(frozen=True, slots=True)
class PaperInfo:
    id: int
    text: str  # title + " " + abstract (plain text)
    upvotes: int
    categories: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    id: int
    interests: str = ""  # free text, e.g. "diffusion, RLHF, protein folding"
    categories: tuple[str, ...] = ()  # if non-empty: only papers sharing at least one category
    followed_authors: tuple[str, ...] = ()  # papers by these authors always qualify and get a boost
    count: int = 10  # papers per digest, 1..50
    skip_if_no_match: bool = False  # True: no relevant paper -> empty list (skip the email)
    sent: frozenset[int] = frozenset()  # paper ids already sent to this reader: never again
    liked: frozenset[int] = frozenset()  # "more like this" paper ids (may be outside this edition)
    disliked: frozenset[int] = frozenset()
    liked_texts: tuple[str, ...] = ()  # texts of liked papers (title+abstract), enrich the profile


@dataclass(frozen=True, slots=True)
class Weights:
    popularity: float = 0.4
    relevance: float = 0.6
    author_boost: float = 0.5
    dislike_penalty: float = 0.5
    min_relevance: float = 0.05  # below this a paper does not count as "matching" for skip_if_no_match


def split_interests(interests: str) -> list[str]:
    """The interest phrases of a free-text field: split on commas, semicolons and newlines,
    stripped and lower-cased, empty ones dropped."""
    if not interests:
        return []
    text = interests.replace(";", ",").replace("\n", ",").lower()
    return [phrase for phrase in (part.strip() for part in text.split(",")) if phrase]


def profile_text(interests: str, liked_texts: Iterable[str]) -> str:
    """A reader's profile as one text (interest phrases and liked texts, one per line): what the
    ranking compares with the papers. Handy for debugging and for explaining a ranking."""
    return "\n".join([*split_interests(interests), *(text for text in liked_texts if text)])


def _author_key(name: str) -> str:
    return " ".join(name.split()).casefold()


class _Edition:
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
        self.text_of = {paper.id: paper.text for paper in self.papers}

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
        self.author_index: dict[str, int] = {}
        for paper in self.papers:
            for name in paper.authors:
                self.author_index.setdefault(_author_key(name), len(self.author_index))
        self.paper_authors = self._paper_incidence(
            [[self.author_index[_author_key(a)] for a in paper.authors] for paper in self.papers],
            len(self.author_index),
        )

        tfidf = TfidfVectorizer(sublinear_tf=True, min_df=1, **_VECTORIZER_OPTIONS)
        try:
            matrix = tfidf.fit_transform([paper.text or "" for paper in self.papers]).tocsr()
        except ValueError:  # no paper, or only stop words: relevance is 0 for everybody
            self.counter = None
            self.idf = np.zeros(0)
            self.paper_vectors_t = sp.csc_matrix((0, n))
            self.similarity = np.zeros((n, n))
        else:
            self.counter = CountVectorizer(vocabulary=tfidf.vocabulary_, **_VECTORIZER_OPTIONS)
            self.idf = tfidf.idf_.astype(np.float64)
            # vocabulary x papers; dense while small (a sparse x dense product is the fastest here)
            transposed = matrix.T.tocsr()
            small = transposed.shape[0] * n <= _DENSE_LIMIT
            self.paper_vectors_t = transposed.toarray() if small else transposed
            self.similarity = (matrix @ matrix.T).toarray()  # paper x paper cosine
        self.vocabulary_size = len(self.idf)
        self.phrases = _PieceCache(self)
        self.lock = threading.Lock()

    @staticmethod
    def _paper_incidence(rows: list[list[int]], width: int) -> np.ndarray:
        """(width x papers) 0/1 float matrix from each paper's list of indices."""
        matrix = np.zeros((width, len(rows)), dtype=np.float32)
        for col, indices in enumerate(rows):
            matrix[indices, col] = 1.0
        return matrix

    def term_counts(self, pieces: list[str]) -> sp.csr_matrix:
        if self.counter is None or not pieces:
            return sp.csr_matrix((len(pieces), self.vocabulary_size))
        return self.counter.transform(pieces).astype(np.float64).tocsr()


class _PieceCache:
    """Profile pieces (interest phrases, liked texts) -> row of their term counts, grown lazily:
    a phrase shared by many readers is tokenized once per edition."""

    _NEW, _EMPTY, _BOUNDARY = -3, -1, -2
    _MARK = "\x01"  # separates readers in the joined interests of a batch

    def __init__(self, edition: _Edition):
        self.edition = edition
        self.reset()

    def reset(self) -> None:
        self.index: dict[str, int] = {"": self._EMPTY, self._MARK: self._BOUNDARY}
        self.size = 0
        self.matrix = sp.csr_matrix((0, self.edition.vocabulary_size))

    def _add(self, pieces: list[str]) -> None:
        for piece in pieces:
            self.index[piece] = self.size
            self.size += 1
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
        one join/split over the whole batch instead of a split per reader."""
        mark = self._MARK
        joined = mark.join(interests)
        if joined.count(mark) != len(interests) - 1:  # a reader's text contains the mark itself
            joined = mark.join(text.replace(mark, " ") for text in interests)
        joined = joined.lower().replace(";", ",").replace("\n", ",").replace(mark, "," + mark + ",")
        codes = self.lookup(list(map(str.strip, joined.split(","))))
        rows = np.cumsum(codes == self._BOUNDARY)
        keep = codes >= 0
        return rows[keep], codes[keep]


_editions: OrderedDict[tuple[PaperInfo, ...], _Edition] = OrderedDict()
_editions_lock = threading.Lock()


def _edition_for(papers: Sequence[PaperInfo]) -> _Edition:
    key = tuple(papers)
    with _editions_lock:
        edition = _editions.get(key)
        if edition is not None:
            _editions.move_to_end(key)
            return edition
    edition = _Edition(key)
    with _editions_lock:
        _editions[key] = edition
        while len(_editions) > _EDITION_CACHE_SIZE:
            _editions.popitem(last=False)
    return edition


def score_papers(
    papers: Sequence[PaperInfo],
    readers: Sequence[ReaderInfo],
    *,
    weights: Weights = Weights(),
    batch_size: int = 20_000,
) -> dict[int, list[int]]:
    """reader id -> chosen paper ids in order (best first); [] means skip this reader's email."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if not papers:
        return {reader.id: [] for reader in readers}
    edition = _edition_for(papers)
    result: dict[int, list[int]] = {}
    # The cyclic garbage collector would walk every live object (the callers' million readers) again
    # and again while we allocate the result lists; nothing here makes reference cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with edition.lock:  # the phrase cache is shared between calls
            if edition.phrases.size > _PHRASE_CACHE_LIMIT:
                edition.phrases.reset()
            for start in range(0, len(readers), batch_size):
                _score_batch(edition, readers[start : start + batch_size], weights, result)
    finally:
        if collecting:
            gc.enable()
    return result


def _score_batch(edition: _Edition, batch: Sequence[ReaderInfo], weights: Weights, result: dict) -> None:
    n, b = edition.n, len(batch)
    # Column-wise reads of the reader fields, then flattened index lists: C-level loops (map,
    # chain, fromiter) wherever possible, and no Python work per (reader, paper) pair.
    reader_ids = [reader.id for reader in batch]
    counts = np.clip(np.array([reader.count for reader in batch], dtype=np.int64), 1, MAX_COUNT)
    skip_flag = np.array([reader.skip_if_no_match for reader in batch], dtype=bool)

    piece_rows, piece_cols = edition.phrases.phrase_pairs([reader.interests or "" for reader in batch])
    liked_rows, liked_pieces = _liked_pieces(edition, batch)
    if liked_pieces:
        piece_rows = np.concatenate([piece_rows, liked_rows])
        piece_cols = np.concatenate([piece_cols, edition.phrases.lookup(liked_pieces)])
    profiled = np.bincount(piece_rows, minlength=b) > 0

    followed_lists = [reader.followed_authors for reader in batch]
    profiled |= np.fromiter(map(bool, followed_lists), dtype=bool, count=b)
    author_index = edition.author_index
    author_rows, author_cols = _flat_lookup(followed_lists, author_index, _author_key)
    category_lists = [reader.categories for reader in batch]
    filtered = np.fromiter(map(bool, category_lists), dtype=bool, count=b)
    category_index = edition.category_index
    cat_rows, cat_cols = _flat_lookup(category_lists, category_index)
    intersect = edition.id_set.intersection  # iterates the smaller of the two sets
    sent_rows, sent_cols = _flat_lookup(list(map(intersect, [reader.sent for reader in batch])), edition.col_of)
    disliked = list(map(intersect, [reader.disliked for reader in batch]))
    dislike_rows, dislike_cols = _flat_lookup(disliked, edition.col_of)

    # Relevance: tf-idf cosine between each reader's profile and each paper.
    relevance = np.zeros((b, n))
    if piece_cols.size and edition.vocabulary_size:
        pieces = _incidence(piece_rows, piece_cols, (b, edition.phrases.size), np.float64)
        terms = pieces @ edition.phrases.matrix  # readers x vocabulary, summed term counts
        np.log(terms.data, out=terms.data)
        terms.data += 1.0  # sublinear tf: 1 + log(count)
        terms.data *= edition.idf[terms.indices]
        normalize(terms, copy=False)
        relevance = terms @ edition.paper_vectors_t
        if sp.issparse(relevance):
            relevance = relevance.toarray()

    allowed = np.ones((b, n), dtype=bool)
    if filtered.any():
        shares = _incidence(cat_rows, cat_cols, (b, len(category_index)), np.float32) @ edition.paper_categories
        allowed[filtered] = shares[filtered] > 0
    followed = None
    if author_cols.size:
        followed = (
            _incidence(author_rows, author_cols, (b, len(author_index)), np.float32) @ edition.paper_authors
        ) > 0
        allowed |= followed
    allowed[sent_rows, sent_cols] = False
    allowed[dislike_rows, dislike_cols] = False

    score = weights.relevance * relevance
    score += weights.popularity * edition.popularity
    if followed is not None:
        score += weights.author_boost * followed
    if dislike_cols.size:
        closeness = np.zeros((b, n))
        np.maximum.at(closeness, dislike_rows, edition.similarity[dislike_cols])
        score -= weights.dislike_penalty * closeness
    if edition.pinned_cols.size:
        ceiling = np.abs(score).max(initial=0.0) + 1.0  # above every score in this batch
        score[:, edition.pinned_cols] = ceiling + edition.pinned_rank
    score[~allowed] = -np.inf

    matched = ((relevance >= weights.min_relevance) & allowed).any(axis=1)
    if followed is not None:
        matched |= (followed & allowed).any(axis=1)
    lengths = np.minimum(counts, allowed.sum(axis=1))
    lengths[skip_flag & profiled & ~matched] = 0
    _emit(edition, reader_ids, score, lengths, result)


def _emit(edition: _Edition, reader_ids: list[int], score: np.ndarray, lengths: np.ndarray, result: dict) -> None:
    """result[reader id] = the first ``length`` columns of the reader's ranking, as paper ids."""
    k = int(lengths.max(initial=0))
    if k == 0:
        for rid in reader_ids:
            result[rid] = []
        return
    chosen = edition.ids_obj[top_k_columns(score, k)].tolist()
    for rid, ids, length in zip(reader_ids, chosen, lengths.tolist(), strict=True):
        result[rid] = ids if length == k else ids[:length]


def _flat_lookup(values: list, index: dict, key=None) -> tuple[np.ndarray, np.ndarray]:
    """(row, index[item]) for every item of every row's collection that is in ``index``."""
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    total = int(lengths.sum())
    if not total:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    items = chain.from_iterable(values)
    if key is not None:
        items = map(key, items)
    cols = np.fromiter(map(index.get, items, repeat(-1)), dtype=np.int64, count=total)
    rows = np.repeat(np.arange(len(values), dtype=np.int64), lengths)
    keep = cols >= 0
    return rows[keep], cols[keep]


def _liked_pieces(edition: _Edition, batch: Sequence[ReaderInfo]) -> tuple[np.ndarray, list[str]]:
    """(row, text) of every liked text: those passed in, plus this edition's own text of a liked
    paper that is in the edition, unless already passed in."""
    liked_texts = [reader.liked_texts for reader in batch]
    rows, texts = _flat_lookup_texts(liked_texts)
    in_edition = list(map(edition.id_set.intersection, [reader.liked for reader in batch]))
    extra_rows: list[int] = []
    for row in [row for row, ids in enumerate(in_edition) if ids]:
        known = set(liked_texts[row])
        extra = [edition.text_of[pid] for pid in sorted(in_edition[row])]
        extra = [text for text in extra if text and text not in known]
        texts += extra
        extra_rows += [row] * len(extra)
    if extra_rows:
        rows = np.concatenate([rows, np.asarray(extra_rows, dtype=np.int64)])
    return rows, texts


def _flat_lookup_texts(values: list[tuple[str, ...]]) -> tuple[np.ndarray, list[str]]:
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    rows = np.repeat(np.arange(len(values), dtype=np.int64), lengths)
    texts = list(chain.from_iterable(values))
    if "" in texts:
        keep = [bool(text) for text in texts]
        rows = rows[np.array(keep, dtype=bool)]
        texts = [text for text in texts if text]
    return rows, texts


def _incidence(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], dtype) -> sp.csr_matrix:
    """Sparse (readers x things) matrix with a 1 per (row, col) pair; repeated pairs add up."""
    data = np.ones(len(cols), dtype=dtype)
    return sp.csr_matrix((data, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))), shape=shape)


def top_k_columns(score: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the ``k`` highest scores, best first; equal scores keep column
    order (a stable sort). Uses argpartition when k is small against the width, re-sorting fully
    the rare rows whose k-th score ties with a column left out."""
    n = score.shape[1]
    k = min(k, n)
    if 4 * k >= n:
        return np.argsort(-score, axis=1, kind="stable")[:, :k]
    part = np.argpartition(-score, k - 1, axis=1)[:, :k]
    part.sort(axis=1)  # column order, so the stable sort below breaks ties by column
    values = np.take_along_axis(score, part, axis=1)
    order = np.take_along_axis(part, np.argsort(-values, axis=1, kind="stable"), axis=1)
    kth = values.min(axis=1, keepdims=True)
    ambiguous = ((score == kth).sum(axis=1) > (values == kth).sum(axis=1)) & np.isfinite(kth[:, 0])
    if ambiguous.any():
        order[ambiguous] = np.argsort(-score[ambiguous], axis=1, kind="stable")[:, :k]
    return order
