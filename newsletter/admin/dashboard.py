"""The dashboard page (``/admin/dashboard/``, staff only) and each of its tables as CSV
(``/admin/dashboard/<name>.csv``). The numbers come from ``newsletter.dashboard``; every chart is
a ``Table`` whose rows feed the SVG, the on-page data table and the CSV alike."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from newsletter import dashboard
from newsletter.charts import Series, bar_chart, legend, line_chart
from subscribers.csv_io import csv_cell

PAIR = 440  # the width of a chart that shares its row with another: its labels stay legible


@dataclass
class Table:
    name: str  # the CSV's file name
    title: str
    columns: list[str]
    rows: list[list[Any]]
    chart: SafeString | None = None
    legend: SafeString | None = None
    summary: str = ""  # one sentence of what the chart shows, for the page and screen readers
    extra: dict[str, Any] = field(default_factory=dict)

    def numbers_html(self) -> SafeString:
        """The rows as an HTML table (built here: 90 rows of template tags cost ~40 ms a render)."""
        head = format_html_join("", '<th scope="col">{}</th>', ((column.capitalize(),) for column in self.columns))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html(
                        '<th scope="row">{}</th>{}',
                        row[0],
                        format_html_join("", "<td>{}</td>", ((cell,) for cell in row[1:])),
                    ),
                )
                for row in self.rows
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"  # CSV: a fraction a spreadsheet can format


def subscribers_table(end: dt.date) -> Table:
    days = dashboard.subscriber_days(end=end)
    dates = [row.day for row in days]
    subscribed = Series("Subscribed (active or paused)", [row.subscribed for row in days], "s1")
    first, last = days[0], days[-1]
    return Table(
        "subscribers",
        f"Subscribers, last {len(days)} days",
        ["day", "subscribed", "confirmed", "unsubscribed", "bounced", "complained"],
        [[r.day.isoformat(), r.subscribed, r.confirmed, r.unsubscribed, r.bounced, r.complained] for r in days],
        chart=line_chart("Subscribed readers per day", dates, [subscribed]),
        legend=legend([subscribed]),
        summary=f"{first.subscribed:,} subscribed on {first.day:%b %-d}, {last.subscribed:,} on {last.day:%b %-d}.",
        extra={
            "joined": bar_chart(
                "New confirmations per day", dates, [Series("Confirmed", [r.confirmed for r in days], "s1")], PAIR
            ),
            "left": bar_chart("Departures per day", dates, _departures(days), PAIR),
            "left_legend": legend(_departures(days)),
            "totals": {
                "confirmed": sum(r.confirmed for r in days),
                "unsubscribed": sum(r.unsubscribed for r in days),
                "bounced": sum(r.bounced for r in days),
                "complained": sum(r.complained for r in days),
            },
        },
    )


def _departures(days: list[dashboard.SubscriberDay]) -> list[Series]:
    return [
        Series("Unsubscribed", [r.unsubscribed for r in days], "s2"),
        Series("Bounced", [r.bounced for r in days], "s3"),
        Series("Complained", [r.complained for r in days], "s4"),
    ]


def editions_table(end: dt.date) -> Table:
    rows = dashboard.edition_rows()
    return Table(
        "editions",
        f"The latest {len(rows)} editions" if rows else "Editions",
        [
            "edition",
            "sent",
            "failed",
            "unknown",
            "skipped",
            "clicked",
            "click rate",
            "opened",
            "more",
            "less",
            "unsubscribed",
            "bounce rate",
            "complaint rate",
        ],
        [
            [
                str(row.edition),
                row.sent,
                row.failed,
                row.unknown,
                row.skipped,
                row.clicked,
                _percent(row.click_rate),
                row.opened,
                row.more,
                row.less,
                row.unsubscribed,
                _percent(row.bounce_rate),
                _percent(row.complaint_rate),
            ]
            for row in rows
        ],
        extra={"editions": rows},
    )


def top_table(kind: str, end: dt.date) -> Table:
    label = "clicks" if kind == "clicks" else "“more like this” votes"
    papers = dashboard.top_papers(kind, end=end)
    return Table(
        f"top-{kind}",
        f"Top papers by {label}, last {dashboard.TOP_DAYS} days",
        ["paper", "arXiv id", kind],
        [[paper.title, paper.arxiv_id or "", paper.count] for paper in papers],
        extra={"papers": papers},
    )


def ingest_table(end: dt.date) -> Table:
    sources = dashboard.ingest_health(end=end)
    return Table(
        "ingest",
        f"Ingest runs per source, last {dashboard.TOP_DAYS} days",
        ["source", "runs", "failed", "partial", "papers created", "last run"],
        [
            [s.source, s.runs, s.failed, s.partial, s.created, s.last_run.isoformat() if s.last_run else ""]
            for s in sources
        ],
        extra={"sources": sources},
    )


def papers_table(end: dt.date) -> Table:
    days = dashboard.papers_per_day(end=end)
    dates = [row.day for row in days]
    series = [
        Series("Approved", [r.approved for r in days], "s1"),
        Series("Pending or hidden", [r.listed - r.approved for r in days], "s5"),
    ]
    return Table(
        "papers",
        f"Papers per day, last {dashboard.TOP_DAYS} days",
        ["day", "listed", "approved"],
        [[r.day.isoformat(), r.listed, r.approved] for r in days],
        chart=bar_chart("Papers listed per day", dates, series),
        legend=legend(series),
        summary=f"{sum(r.listed for r in days):,} entries in {len(days)} days, "
        f"{sum(r.approved for r in days):,} approved.",
    )


TABLES: dict[str, Callable[[dt.date], Table]] = {
    "subscribers": subscribers_table,
    "editions": editions_table,
    "top-clicks": lambda end: top_table("clicks", end),
    "top-more": lambda end: top_table("more", end),
    "ingest": ingest_table,
    "papers": papers_table,
}


def dashboard_view(request: HttpRequest) -> TemplateResponse:
    end = dashboard.today()
    tables = {name: build(end) for name, build in TABLES.items()}
    signups = dashboard.signups(end=end)
    for name, table in tables.items():
        table.extra["csv_url"] = reverse("admin:dashboard_csv", args=[name])
    subscriber_days = tables["subscribers"].rows
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "subscribers": tables["subscribers"],
        "editions": tables["editions"],
        "top_clicks": tables["top-clicks"],
        "top_more": tables["top-more"],
        "ingest": tables["ingest"],
        "papers": tables["papers"],
        "subscribed_now": subscriber_days[-1][1] if subscriber_days else 0,
        "signups": signups,
        "warned": [row for row in tables["editions"].extra["editions"] if row.warnings],
        "limits": (dashboard.COMPLAINT_WARNING, dashboard.COMPLAINT_LIMIT, dashboard.BOUNCE_WARNING),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)


def dashboard_csv(request: HttpRequest, name: str) -> HttpResponse:
    build = TABLES.get(name)
    if build is None:
        raise Http404("No such table")
    end = dashboard.today()
    table = build(end)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="paperboy-{name}-{end.isoformat()}.csv"'
    writer = csv.writer(response)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_cell(value) for value in row])  # a title starting with "=" is no formula
    return response
