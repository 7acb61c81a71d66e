"""Rank an edition's papers for every subscriber at once: pure computation, no database.

The caller (``newsletter.planning``) loads the edition's papers and a batch of readers into the
plain, frozen objects below and gets back, per reader id, the paper ids to send, best first.

Scoring, for reader r and paper p of the edition (all terms vectorized over readers x papers)::

    score(r, p) = popularity          * pop(p)
                + relevance           * cos(r, p) / max(max_q cos(r, q), 0.25)
                + author_boost        * [p has an author r follows]
                - dislike_penalty     * max over d in (r.disliked & edition) of cos(d, p)

- ``pop(p) = log1p(upvotes) / log1p(max upvotes in the edition)``, in [0, 1]. The log keeps one
  viral paper (2,000 upvotes) from squashing everything else to ~0; a linear scale would make the
  popularity term useless for the rest of the edition. Negative upvotes count as 0; an edition
  where nobody upvoted has pop = 0 everywhere.
- Relevance is scaled per reader: their best-matching paper scores 1 (when its cosine is at
  least ``RELEVANCE_SCALE_FLOOR``; weaker matches are not inflated). Raw cosines of short
  interests stay below ~0.5, so unscaled, a viral paper would outrank a reader's clear match.
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
   category (case-sensitive arXiv names; the planner maps aliases to one name) and papers of
   unknown category (no categories at all: Hugging Face lists papers without them), which stay
   eligible and are ranked like any other; papers by a followed author (case-insensitive name,
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

Scale: readers are processed in batches of ``batch_size``; per batch the work is a few sparse and
dense numpy/scipy operations on (batch x papers) arrays and one stable argsort. Reading the readers
is column-wise (one comprehension per field) and flattened into index arrays with C-level loops
(``map``, ``chain``, ``np.fromiter``); nothing in Python runs per (reader, paper) pair. Interest
phrases are split for a whole batch with one join/split and looked up in a cache, so a phrase
shared by many readers is tokenized once; new phrases and liked texts are tokenized together in
one pass. The fitted edition and that cache are kept for the next call with the same papers
(``clear_cache()`` forgets them), since the planner ranks an edition's readers batch by batch.
The cyclic garbage collector is paused during a call. Measured by hand (1,000,000 readers x 60
papers, one core): about 8-10 s, and about 250 MB on top of the inputs, most of it the result.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from itertools import chain, repeat

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from newsletter.edition_vectors import EditionVectors, author_key, clear_cache, edition_vectors, incidence

RELEVANCE_SCALE_FLOOR = 0.25

__all__ = [
    "MAX_COUNT",
    "PaperInfo",
    "ReaderInfo",
    "Weights",
    "clear_cache",
    "profile_text",
    "score_papers",
    "split_interests",
]

MAX_COUNT = 50  # papers per digest, upper bound (the lower bound is 1)
_FLATTEN_LIMIT = 64  # id sets up to this size are matched against the edition as arrays


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
    categories: tuple[str, ...] = ()  # if non-empty: only papers sharing one of them (or of unknown category)
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
    dislike_penalty: float = 1.0
    min_relevance: float = 0.05  # below this a paper does not count as "matching" for skip_if_no_match


def split_interests(interests: str) -> list[str]:
    """The interest phrases of a free-text field: split on commas, semicolons and newlines,
    stripped, empty ones dropped."""
    if not interests:
        return []
    text = interests.replace(";", ",").replace("\n", ",")
    return [phrase for phrase in (part.strip() for part in text.split(",")) if phrase]


def profile_text(interests: str, liked_texts: Iterable[str]) -> str:
    """A reader's profile as one text (interest phrases and liked texts, one per line): what the
    ranking compares with the papers. Handy for debugging and for explaining a ranking."""
    return "\n".join([*split_interests(interests), *(text for text in liked_texts if text)])


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
    if not all(math.isfinite(value) for value in astuple(weights)):
        raise ValueError(f"weights must be finite numbers: {weights}")
    if not papers:
        return {reader.id: [] for reader in readers}
    edition = edition_vectors(tuple(papers))
    result: dict[int, list[int]] = {}
    # The cyclic garbage collector would walk every live object (the callers' million readers) again
    # and again while we allocate the result lists; nothing here makes reference cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with edition.lock:  # the phrase cache is shared between calls
            for start in range(0, len(readers), batch_size):
                if edition.phrases.full():
                    edition.phrases.reset()
                prepared = _prepare(edition, readers[start : start + batch_size])
                _emit(edition, prepared.reader_ids, *_rank(edition, prepared, weights), result)
    finally:
        if collecting:
            gc.enable()
    return result


@dataclass(slots=True)
class _Prepared:
    """One batch of readers as index arrays (row = the reader's position in the batch)."""

    reader_ids: list[int]
    counts: np.ndarray
    skip_flag: np.ndarray
    profiled: np.ndarray  # expressed interests: phrases, liked texts or followed authors
    filtered: np.ndarray  # has a category filter
    pieces: sp.csr_matrix  # readers x profile pieces (counts)
    piece_terms: sp.csr_matrix  # profile pieces x vocabulary (counts), as of this batch
    # (rows, columns) pairs: followed authors and categories (columns of the edition's indexes),
    # and papers of the edition that were already sent or are disliked (paper columns).
    authors: tuple[np.ndarray, np.ndarray]
    categories: tuple[np.ndarray, np.ndarray]
    sent: tuple[np.ndarray, np.ndarray]
    disliked: tuple[np.ndarray, np.ndarray]


def _prepare(edition: EditionVectors, batch: Sequence[ReaderInfo]) -> _Prepared:
    """Read a batch of readers: column-wise reads of their fields, then flattened index arrays,
    with C-level loops (map, chain, fromiter) wherever possible; nothing per (reader, paper)."""
    b = len(batch)
    piece_rows, piece_cols = edition.phrases.phrase_pairs([reader.interests or "" for reader in batch])
    liked_rows, liked_pieces = _liked_pieces(edition, batch)
    if liked_pieces:
        liked_cols = edition.phrases.lookup(liked_pieces)
        known = liked_cols >= 0  # a liked text that is just the batch separator means nothing
        piece_rows = np.concatenate([piece_rows, liked_rows[known]])
        piece_cols = np.concatenate([piece_cols, liked_cols[known]])
    followed_lists = [reader.followed_authors for reader in batch]
    category_lists = [reader.categories for reader in batch]
    profiled = np.bincount(piece_rows, minlength=b) > 0
    profiled |= np.fromiter(map(bool, followed_lists), dtype=bool, count=b)
    return _Prepared(
        reader_ids=[reader.id for reader in batch],
        counts=np.clip(np.array([reader.count for reader in batch], dtype=np.int64), 1, MAX_COUNT),
        skip_flag=np.array([reader.skip_if_no_match for reader in batch], dtype=bool),
        profiled=profiled,
        filtered=np.fromiter(map(bool, category_lists), dtype=bool, count=b),
        pieces=incidence(piece_rows, piece_cols, (b, edition.phrases.size), np.float64),
        piece_terms=edition.phrases.matrix,
        authors=_flat_lookup(followed_lists, edition.author_index, author_key),
        categories=_flat_lookup(category_lists, edition.category_index),
        sent=_in_edition(edition, [reader.sent for reader in batch]),
        disliked=_in_edition(edition, [reader.disliked for reader in batch]),
    )


def _rank(edition: EditionVectors, batch: _Prepared, weights: Weights) -> tuple[np.ndarray, np.ndarray]:
    """The numeric part: (top columns per reader, best first; how many of them to send)."""
    n, b = edition.n, len(batch.reader_ids)
    relevance = _relevance(edition, batch)

    allowed = np.ones((b, n), dtype=bool)
    if batch.filtered.any():
        categories = incidence(*batch.categories, (b, len(edition.category_index)), np.float32)
        shares = categories @ edition.paper_categories
        allowed[batch.filtered] = (shares[batch.filtered] > 0) | edition.uncategorized
    followed = None
    if batch.authors[1].size:
        authors = incidence(*batch.authors, (b, len(edition.author_index)), np.float32)
        followed = (authors @ edition.paper_authors) > 0
        allowed |= followed
    allowed[batch.sent] = False
    allowed[batch.disliked] = False

    # Scores are shifted to be positive (the shift only depends on the weights, so a reader's
    # ranking does not depend on the batch it is in), pinned papers get scores above any other.
    shift = 1.0 + sum(abs(value) for value in astuple(weights)[:4])
    # Each reader's relevance is scaled so that a good match scores 1: raw tf-idf cosines of short
    # interests top out near 0.5, which would let any viral paper beat the reader's best match.
    # Weak matches are not inflated (the divisor is at least RELEVANCE_SCALE_FLOOR).
    divisor = np.maximum(relevance.max(axis=1, keepdims=True), RELEVANCE_SCALE_FLOOR)
    score = (weights.relevance / divisor) * relevance
    score += weights.popularity * edition.popularity + shift
    if followed is not None:
        np.add(score, weights.author_boost, out=score, where=followed)
    dislike_rows, dislike_cols = batch.disliked
    if dislike_cols.size:  # per reader: the closest disliked paper of this edition
        rows, position = np.unique(dislike_rows, return_inverse=True)
        closeness = np.zeros((len(rows), n))
        np.maximum.at(closeness, position, edition.similarity[dislike_cols])
        score[rows] -= weights.dislike_penalty * closeness
    if edition.pinned_cols.size:
        score[:, edition.pinned_cols] = 2.0 * shift + edition.pinned_rank

    matched = ((relevance >= weights.min_relevance) & allowed).any(axis=1)
    if followed is not None:
        matched |= (followed & allowed).any(axis=1)
    lengths = np.minimum(batch.counts, np.count_nonzero(allowed, axis=1))
    lengths[batch.skip_flag & batch.profiled & ~matched] = 0
    k = int(lengths.max(initial=0))
    top = _top_columns(score, allowed, k) if k else np.zeros((b, 0), dtype=np.int64)
    return top, lengths


def _relevance(edition: EditionVectors, batch: _Prepared) -> np.ndarray:
    """(readers x papers) tf-idf cosine between each reader's profile and each paper."""
    if not (batch.pieces.nnz and edition.vocabulary_size):
        return np.zeros((len(batch.reader_ids), edition.n))
    terms = batch.pieces @ batch.piece_terms  # readers x vocabulary, summed term counts
    _sublinear_tfidf(terms, edition.idf)
    normalize(terms, copy=False)
    relevance = terms @ edition.paper_vectors_t
    dense: np.ndarray = relevance.toarray() if isinstance(relevance, sp.csr_matrix) else np.asarray(relevance)
    return dense


def _sublinear_tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> None:
    """In place: count -> idf * (1 + log(count)), the vectorizer's sublinear tf-idf weight."""
    np.log(counts.data, out=counts.data)
    counts.data += 1.0
    counts.data *= idf[counts.indices]


def _top_columns(score: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Per row, the ``k`` allowed columns with the highest scores, best first, equal scores in
    column order; rows with fewer allowed columns end in disallowed ones. Overwrites ``score``."""
    np.negative(score, out=score)  # ascending -score is best first (the score is not needed after this)
    score[~allowed] = np.inf
    return np.argsort(score, axis=1, kind="stable")[:, :k]


def _emit(
    edition: EditionVectors, reader_ids: list[int], top: np.ndarray, lengths: np.ndarray, result: dict[int, list[int]]
) -> None:
    """result[reader id] = the reader's first ``length`` columns, as paper ids. Readers are grouped
    by length, so each list is made by numpy's ``tolist`` at its final size."""
    result.update({reader: [] for reader in reader_ids})  # keeps the readers' order; every one is set below
    if not top.shape[1]:
        result.update(zip(reader_ids, ([] for _ in reader_ids), strict=True))
        return
    reader_objects = np.empty(len(reader_ids), dtype=object)
    reader_objects[:] = reader_ids
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        chosen = edition.ids_obj[top[rows, :length]].tolist()
        result.update(zip(reader_objects[rows].tolist(), chosen, strict=True))


def _flat_lookup(
    values: list[tuple[str, ...]], index: dict[str, int], key: Callable[[str], str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(row, index[item]) for every item of every row's collection that is in ``index``."""
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    total = int(lengths.sum())
    if not total:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    items: Iterator[str] = chain.from_iterable(values)
    if key is not None:
        items = map(key, items)
    cols = np.fromiter(map(index.get, items, repeat(-1)), dtype=np.int64, count=total)
    rows = np.repeat(np.arange(len(values), dtype=np.int64), lengths)
    keep = cols >= 0
    return rows[keep], cols[keep]


def _in_edition(edition: EditionVectors, id_sets: list[frozenset[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every paper id of every row's set that is in the edition. Small sets are
    flattened into one array and matched with a binary search; big ones (a long history) use set
    operations, which iterate the smaller side, so they cost no more than the edition's size."""
    lengths = np.fromiter(map(len, id_sets), dtype=np.int64, count=len(id_sets))
    big = lengths > _FLATTEN_LIMIT
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    if big.any():
        big_rows = np.flatnonzero(big)
        small_rows = np.flatnonzero(~big)
        small_sets = [id_sets[row] for row in small_rows.tolist()]
        big_sets = [id_sets[row] for row in big_rows.tolist()]
        overlapping = ~np.fromiter(map(edition.id_set.isdisjoint, big_sets), dtype=bool, count=len(big_sets))
        hits = list(map(edition.id_set.intersection, [big_sets[i] for i in np.flatnonzero(overlapping).tolist()]))
        hit_lengths = np.fromiter(map(len, hits), dtype=np.int64, count=len(hits))
        ids = np.fromiter(chain.from_iterable(hits), dtype=np.int64, count=int(hit_lengths.sum()))
        rows_out.append(np.repeat(big_rows[overlapping], hit_lengths))
        cols_out.append(edition.sorted_cols[np.searchsorted(edition.sorted_ids, ids)])
    else:
        small_rows, small_sets = None, id_sets
    small_lengths = lengths if small_rows is None else lengths[small_rows]
    total = int(small_lengths.sum())
    if total:
        ids = np.fromiter(chain.from_iterable(small_sets), dtype=np.int64, count=total)
        position = np.minimum(np.searchsorted(edition.sorted_ids, ids), edition.n - 1)
        found = edition.sorted_ids[position] == ids
        rows = np.repeat(np.arange(len(id_sets)) if small_rows is None else small_rows, small_lengths)
        rows_out.append(rows[found])
        cols_out.append(edition.sorted_cols[position[found]])
    if not rows_out:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _liked_pieces(edition: EditionVectors, batch: Sequence[ReaderInfo]) -> tuple[np.ndarray, list[str]]:
    """(row, text) of every liked text: those passed in, plus this edition's own text of a liked
    paper that is in the edition, unless already passed in."""
    liked_texts = [reader.liked_texts for reader in batch]
    rows, texts = _flat_lookup_texts(liked_texts)
    liked_rows, liked_cols = _in_edition(edition, [reader.liked for reader in batch])
    if liked_rows.size:
        extra_rows: list[int] = []
        order = np.lexsort((liked_cols, liked_rows))  # deterministic: by reader, then column
        for row, col in zip(liked_rows[order].tolist(), liked_cols[order].tolist(), strict=True):
            text = edition.papers[col].text
            if text and text not in liked_texts[row]:
                texts.append(text)
                extra_rows.append(row)
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
