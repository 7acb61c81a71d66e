"""Search over the listed papers' titles, abstracts, authors and keywords.

On PostgreSQL: full-text search. Each paper has a row in ``PaperSearch``, a narrow table of its own
(migrations 0006, 0007): its vector (title weighted A, authors and keywords B, abstract C, AI summary
D), its head (the title, authors and keywords part alone), its upvotes, with a GIN index over the
vector and the upvotes, and its first and last listed days, which ``index_papers`` computes in one
INSERT ... ON CONFLICT DO UPDATE. Matching, the listed and date filters and the count read that
table only: the paper rows are ~3 KB each (abstract, summary), so scanning ~90k matches of a common
word there cost ~200 ms even without the vectors. A query is read with ``websearch_to_tsquery``
(``"exact phrase"``, ``or``, ``-word``), which accepts any text without a syntax error; results are
ordered by ``ts_rank`` of the head, then upvotes, among at most ``CAP`` matches (see there).
``highlighted`` marks the matched words with PostgreSQL's ``ts_headline``.

On SQLite (the embedded default of ``make run``): every word (or quoted phrase) must occur in one
of the same fields, ``-word`` excludes, results are ordered by upvotes; highlighting is done here.

The rows are kept current by ingest (``papers.ingest_write``), by saves of a paper, an author or an
entry (``papers.apps``) and by ``update()`` of papers and entries (admin's actions,
``papers.models``); ``manage.py index_search`` recomputes them all.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import BooleanField, Count, Exists, F, Max, Min, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from papers.models import DailyEntry, Paper, PaperAuthor, PaperSearch

CONFIG = "english"  # stemming: "diffusion models" finds "diffusion model"
QUERY_MAX_CHARS = 200
SEARCHED_FIELDS = frozenset({"title", "abstract", "ai_summary", "ai_keywords"})  # besides the authors

# At most this many matches are counted ("1,000+ papers match") and ranked: a query matching more
# ranks the CAP most upvoted of them. This bounds a common word's work ("model" matches most papers):
# counting stops at CAP + 1 rows, and ts_rank, which reads each vector (~2 KB, out of line), runs for
# CAP rows, not for every match. Below the cap, the count and the ranking are exact.
CAP = 1_000

# ``index_papers``' statement: one row of papers_papersearch per paper, inserted or replaced, with the
# vector's weights as the module docstring says, the paper's upvotes and the first and last day of its
# approved entries (none unless it has an arXiv id: only such papers have a page). Keywords are a JSON
# list from the source; anything else there (an object, a string) is left out rather than failing.
# ``OFFSET 0`` keeps PostgreSQL from inlining the head and whole vectors into every place that uses
# them: inlined, each paper's vectors were computed three times over (0.8 ms a paper; 0.5 ms without, 2026-12-07).
_INDEX_SQL = """
INSERT INTO papers_papersearch (paper_id, head, vector, pairs, upvotes, listed_first, listed_last)
SELECT paper.id, head.vector, whole.vector, pairs.vector, paper.upvotes, listed.first_day, listed.last_day
FROM papers_paper AS paper CROSS JOIN LATERAL (
    SELECT setweight(to_tsvector(%(config)s, paper.title), 'A')
        || setweight(to_tsvector(%(config)s, coalesce((
               SELECT string_agg(author.name, ' ')
               FROM papers_paperauthor AS link JOIN papers_author AS author ON author.id = link.author_id
               WHERE link.paper_id = paper.id), '')), 'B')
        || setweight(to_tsvector(%(config)s, CASE WHEN jsonb_typeof(paper.ai_keywords) = 'array' THEN coalesce((
               SELECT string_agg(keyword, ' ') FROM jsonb_array_elements_text(paper.ai_keywords) AS keyword), '')
               ELSE '' END), 'B') AS vector OFFSET 0) AS head
CROSS JOIN LATERAL (
    SELECT head.vector || setweight(to_tsvector(%(config)s, paper.abstract), 'C')
                       || setweight(to_tsvector(%(config)s, paper.ai_summary), 'D') AS vector OFFSET 0) AS whole
CROSS JOIN LATERAL (
    SELECT coalesce(array_to_tsvector(array_agg(DISTINCT first.lexeme || ' ' || second.lexeme)), ''::tsvector)
        AS vector
    FROM (SELECT lexeme, unnest(positions) AS position FROM unnest(whole.vector)) AS first
    JOIN (SELECT lexeme, unnest(positions) AS position FROM unnest(whole.vector)) AS second
        ON second.position = first.position + 1) AS pairs
