"""Search over the listed papers' titles, abstracts, authors and keywords.

On PostgreSQL: full-text search. Each paper keeps a ``search_vector`` (title weighted A, authors
and keywords B, abstract C, AI summary D) that ``index_papers`` computes in one UPDATE, with a GIN
index on it (migration 0005); a query is read with ``websearch_to_tsquery`` (``"exact phrase"``,
``or``, ``-word``), which accepts any text without a syntax error, and results are ordered by
``ts_rank``, then upvotes. ``highlighted`` marks the matched words with PostgreSQL's ``ts_headline``.

On SQLite (the embedded default of ``make run``): every word (or quoted phrase) must occur in one
of the same fields, ``-word`` excludes, results are ordered by upvotes; highlighting is done here.

The vectors are kept current by ingest (``papers.ingest_write``) and by saves of a paper or an
author (``papers.apps``); ``manage.py index_search`` recomputes them all.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from papers.models import DailyEntry, Paper, PaperAuthor

CONFIG = "english"  # stemming: "diffusion models" finds "diffusion model"
QUERY_MAX_CHARS = 200
SEARCHED_FIELDS = frozenset({"title", "abstract", "ai_summary", "ai_keywords"})  # besides the authors

# ``index_papers``' statement: weights A-D as the module docstring says. Keywords are a JSON list
# from the source; anything else there (an object, a string) is left out rather than failing.
_INDEX_SQL = """
UPDATE papers_paper AS paper SET search_vector =
       setweight(to_tsvector(%(config)s, paper.title), 'A')
    || setweight(to_tsvector(%(config)s, coalesce((
           SELECT string_agg(author.name, ' ')
           FROM papers_paperauthor AS link JOIN papers_author AS author ON author.id = link.author_id
           WHERE link.paper_id = paper.id), '')), 'B')
    || setweight(to_tsvector(%(config)s, CASE WHEN jsonb_typeof(paper.ai_keywords) = 'array' THEN coalesce((
           SELECT string_agg(keyword, ' ') FROM jsonb_array_elements_text(paper.ai_keywords) AS keyword), '')
           ELSE '' END), 'B')
    || setweight(to_tsvector(%(config)s, paper.abstract), 'C')
    || setweight(to_tsvector(%(config)s, paper.ai_summary), 'D')
"""


def full_text() -> bool:
    return connection.vendor == "postgresql"


def index_papers(paper_ids: Iterable[int]) -> None:
    """Recompute the search vectors of these papers (after their text or authors changed)."""
    ids = list(paper_ids)
    if ids and full_text():
        with connection.cursor() as cursor:
            cursor.execute(_INDEX_SQL + " WHERE paper.id = ANY(%(ids)s)", {"config": CONFIG, "ids": ids})


def index_all() -> int:
    """Recompute every paper's search vector; returns how many papers there are."""
    if not full_text():
        return Paper.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(_INDEX_SQL, {"config": CONFIG})
        return int(cursor.rowcount)


def _listed_between(since: dt.date | None, until: dt.date | None) -> Exists:
    entries = DailyEntry.objects.approved().filter(paper=OuterRef("pk"))
    if since:
        entries = entries.filter(day__gte=since)
    if until:
        entries = entries.filter(day__lte=until)
    return Exists(entries)


def search_papers(query: str, *, since: dt.date | None = None, until: dt.date | None = None) -> QuerySet[Paper]:
    """The listed papers matching ``query`` (listed between ``since`` and ``until`` when given),
    the best match first."""
    papers = Paper.objects.defer("embedding", "search_vector").filter(
        _listed_between(since, until), arxiv_id__isnull=False
    )
    if full_text():
        terms = SearchQuery(query, search_type="websearch", config=CONFIG)
        ranked = papers.filter(search_vector=terms).annotate(rank=SearchRank(F("search_vector"), terms))
        return ranked.order_by("-rank", "-upvotes", "-pk")
    return _substring_search(papers, query).order_by("-upvotes", "-pk")


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
