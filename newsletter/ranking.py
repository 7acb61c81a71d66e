"""Rank an edition's papers for every subscriber at once: pure computation, no database.

The caller (``newsletter.planning``) loads the edition's papers and a batch of readers into the
plain, frozen objects below and gets back, per reader id, the paper ids to send, best first
(``score_papers``), or those with the reasons for each (``rank_readers``).

Text: papers and profiles go through one analyzer (``edition_vectors.Analyzer``): lower-case
words of 2+ characters, English stop words dropped, Snowball stems ("robotics" = "robot"),
unigrams + bigrams (so a multi-word interest also matches as a phrase). Term weights are
sublinear tf x smooth idf fitted on the edition's texts, with a short list of words every abstract
uses ("model", "learning", "language", ...) weighed down to GENERIC_WEIGHT.

A reader's profile is made of *pieces*: each interest phrase (comma, semicolon or newline
separated), the text of each liked paper, the text of each disliked paper. Each piece is compared
with every paper of the edition on its own (cosine), and that row is divided by the piece's best
match in the edition (but by no less than SCALE_FLOOR): every interest's best paper scores 1, so
"medicine, clinical question answering, healthcare" gets a paper for each interest instead of
three about question answering. A piece shared by many readers is analysed once per edition.

Semantic similarity (optional, ``RANKING_EMBEDDINGS``): when the papers carry an ``embedding`` and
an ``embed`` function is passed, each interest phrase is also embedded (once per edition) and its
scaled match becomes ``0.5 * scaled tf-idf + 0.5 * scaled embedding cosine`` (EMBEDDING_SHARE), so
"finance" also finds "financial markets"; an embedding cosine of at least EMBEDDING_MATCH counts
as a match. Papers without an embedding keep their tf-idf match.

For reader r and paper p (all terms vectorized over readers x papers)::

    interest(r, p) = min((sum over r's phrases of scaled(phrase, p) ** 4) ** (1/4), 2)
                     (the best match, plus a little for each further phrase it matches)
                   + 1 if p is the best allowed paper of one of r's phrases (the fair share)
    liked(r, p)    = min(max over r's liked papers of cos(liked, p) / SIMILAR_PAPER, 1)    (Rocchio's beta)
    disliked(r, p) = min(max over r's disliked papers of cos(disliked, p) / SIMILAR_PAPER, 1) (gamma)

    score(r, p) = relevance    * (interest + liked_weight * liked)
                + popularity   * pop(p)
                + author_boost * [p has an author r follows]
                - dislike_penalty * disliked

- ``pop(p) = log1p(upvotes) / log1p(max upvotes in the edition)``, in [0, 1]. The log keeps one
  viral paper (2,000 upvotes) from squashing everything else to ~0; negative upvotes count as 0.
- Followed authors match by ``author_key``: case, spacing and accents (also TeX ones, as arXiv
  writes them: ``J{\\"o}rg``) do not matter.
- Liked and disliked papers count whether or not they are in this edition (their texts are passed
  in ``liked_texts``/``disliked_texts``; a voted paper of the edition adds its own text).

Selection per reader:

1. Allowed papers: if ``reader.categories`` is non-empty, only papers sharing at least one
   category (case-sensitive arXiv names; the planner maps aliases to one name) and papers of
   unknown category (no categories at all: Hugging Face lists papers without them); papers by a
   followed author are allowed regardless of categories. Never allowed, whatever else holds:
   papers in ``sent``, ``liked`` (read already: voted on or picked on the site) or ``disliked``,
   and papers containing a ``muted`` phrase (all its words, in
   order, as stems: muting "LLM agents" hides "LLM agent ..." but not every paper saying "agents").
2. Skip rule: a reader with ``skip_if_no_match`` who *expressed interests* - non-empty interests,
   a liked text, or a followed author - gets ``[]`` (no email) unless at least one allowed paper
   matches: a raw cosine ``>= min_relevance`` with one of their phrases or liked papers, or a
   followed author. Pinned papers do not count as a match. A reader who expressed nothing
   (categories alone are a filter, not an interest) is never skipped: they get the most popular
   allowed papers. Without ``skip_if_no_match`` a reader whose interests matched nothing gets
   the top papers anyway, and ``Pick.unmatched`` says so (the digest says it honestly).
3. Order: allowed pinned papers first, in the order of ``papers``; then the rest by score, ties
   broken by more upvotes, then by the order of ``papers``. Cut to ``reader.count`` (clamped to
   1..MAX_COUNT). Fewer allowed papers than ``count`` means a shorter list; none means ``[]``.

Reasons (``rank_readers``), per chosen paper, a tuple of codes: ``"pick"`` (pinned),
``"author:<name as on the paper>"``, ``"interest:<phrase as the reader wrote it>"`` (each phrase
matching the paper at least REASON_SHARE as well as its best paper, with a raw cosine of at least
min_relevance), ``"liked"`` (scaled similarity to a liked paper at least REASON_SHARE), else ``"trending"``.

Scale: readers are processed in batches of ``batch_size``; per batch the work is a few numpy
operations on (profile pieces x papers) and (batch x papers) arrays and one stable argsort; nothing
in Python runs per (reader, paper) pair, except the reasons (per chosen paper, in the planner's
batches). The fitted edition and its piece cache are kept for the next call with the same papers
(``clear_cache()`` forgets them). The cyclic garbage collector is paused during a call. Measured
by ``make bench`` (ranking: 1,000,000 readers x 60 papers).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from itertools import chain, repeat

import numpy as np

from newsletter.edition_vectors import (
    PHRASE_NORM,
    EditionVectors,
    PieceCache,
    author_key,
    clear_cache,
    edition_vectors,
    incidence,
)

__all__ = [
    "MAX_COUNT",
    "PaperInfo",
    "Pick",
    "ReaderInfo",
    "Weights",
    "clear_cache",
    "paper_text",
    "profile_text",
    "rank_readers",
    "score_papers",
    "split_interests",
]

# Optional semantic similarity: texts -> (len(texts) x d) unit-length float32 rows, the same model
# the papers' ``embedding`` came from (``papers.embeddings.embed_texts``).
Embed = Callable[[list[str]], np.ndarray]
MAX_COUNT = 50  # papers per digest, upper bound (the lower bound is 1)
# Two papers this similar (tf-idf cosine) count as fully alike for "more / less like this": a
# liked paper's neighbours move up by up to the ``liked`` weight, a disliked one's move down.
SIMILAR_PAPER = 0.2
REASON_SHARE = 0.5  # a phrase "explains" a paper that matches it at least half as well as its best one
INTEREST_CAP = 2.0  # however many of a reader's phrases a paper matches, at most twice one full match
_FLATTEN_LIMIT = 64  # id sets up to this size are matched against the edition as arrays


@dataclass(frozen=True, slots=True)
class PaperInfo:
    id: int
    text: str  # what the paper is about: ``paper_text(...)`` (plain text)
    upvotes: int
    categories: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    pinned: bool = False
    embedding: bytes | None = None  # optional: unit-length float32 values (papers.embeddings)


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
    liked_texts: tuple[str, ...] = ()  # texts of liked papers: their neighbours move up
    disliked_texts: tuple[str, ...] = ()  # texts of disliked papers: their neighbours move down
    muted: tuple[str, ...] = ()  # words/phrases whose papers are never chosen


@dataclass(frozen=True, slots=True)
class Weights:
    popularity: float = 0.2
    relevance: float = 0.8
    author_boost: float = 0.5
    dislike_penalty: float = 0.6
    liked: float = 0.6  # a paper like one the reader liked, relative to an interest's best match
    min_relevance: float = 0.05  # below this a paper does not count as "matching" (skip rule, reasons)


@dataclass(frozen=True, slots=True)
class Pick:
    """One reader's digest: the paper ids, best first, a reason tuple per paper, and whether
    their interests matched nothing today (so these are simply the top papers)."""

    paper_ids: list[int]
    reasons: list[tuple[str, ...]]
    unmatched: bool = False


def split_interests(interests: str) -> list[str]:
    """The interest phrases of a free-text field: split on commas, semicolons and newlines,
    stripped, empty ones dropped."""
    if not interests:
        return []
    text = interests.replace(";", ",").replace("\n", ",")
    return [phrase for phrase in (part.strip() for part in text.split(",")) if phrase]


def profile_text(interests: str, liked_texts: Iterable[str]) -> str:
    """A reader's profile pieces as one text (interest phrases and liked texts, one per line),
    each of which the ranking compares with the papers on its own. Handy for debugging."""
    return "\n".join([*split_interests(interests), *(text for text in liked_texts if text)])


def paper_text(title: str, abstract: str, summary: str = "", keywords: Iterable[str] = ()) -> str:
    """What a paper is about, for the ranking: the title (twice: it is the densest statement of
    the topic), the abstract, and what a source adds (HF's AI summary and keywords)."""
    return "\n".join(part for part in (title, title, abstract, summary, ", ".join(keywords)) if part)


def score_papers(
    papers: Sequence[PaperInfo],
    readers: Sequence[ReaderInfo],
    *,
    weights: Weights = Weights(),
    batch_size: int = 20_000,
    embed: Embed | None = None,
) -> dict[int, list[int]]:
    """reader id -> chosen paper ids in order (best first); [] means skip this reader's email."""
    result: dict[int, list[int]] = {}
    _run(papers, readers, weights, batch_size, embed, result, None)
    return result


def rank_readers(
    papers: Sequence[PaperInfo],
    readers: Sequence[ReaderInfo],
    *,
    weights: Weights = Weights(),
    batch_size: int = 20_000,
    embed: Embed | None = None,
) -> dict[int, Pick]:
    """reader id -> their Pick (paper ids with reasons); an empty Pick means skip the email."""
    ids: dict[int, list[int]] = {}
    picks: dict[int, Pick] = {}
    _run(papers, readers, weights, batch_size, embed, ids, picks)
    return picks


def _run(
    papers: Sequence[PaperInfo],
    readers: Sequence[ReaderInfo],
    weights: Weights,
    batch_size: int,
    embed: Embed | None,
    result: dict[int, list[int]],
    picks: dict[int, Pick] | None,
) -> None:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if not all(math.isfinite(value) for value in astuple(weights)):
        raise ValueError(f"weights must be finite numbers: {weights}")
    if not papers:
        result.update({reader.id: [] for reader in readers})
        if picks is not None:
            picks.update({reader.id: Pick([], []) for reader in readers})
        return
    edition = edition_vectors(tuple(papers))
    # The cyclic garbage collector would walk every live object (the callers' million readers) again
    # and again while we allocate the result lists; nothing here makes reference cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with edition.lock:  # the piece cache is shared between calls
            if embed is not edition.embed:  # cached pieces were compared with or without meaning
                edition.embed = embed
                edition.phrases.reset()
            for start in range(0, len(readers), batch_size):
                if edition.phrases.full():
                    edition.phrases.reset()
                batch = readers[start : start + batch_size]
                prepared = _prepare(edition, batch)
                ranked = _rank(edition, prepared, weights)
                _emit(edition, prepared.reader_ids, ranked.top, ranked.lengths, result)
                if picks is not None:
                    picks.update(_explain(edition, batch, prepared, ranked, result, weights))
    finally:
        if collecting:
            gc.enable()


@dataclass(slots=True)
class _Pieces:
    """(reader row, piece row) pairs of one kind of profile piece, sorted by reader: the readers
    who have any (``readers``), and for each pair the reader's position in ``readers`` and the
    pair's position among that reader's pieces (``slot``)."""

    rows: np.ndarray
    cols: np.ndarray
    readers: np.ndarray
    owner: np.ndarray
    slot: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray, cols: np.ndarray) -> _Pieces:
        order = np.argsort(rows, kind="stable")
        rows, cols = rows[order], cols[order]
        readers, starts, owner = np.unique(rows, return_index=True, return_inverse=True)
        slot = np.arange(len(rows)) - starts[owner]
        return cls(rows, cols, readers, owner, slot)

    def reduce(self, table: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
        """(readers with pieces x papers): ``ufunc`` over each reader's rows of ``table``, one
        slot at a time (most readers have a few pieces; ``ufunc.reduceat`` on rows is slower)."""
        first = self.slot == 0
        result: np.ndarray = table[self.cols[first]]
        for slot in range(1, int(self.slot.max(initial=0)) + 1):
            pairs = self.slot == slot
            owners = self.owner[pairs]
            result[owners] = ufunc(result[owners], table[self.cols[pairs]])
        return result


@dataclass(slots=True)
class _Prepared:
    """One batch of readers as index arrays (row = the reader's position in the batch)."""

    reader_ids: list[int]
    counts: np.ndarray
    skip_flag: np.ndarray
    profiled: np.ndarray  # expressed interests: phrases, liked texts or followed authors
    filtered: np.ndarray  # has a category filter
    interests: _Pieces
    liked: _Pieces
    disliked: _Pieces
    # (rows, columns) pairs: followed authors and categories (columns of the edition's indexes),
    # and papers of the edition that were already sent or are disliked (paper columns).
    authors: tuple[np.ndarray, np.ndarray]
    categories: tuple[np.ndarray, np.ndarray]
    sent: tuple[np.ndarray, np.ndarray]
    disliked_cols: tuple[np.ndarray, np.ndarray]
    liked_cols: tuple[np.ndarray, np.ndarray]
    muted: list[tuple[int, str]]


def _prepare(edition: EditionVectors, batch: Sequence[ReaderInfo]) -> _Prepared:
    """Read a batch of readers: column-wise reads of their fields, then flattened index arrays,
    with C-level loops (map, chain, fromiter) wherever possible; nothing per (reader, paper)."""
    b = len(batch)
    cache = edition.phrases
    interests = _Pieces.of(*cache.phrase_pairs([reader.interests or "" for reader in batch]))
    liked_in = _in_edition(edition, [reader.liked for reader in batch])
    disliked_in = _in_edition(edition, [reader.disliked for reader in batch])
    liked = _Pieces.of(*_text_pieces(edition, [reader.liked_texts for reader in batch], liked_in))
    disliked = _Pieces.of(*_text_pieces(edition, [reader.disliked_texts for reader in batch], disliked_in))
    followed_lists = [reader.followed_authors for reader in batch]
    category_lists = [reader.categories for reader in batch]
    profiled = np.zeros(b, dtype=bool)
    profiled[interests.readers] = True
    profiled[liked.readers] = True
    profiled |= np.fromiter(map(bool, followed_lists), dtype=bool, count=b)
    muted = [(row, phrase) for row, reader in enumerate(batch) if reader.muted for phrase in reader.muted]
    return _Prepared(
        reader_ids=[reader.id for reader in batch],
        counts=np.clip(np.array([reader.count for reader in batch], dtype=np.int64), 1, MAX_COUNT),
        skip_flag=np.array([reader.skip_if_no_match for reader in batch], dtype=bool),
        profiled=profiled,
        filtered=np.fromiter(map(bool, category_lists), dtype=bool, count=b),
        interests=interests,
        liked=liked,
        disliked=disliked,
        authors=_flat_lookup(followed_lists, edition.author_index, author_key),
        categories=_flat_lookup(category_lists, edition.category_index),
        sent=_in_edition(edition, [reader.sent for reader in batch]),
        disliked_cols=disliked_in,
        liked_cols=liked_in,
        muted=muted,
    )


@dataclass(slots=True)
class _Ranked:
    top: np.ndarray  # (batch x k) columns, best first
    lengths: np.ndarray  # how many of them each reader gets
    matched: np.ndarray  # the reader's interests matched an allowed paper
    followed: np.ndarray | None  # (batch x papers) has a followed author
    liked: np.ndarray | None  # (readers with liked pieces x papers) scaled similarity


def _rank(edition: EditionVectors, batch: _Prepared, weights: Weights) -> _Ranked:
    """The numeric part: top columns per reader (best first) and how many of them to send."""
    n, b = edition.n, len(batch.reader_ids)
    cache = edition.phrases

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
    allowed[batch.disliked_cols] = False
    allowed[batch.liked_cols] = False  # liked: the reader has read it (picked it on the site, or voted)
    for row, phrase in batch.muted:
        allowed[row] &= ~edition.muted_papers(phrase)

    # Scores are shifted to be positive (the shift only depends on the weights, so a reader's
    # ranking does not depend on the batch it is in), pinned papers get scores above any other.
    w = weights
    ceiling = abs(w.relevance) * (1 + INTEREST_CAP + abs(w.liked)) + abs(w.popularity) + abs(w.author_boost)
    shift = 1.0 + ceiling + abs(w.dislike_penalty)
    score = np.full((b, n), shift)
    score += weights.popularity * edition.popularity
    matched = np.zeros(b, dtype=bool)
    penalty = None  # how much each paper is like one the reader disliked
    if batch.disliked.rows.size:
        disliked = np.minimum(batch.disliked.reduce(cache.raw, np.maximum) / SIMILAR_PAPER, 1.0)
        penalty = np.zeros((b, n))
        penalty[batch.disliked.readers] = weights.dislike_penalty * disliked
        score -= penalty
    if batch.interests.rows.size:
        _interests(score, allowed, penalty, matched, batch.interests, cache, weights)
    liked = None
    if batch.liked.rows.size:
        raw = batch.liked.reduce(cache.raw, np.maximum)
        liked = np.minimum(raw / SIMILAR_PAPER, 1.0)
        score[batch.liked.readers] += weights.relevance * weights.liked * liked
        matched[batch.liked.readers] |= ((raw >= weights.min_relevance) & allowed[batch.liked.readers]).any(1)
    if followed is not None:
        np.add(score, weights.author_boost, out=score, where=followed)
        matched |= (followed & allowed).any(axis=1)
    if edition.pinned_cols.size:
        score[:, edition.pinned_cols] = 2.0 * shift + edition.pinned_rank

    lengths = np.minimum(batch.counts, np.count_nonzero(allowed, axis=1))
    lengths[batch.skip_flag & batch.profiled & ~matched] = 0
    k = int(lengths.max(initial=0))
    top = _top_columns(score, allowed, k) if k else np.zeros((b, 0), dtype=np.int64)
    return _Ranked(top, lengths, matched, followed, liked)


def _interests(
    score: np.ndarray,
    allowed: np.ndarray,
    penalty: np.ndarray | None,
    matched: np.ndarray,
    pieces: _Pieces,
    cache: PieceCache,
    weights: Weights,
) -> None:
    """Add the interest term to ``score`` and mark the readers whose interests match an allowed
    paper, in place. A paper scores the p-norm of its scaled matches with the reader's phrases:
    its best match, a little more for each further phrase it also matches (1 and 1 make 1.26 at
    p = 3; 1 and 0.5 make 1.04). Each phrase's best allowed paper (a paper like a disliked one
    counts less) also gets one more full match on top, if the phrase matches it at all: a digest
    covers every interest of the reader before a second paper for any one."""
    owners = incidence(pieces.owner, pieces.cols, (len(pieces.readers), cache.size), np.float64)
    powered = owners @ cache.scaled_powered  # sum over each reader's phrases of scaled ** p
    norm = np.sqrt(np.sqrt(powered)) if PHRASE_NORM == 4 else np.power(powered, 1.0 / PHRASE_NORM)
    score[pieces.readers] += weights.relevance * np.minimum(norm, INTEREST_CAP)
    # Each phrase's best paper of the edition, where the reader may have it (most readers), else
    # the best of those they may have, with the penalty: gathered only for those phrases.
    top = cache.best_col[pieces.cols]
    fine = allowed[pieces.rows, top]
    if penalty is not None:
        penalized = np.any(penalty, axis=1)
        fine &= ~penalized[pieces.rows]
    real = fine & (cache.raw[pieces.cols, top] >= weights.min_relevance)
    matched[pieces.rows[real]] = True
    rest = np.flatnonzero(~fine)
    if rest.size:
        rows, cols = pieces.rows[rest], pieces.cols[rest]
        fit = np.where(allowed[rows], cache.scaled[cols], -np.inf)
        pairs = np.arange(len(rest))
        # scaled is the raw cosine over a per-phrase constant: the best scaled allowed paper is the best raw one
        best = fit.argmax(axis=1)
        found = np.isfinite(fit[pairs, best]) & (cache.raw[cols, best] >= weights.min_relevance)
        matched[rows[found]] = True
        if penalty is not None:
            fit -= penalty[rows] / max(weights.relevance, 1e-9)
            best = fit.argmax(axis=1)
            found = np.isfinite(fit[pairs, best]) & (cache.raw[cols, best] >= weights.min_relevance)
        top[rest], real[rest] = best, found
    rows, cols = pieces.rows[real], top[real]
    # one bonus per (reader, paper), however many phrases share that best paper
    unique = np.unique(rows * score.shape[1] + cols)
    score[unique // score.shape[1], unique % score.shape[1]] += weights.relevance


_TRENDING: tuple[str, ...] = ("trending",)


def _explain(
    edition: EditionVectors,
    batch: Sequence[ReaderInfo],
    prepared: _Prepared,
    ranked: _Ranked,
    ids: dict[int, list[int]],
    weights: Weights,
) -> dict[int, Pick]:
    """Each reader's Pick: per chosen paper, why (see the module docstring)."""
    codes: dict[int, dict[int, list[str]]] = {}  # reader row -> rank -> codes
    if ranked.top.shape[1]:
        for row, rank, code in chain(
            _pick_reasons(edition, ranked),
            _author_reasons(edition, batch, ranked),
            _interest_reasons(edition, prepared, ranked, weights),
            _liked_reasons(prepared, ranked),
        ):
            codes.setdefault(row, {}).setdefault(rank, []).append(code)
    unmatched = (prepared.profiled & ~ranked.matched & (ranked.lengths > 0)).tolist()
    picks: dict[int, Pick] = {}
    for row, reader_id in enumerate(prepared.reader_ids):
        chosen = ids[reader_id]
        mine = codes.get(row)
        if mine is None:  # most readers of a big list: nothing personal matched
            reasons = [_TRENDING] * len(chosen)
        else:
            reasons = [tuple(mine[rank]) if rank in mine else _TRENDING for rank in range(len(chosen))]
        picks[reader_id] = Pick(chosen, reasons, unmatched[row])
    return picks


_Reason = tuple[int, int, str]  # (reader row, rank in the digest, code)


def _pick_reasons(edition: EditionVectors, ranked: _Ranked) -> Iterator[_Reason]:
    if edition.pinned_cols.size:
        pinned = np.zeros(edition.n, dtype=bool)
        pinned[edition.pinned_cols] = True
        for row, rank in zip(*np.nonzero(pinned[ranked.top]), strict=True):
            yield int(row), int(rank), "pick"


def _author_reasons(edition: EditionVectors, batch: Sequence[ReaderInfo], ranked: _Ranked) -> Iterator[_Reason]:
    if ranked.followed is None:
        return
    for row, rank in zip(*np.nonzero(np.take_along_axis(ranked.followed, ranked.top, axis=1)), strict=True):
        keys = {author_key(name) for name in batch[row].followed_authors}
        for name in edition.papers[ranked.top[row, rank]].authors:
            if author_key(name) in keys:
                yield int(row), int(rank), f"author:{name}"


def _interest_reasons(
    edition: EditionVectors, prepared: _Prepared, ranked: _Ranked, weights: Weights
) -> Iterator[_Reason]:
    pieces = prepared.interests
    if not pieces.rows.size:
        return
    chosen = ranked.top[pieces.rows]  # (pairs x k)
    scaled = np.take_along_axis(edition.phrases.scaled[pieces.cols], chosen, axis=1)
    raw = np.take_along_axis(edition.phrases.raw[pieces.cols], chosen, axis=1)
    texts = edition.phrases.texts
    seen: set[tuple[int, int, str]] = set()  # a phrase written twice is one reason
    share = REASON_SHARE * edition.phrases.scaled[pieces.cols].max(axis=1, keepdims=True)  # of the phrase's best
    for pair, rank in zip(*np.nonzero((scaled >= share) & (raw >= weights.min_relevance)), strict=True):
        reason = (int(pieces.rows[pair]), int(rank), f"interest:{texts[pieces.cols[pair]]}")
        if reason not in seen:
            seen.add(reason)
            yield reason


def _liked_reasons(prepared: _Prepared, ranked: _Ranked) -> Iterator[_Reason]:
    if ranked.liked is None:
        return
    similar = np.take_along_axis(ranked.liked, ranked.top[prepared.liked.readers], axis=1) >= REASON_SHARE
    for position, rank in zip(*np.nonzero(similar), strict=True):
        yield int(prepared.liked.readers[position]), int(rank), "liked"


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


def _text_pieces(
    edition: EditionVectors, text_lists: list[tuple[str, ...]], in_edition: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(reader row, piece row) of every voted paper's text: those passed in, plus this edition's
    own text of a voted paper that is in the edition, unless already passed in."""
    rows, texts = _flat_lookup_texts(text_lists)
    voted_rows, voted_cols = in_edition
    if voted_rows.size:
        extra_rows: list[int] = []
        order = np.lexsort((voted_cols, voted_rows))  # deterministic: by reader, then column
        for row, col in zip(voted_rows[order].tolist(), voted_cols[order].tolist(), strict=True):
            text = edition.papers[col].text
            if text and text not in text_lists[row]:
                texts.append(text)
                extra_rows.append(row)
        rows = np.concatenate([rows, np.asarray(extra_rows, dtype=np.int64)])
    if not texts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    cols = edition.phrases.lookup(texts)
    known = cols >= 0  # a text that is just the batch separator means nothing
    return rows[known], cols[known]


def _flat_lookup_texts(values: list[tuple[str, ...]]) -> tuple[np.ndarray, list[str]]:
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    rows = np.repeat(np.arange(len(values), dtype=np.int64), lengths)
    texts = list(chain.from_iterable(values))
    if "" in texts:
        keep = [bool(text) for text in texts]
        rows = rows[np.array(keep, dtype=bool)]
        texts = [text for text in texts if text]
    return rows, texts