CROSS JOIN LATERAL (
    SELECT min(entry.day) AS first_day, max(entry.day) AS last_day FROM papers_dailyentry AS entry
    WHERE entry.paper_id = paper.id AND entry.status = %(approved)s AND paper.arxiv_id IS NOT NULL) AS listed
{where}
ON CONFLICT (paper_id) DO UPDATE SET head = EXCLUDED.head, vector = EXCLUDED.vector, pairs = EXCLUDED.pairs,
    upvotes = EXCLUDED.upvotes, listed_first = EXCLUDED.listed_first, listed_last = EXCLUDED.listed_last
"""

# ``refresh_listing``'s: the same listing columns, the vector left as it is.
_REFRESH_SQL = """
UPDATE papers_papersearch AS search SET upvotes = paper.upvotes, listed_first = listed.first_day,
    listed_last = listed.last_day
FROM papers_paper AS paper CROSS JOIN LATERAL (
    SELECT min(entry.day) AS first_day, max(entry.day) AS last_day FROM papers_dailyentry AS entry
    WHERE entry.paper_id = paper.id AND entry.status = %(approved)s AND paper.arxiv_id IS NOT NULL) AS listed
WHERE search.paper_id = paper.id AND paper.id = ANY(%(ids)s)
"""


def full_text() -> bool:
    return connection.vendor == "postgresql"


def _params(**more: Any) -> dict[str, Any]:
    return {"config": CONFIG, "approved": DailyEntry.Status.APPROVED.value, **more}


def index_papers(paper_ids: Iterable[int]) -> None:
    """Recompute the search rows of these papers (after their text or authors changed)."""
    ids = list(paper_ids)
    if ids and full_text():
        with connection.cursor() as cursor:
            cursor.execute(_INDEX_SQL.format(where="WHERE paper.id = ANY(%(ids)s)"), _params(ids=ids))


def index_all() -> int:
    """Recompute every paper's search row; returns how many papers there are."""
    if not full_text():
        return Paper.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(_INDEX_SQL.format(where=""), _params())
        return int(cursor.rowcount)


def refresh_listing(paper_ids: Iterable[int]) -> None:
    """Bring these papers' upvotes and listed days in the search table up to date (after an entry was
    approved, hidden or added, or the upvotes changed), without recomputing their vectors."""
    ids = list(paper_ids)
    if ids and full_text():
        with connection.cursor() as cursor:
            cursor.execute(_REFRESH_SQL, _params(ids=ids))


def _listed_between(since: dt.date | None, until: dt.date | None) -> Q:
    """Search rows of papers listed (with an approved entry) between ``since`` and ``until``. The first
    and last listed days decide it but for a paper listed before and after the range, whose entries
    are looked at."""
    if since and until:
        entries = DailyEntry.objects.approved().filter(paper=OuterRef("paper_id"), day__range=(since, until))
        spanning = Q(listed_first__lt=since, listed_last__gt=until) & Q(Exists(entries))
        return Q(listed_first__range=(since, until)) | Q(listed_last__range=(since, until)) | spanning
    if since:
        return Q(listed_last__gte=since)
    if until:
        return Q(listed_first__lte=until)
    return Q(listed_last__isnull=False)


def _listed_between_entries(since: dt.date | None, until: dt.date | None) -> Exists:
    """The same filter on papers, from their entries (the SQLite fallback, which has no search table)."""
    entries = DailyEntry.objects.approved().filter(paper=OuterRef("pk"))
    if since:
        entries = entries.filter(day__gte=since)
    if until:
        entries = entries.filter(day__lte=until)
    return Exists(entries)


class SearchResults:
    """Search's results, best match first, as ``Paginator`` and DRF's pagination take them: ``count()``
    (at most ``CAP`` on PostgreSQL; ``capped``: more match), and slices, whose papers are read then.

    On PostgreSQL the ranked order is known up front (at most CAP paper ids, from the narrow search
    table), so a page reads the wide paper rows of its own 20 papers only."""

    def __init__(self, *, ranked: list[int] | None = None, matched: int = 0, papers: QuerySet[Paper] | None = None):
        self._ranked, self._matched, self._papers = ranked, matched, papers

    def count(self) -> int:
        if self._ranked is None:
            return self._queryset().count()
        return len(self._ranked)

    def __len__(self) -> int:
        return self.count()

    @property
    def capped(self) -> bool:
        """Whether more than CAP papers match (``count()`` then says CAP)."""
        return self._matched > len(self._ranked or ())

    def _queryset(self) -> QuerySet[Paper]:
        assert self._papers is not None
        return self._papers

    @overload
    def __getitem__(self, index: int) -> Paper: ...
    @overload
    def __getitem__(self, index: slice) -> list[Paper]: ...
    def __getitem__(self, index: int | slice) -> Paper | list[Paper]:
        if isinstance(index, int):
            return self[index : index + 1 or None][0]
        if self._ranked is None:
            return list(self._queryset()[index])
        ids = self._ranked[index]
        by_pk = Paper.objects.defer("embedding").in_bulk(ids)
        return [by_pk[pk] for pk in ids if pk in by_pk]

    def __iter__(self) -> Iterator[Paper]:
        return iter(self[:])


def search_papers(query: str, *, since: dt.date | None = None, until: dt.date | None = None) -> SearchResults:
    """The listed papers matching ``query`` (listed between ``since`` and ``until`` when given),
    the best match first; on PostgreSQL, of more than CAP matches only the CAP most upvoted."""
    if full_text():
        terms = SearchQuery(query, search_type="websearch", config=CONFIG)
        matches = PaperSearch.objects.filter(_listed_between(since, until), vector=terms)
        with transaction.atomic(), connection.cursor() as cursor:
            # The planner costs a match (@@) as cheap, but each one it checks on a row reads that row's
            # vector (out of line, ~2 KB): it would rather scan the table, or take the rows with enough
            # upvotes and check each. The GIN index over the vector and the upvotes answers both
            # conditions without reading a vector (but to check a phrase), so its bitmap is the way:
            # no sequential or plain index scans here. Nor JIT: the same mis-costing makes these
            # queries look expensive enough to compile (~10 ms).
            # Nor parallel workers: starting them costs more than these short queries take. A phrase's
            # rows are sorted with their vectors (those short enough to be in the row): in memory, not in
            # a temporary file. All for this transaction only, in the round trip that reads the query.
            cursor.execute(
                "SELECT websearch_to_tsquery(%s, %s)::text, set_config('enable_seqscan', 'off', true),"
                " set_config('enable_indexscan', 'off', true), set_config('jit', 'off', true),"
                " set_config('max_parallel_workers_per_gather', '0', true), set_config('work_mem', '32MB', true)",
                [CONFIG, query],
            )
            parsed: str = cursor.fetchone()[0]
            listed = PaperSearch.objects.filter(_listed_between(since, until))
            top, counted = _top_by_upvotes(listed, matches, query, parsed)
            matched, candidates = _candidates(top, _upvotes_at_rank(since, until), counted)
            # Ranked by the title, authors and keywords (``head``: in the row), then the upvotes: a
            # match in the abstract alone counts as the least, whatever its frequency there, which
            # spares reading the CAP whole vectors (out of line) on every search.
            # One array parameter rather than pk__in's CAP placeholders: 3 ms instead of 10 here.
            among = RawSQL('"papers_papersearch"."paper_id" = ANY(%s)', [candidates], BooleanField())
            ranked = (
                PaperSearch.objects.filter(among)
                .annotate(rank=SearchRank(F("head"), terms))
                .order_by("-rank", "-upvotes", "-paper_id")
                .values_list("paper_id", flat=True)
            )
            return SearchResults(ranked=list(ranked), matched=matched)
    papers = Paper.objects.defer("embedding").filter(_listed_between_entries(since, until), arxiv_id__isnull=False)
    return SearchResults(papers=_substring_search(papers, query).order_by("-upvotes", "-pk"))


# How many of the most upvoted rows ``_candidates`` reads first: FIRST_BAND x CAP (of those listed in
# the date range).
FIRST_BAND = 4


# The upvotes distribution that ``_upvotes_at_rank`` reads, kept for a while per process: stale
# thresholds change how much work a search does, never its answer (``_candidates`` says why).
_DISTRIBUTION_SECONDS = 300.0
_QUANTILES = 200
_distribution: tuple[float, dict[str, Any]] | None = None


def _upvotes_distribution() -> dict[str, Any]:
    """How many search rows there are, their first and last listed days, and the upvotes at each
    1/_QUANTILES of them, the most upvoted first (two scans of the narrow table, once per
    _DISTRIBUTION_SECONDS)."""
    global _distribution
    now = time.monotonic()
    if _distribution is not None and now - _distribution[0] < _DISTRIBUTION_SECONDS:
        return _distribution[1]
    rows = PaperSearch.objects.aggregate(total=Count("pk"), first=Min("listed_first"), last=Max("listed_last"))
    fractions = [i / _QUANTILES for i in range(1, _QUANTILES + 1)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY upvotes DESC) FROM papers_papersearch",
            [fractions],
        )
        rows["quantiles"] = cursor.fetchone()[0] or []
    _distribution = (now, rows)
    return rows


def _upvotes_at_rank(since: dt.date | None, until: dt.date | None) -> Callable[[float], int | None]:
    """A function of ``rank``: about the upvotes of the rank-th most upvoted paper (listed between
    ``since`` and ``until``), rounded towards fewer upvotes; None past the last paper. From
    ``_upvotes_distribution``; a date range's papers are estimated from its share of all the listed
    days: the answer changes how much work finding the most upvoted matches takes, not which they are."""
    stats = _upvotes_distribution()
    if not stats["total"] or stats["first"] is None:
        return lambda rank: None
    share = 1.0
    if since or until:
        start, end = max(since or stats["first"], stats["first"]), min(until or stats["last"], stats["last"])
        share = max((end - start).days + 1, 1) / ((stats["last"] - stats["first"]).days + 1)
    quantiles: list[int] = stats["quantiles"]
    total: int = stats["total"]

    def upvotes(rank: float) -> int | None:
        among_all = rank / share  # the rank among all the rows
        if among_all >= total:
            return None
        return quantiles[min(math.ceil(among_all / total * _QUANTILES), _QUANTILES) - 1]

    return upvotes


_PHRASE = re.compile(r"<(?:\d+|-)>")
# Two lexemes side by side in websearch_to_tsquery's text ('larg' <-> 'languag' <-> 'model': two
# pairs, overlapping), and a query that is exactly one such pair.
_LEXEME = r"'(?:[^']|'')+'"
_PAIR = re.compile(r"'((?:[^']|'')+)' <-> (?='((?:[^']|'')+)')")
_ONE_PAIR = re.compile(rf"{_LEXEME} <-> {_LEXEME}")


def _top_by_upvotes(
    listed: QuerySet[PaperSearch], matches: QuerySet[PaperSearch], query: str, parsed: str
) -> tuple[Callable[[int | None, int | None, int], list[int]], QuerySet[PaperSearch] | None]:
    """A function of ``least``, ``below`` and ``limit``: up to ``limit`` of ``matches`` with at least
    ``least`` upvotes and fewer than ``below`` (None: no bound), the most upvoted first; and the
    matches to count in no order when few of the most upvoted match (None: not worth it, below).
    ``parsed`` is ``query`` as websearch_to_tsquery's text reads it.

    Words left out (``code -model``) need no vector either: the GIN index reads the left-out word's
    rows too and answers the whole query itself.

    A phrase (``"language models"``) is checked on each row's vector, which the GIN index only
    narrows down to the rows with all its words: checked in the bitmap, every such row's vector
    would be read. So the rows with all the words (the phrase relaxed to an AND, which the index
    answers alone) and with each pair of its adjacent words side by side (``pairs``: the index
    again) are read in upvote order, and the phrase checked on them until ``limit`` have it. A
    query that is one phrase of two words is answered by its pair alone: nothing left to check.
    Not for a negated phrase (``-"a b"``), whose relaxed form would leave out some matches; nor
    pairs for a query with ``or``, where one pair alone is not needed for a match."""

    def band(rows: QuerySet[PaperSearch], least: int | None, below: int | None) -> QuerySet[PaperSearch]:
        rows = rows if least is None else rows.filter(upvotes__gte=least)
        return rows if below is None else rows.filter(upvotes__lt=below)

    def ordered(least: int | None, below: int | None, limit: int) -> list[int]:
        rows = band(matches, least, below).order_by("-upvotes", "-paper_id")
        return list(rows.values_list("paper_id", flat=True)[:limit])

    if not _PHRASE.search(parsed) or "!" in parsed:
        return ordered, matches
    # The lexemes are already stemmed: 'simple' keeps them as they are.
    relaxed = listed.filter(vector=SearchQuery(_PHRASE.sub("&", parsed), search_type="raw", config="simple"))
    pairs = [f"'{first} {second}'" for first, second in _PAIR.findall(parsed)] if "|" not in parsed else []
    if pairs:
        # Cast, not to_tsquery: that would read a pair's space as two words.
        side_by_side = RawSQL('"papers_papersearch"."pairs" @@ %s::tsquery', [" & ".join(pairs)], BooleanField())
        relaxed = relaxed.filter(side_by_side)
    if _ONE_PAIR.fullmatch(parsed):
        return lambda least, below, limit: list(
            band(relaxed, least, below).order_by("-upvotes", "-paper_id").values_list("paper_id", flat=True)[:limit]
        ), None

    def top(least: int | None, below: int | None, limit: int) -> list[int]:
        rows = band(relaxed, least, below)
        sql, params = rows.order_by("-upvotes", "-paper_id").values_list("paper_id", "vector").query.sql_with_params()
        with connection.cursor() as cursor:
            # OFFSET 0 keeps the phrase check out of the subquery (where it would run on every row).
            cursor.execute(
                f"SELECT ordered.paper_id FROM ({sql} OFFSET 0) AS ordered"  # noqa: S608 (Django's own SQL)
                " WHERE ordered.vector @@ websearch_to_tsquery(%s, %s) LIMIT %s",
                [*params, CONFIG, query, limit],
            )
            return [row[0] for row in cursor.fetchall()]

    return top, None


def _candidates(
    top: Callable[[int | None, int | None, int], list[int]],
    upvotes_at_rank: Callable[[float], int | None],
    counted: QuerySet[PaperSearch] | None,
) -> tuple[int, list[int]]:
    """How many matches there are, counted up to CAP + 1, and the ids of the CAP most upvoted of
    them (all of them, if not more), without reading every match of a common word.

    The matches are read in bands of upvotes, the most upvoted band first, until more than CAP are
    found: the bands' matches in order are the most upvoted ones. The first band is the FIRST_BAND x
    CAP most upvoted rows; each next one is sized from the matches found so far, to end with CAP +
    1 of them (or is the rest). So a common word ("model": ~90% of the papers) is done by its first
    band, reading ~4 x CAP rows rather than its ~90k matches, a sparser one by its second, and each
    row is read once (for a phrase, checked on its vector: once). When the first band finds few and
    so few match at all, the matches (``counted``, when given) are counted up to CAP + 1, in no
    order, which is all of them if there are no more. Where the bands fall changes the work only,
    not the answer."""
    found: list[int] = []
    below: int | None = None
    rank = float(FIRST_BAND * CAP)
    while True:
        least = upvotes_at_rank(rank)
        if least is not None and below is not None and least >= below:
            least = None  # the distribution has no fewer upvotes to offer: the rest
        found += top(least, below, CAP + 1 - len(found))
        if len(found) > CAP or least is None:
            return len(found), found[:CAP]
        if below is None and counted is not None and len(found) * 8 < CAP:  # few of the most upvoted match
            some = list(counted.values_list("paper_id", flat=True)[: CAP + 1])
            if len(some) <= CAP:
                return len(some), some
        below = least
        # Enough rows for the matches still wanted at the density so far, with a margin; at least 3x.
        density = len(found) / rank
        rank = max(rank * 3, rank + (CAP + 1 - len(found)) / max(density, 1e-6) * 1.5)


# --- The SQLite fallback ----------------------------------------------------------------------------

_TERM = re.compile(r'(-?)"([^"]*)"|(-?)(\S+)')


def _terms(query: str) -> tuple[list[str], list[str]]:
    """``query``'s words and quoted phrases: (wanted, excluded), as websearch syntax reads them
    (``or`` is not supported here: every wanted term must match)."""
    wanted: list[str] = []
    excluded: list[str] = []
    for match in _TERM.finditer(query):
        negated = bool(match.group(1) or match.group(3))
        term = (match.group(2) if match.group(2) is not None else match.group(4)).strip()
        if not term or term.casefold() == "or" or term == "-":
            continue
        (excluded if negated else wanted).append(term)
    return wanted, excluded


def _matching(term: str) -> Q:
    authors = PaperAuthor.objects.filter(paper=OuterRef("pk"), author__name__icontains=term)
    return (
        Q(title__icontains=term)
        | Q(abstract__icontains=term)
        | Q(ai_summary__icontains=term)
        | Q(ai_keywords__icontains=term)
        | Q(Exists(authors))
    )


def searchable(query: str) -> bool:
    """Whether ``query`` has anything to search for: not only stop words ("the") or punctuation."""
    if full_text():
        with connection.cursor() as cursor:
            cursor.execute("SELECT numnode(websearch_to_tsquery(%s, %s))", [CONFIG, query])
            return bool(cursor.fetchone()[0])
    return any(_terms(query))


def _substring_search(papers: QuerySet[Paper], query: str) -> QuerySet[Paper]:
    wanted, excluded = _terms(query)
    if not wanted and not excluded:
        return papers.none()
    for term in wanted:
        papers = papers.filter(_matching(term))
    for term in excluded:
        papers = papers.exclude(_matching(term))
    return papers


# --- Highlighting -----------------------------------------------------------------------------------

SNIPPET_WORDS = 45


def highlighted(papers: Sequence[Paper], query: str) -> list[Paper]:
    """``papers`` (one page of results) with ``title_html`` and ``snippet_html``: escaped text with
    the matched words in ``<mark>``. The snippet is the abstract's best-matching passage."""
    if not papers:
        return []
    if full_text():
        return _headlines(papers, query)
    wanted, _ = _terms(query)
    for paper in papers:
        paper.title_html = _mark_terms(paper.title, wanted)  # type: ignore[attr-defined]
        paper.snippet_html = _mark_terms(_passage(paper.abstract or paper.ai_summary, wanted), wanted)  # type: ignore[attr-defined]
    return list(papers)


def _passage(text: str, terms: list[str]) -> str:
    """About SNIPPET_WORDS words of ``text`` around the first match of ``terms`` (else its start),
    with "…" where it was cut."""
    words = text.split()
    folded = [term.casefold() for term in terms]
    first = next((i for i, word in enumerate(words) if any(term in word.casefold() for term in folded)), 0)
    start = max(0, min(first - SNIPPET_WORDS // 3, len(words) - SNIPPET_WORDS))
    end = start + SNIPPET_WORDS
    return ("… " if start else "") + " ".join(words[start:end]) + (" …" if end < len(words) else "")


def _headlines(papers: Sequence[Paper], query: str) -> list[Paper]:
    # The text comes back with markers around each match, then is escaped here, and the markers
    # become <mark>. The markers are random per call, so no stored title can forge one.
    start, stop = f"⟦{secrets.token_hex(8)}", f"{secrets.token_hex(8)}⟧"
    terms = SearchQuery(query, search_type="websearch", config=CONFIG)
    options: dict[str, Any] = {"start_sel": start, "stop_sel": stop, "config": CONFIG}
    marked = Paper.objects.filter(pk__in=[paper.pk for paper in papers]).annotate(
        title_marked=SearchHeadline("title", terms, highlight_all=True, **options),
        snippet_marked=SearchHeadline(
            "abstract",
            terms,
            max_words=SNIPPET_WORDS,
            min_words=SNIPPET_WORDS // 2,
            max_fragments=2,
            fragment_delimiter=" … ",
            **options,
        ),
    )
    by_pk = {row["pk"]: row for row in marked.values("pk", "title_marked", "snippet_marked")}
    for paper in papers:
        row = by_pk.get(paper.pk, {})
        paper.title_html = _markers_to_html(row.get("title_marked") or paper.title, start, stop)  # type: ignore[attr-defined]
        snippet = _with_ellipses(row.get("snippet_marked") or "", paper.abstract, start, stop)
        paper.snippet_html = _markers_to_html(snippet or _passage(paper.ai_summary, []), start, stop)  # type: ignore[attr-defined]
    return list(papers)


def _markers_to_html(text: str, start: str, stop: str) -> SafeString:
    html = str(escape(text)).replace(escape(start), "<mark>").replace(escape(stop), "</mark>")
    return mark_safe(html)  # noqa: S308 (escaped above; only our own markers became tags)


def _with_ellipses(snippet: str, text: str, start: str, stop: str) -> str:
    """ts_headline's passage of ``text``, with "…" where it starts after the text's start or ends
    before its end (ts_headline marks neither)."""
    plain = " ".join(snippet.replace(start, "").replace(stop, "").split())
    if not plain:
        return ""
    whole = " ".join(text.split())
    head = "" if whole.startswith(plain[:40]) else "… "
    tail = "" if whole.endswith(plain[-40:]) else " …"
    return head + snippet.strip() + tail


def _mark_terms(text: str, terms: list[str]) -> SafeString:
    if not terms:
        return mark_safe(escape(text))  # noqa: S308
    pattern = re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    parts: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        parts += [escape(text[last : match.start()]), "<mark>", escape(match.group()), "</mark>"]
        last = match.end()
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))  # noqa: S308 (every piece of the text is escaped)
