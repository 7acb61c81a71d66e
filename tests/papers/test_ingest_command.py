"""`manage.py ingest` end to end, over real HTTP from a local server serving the recorded responses."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from papers.models import DailyEntry, IngestRun, Paper
from tests.conftest import ROOT, clean_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def sources(settings, http_server):
    settings.HF_BASE_URL = http_server.url
    settings.ARXIV_API_URL = http_server.url + "/api"
    settings.ARXIV_RSS_URL = http_server.url
    settings.ARXIV_REQUEST_INTERVAL = 0
    settings.PAPERBOY_HTTP_BACKOFF = 0.01
    settings.PAPERBOY_HTTP_RETRIES = 2
    return http_server


def ingest(*args: str) -> str:
    out = io.StringIO()
    call_command("ingest", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def listing_page(entries: list) -> str:
    """An HF /papers/date/ page in the documented structure (no real capture of one exists)."""
    props = html.escape(json.dumps({"dailyPapers": entries}), quote=True)
    return (
        "<!doctype html><html><body><main>"
        f'<div class="SVELTE_HYDRATER contents" data-target="DailyPapers" data-props="{props}"></div>'
        "</main></body></html>"
    )


def test_hf_api_day(sources, fixtures_dir):
    body = (fixtures_dir / "hf_api" / "daily_papers_date_2025-09-15.json").read_bytes()
    sources.route("/api/daily_papers", body, headers={"Content-Type": "application/json"})

    output = ingest("--source", "hf", "--date", "2025-09-15")

    assert sources.requests == ["/api/daily_papers?date=2025-09-15"]
    assert output.startswith("hf: succeeded — 12 created, 0 updated, 0 unchanged, 0 skipped, 0 failed")
    assert DailyEntry.objects.on(dt.date(2025, 9, 15)).count() == 12
    assert ingest("--source", "hf", "--date", "2025-09-15").startswith(
        "hf: succeeded — 0 created, 0 updated, 12 unchanged"
    )


def test_hf_api_retries_a_503_then_succeeds(sources, fixtures_dir):
    body = (fixtures_dir / "hf_api" / "daily_papers_date_2024-05-27.json").read_bytes()
    sources.route("/api/daily_papers", "busy", status=503, headers={"Retry-After": "0"})
    sources.route("/api/daily_papers", body)

    output = ingest("--source", "hf", "--date", "2024-05-27")

    assert len(sources.requests) == 2
    assert "13 created" in output


def test_hf_api_failure_falls_back_to_the_papers_page(sources, fixtures_dir):
    entries = json.loads((fixtures_dir / "hf_api" / "daily_papers_date_2026-08-21.json").read_text())
    sources.route("/api/daily_papers", "down", status=500)
    sources.route("/papers/date/2026-08-21", listing_page(entries), headers={"Content-Type": "text/html"})

    output = ingest("--source", "hf", "--date", "2026-08-21")

    runs = list(IngestRun.objects.order_by("pk").values_list("source", "status"))
    assert runs == [("hf", "failed"), ("hf-page", "succeeded")]
    assert output.startswith("hf-page: succeeded — 17 created")
    assert DailyEntry.objects.on(dt.date(2026, 8, 21)).count() == 17


def test_hf_paper_page(sources, fixtures_dir):
    page = (fixtures_dir / "hf_html" / "hf_paper_page_2509.24002_prettified.html").read_bytes()
    sources.route("/papers/2509.24002", page, headers={"Content-Type": "text/html"})

    output = ingest("--source", "hf-page", "--paper", "2509.24002", "--date", "2025-10-01")

    assert sources.requests == ["/papers/2509.24002"]
    assert "1 created" in output
    paper = Paper.objects.get(arxiv_id="2509.24002")
    assert paper.title.startswith("MCPMark")
    assert DailyEntry.objects.filter(paper=paper, day=dt.date(2025, 10, 1)).exists()


def test_arxiv_announcement_feed(sources, fixtures_dir):
    feed = (fixtures_dir / "arxiv_rss" / "rss_arxiv_org_atom_cs.AI_2025-08-20_wellformed_86entries.xml").read_bytes()
    sources.route("/atom/cs.AI", feed, headers={"Content-Type": "application/atom+xml"})

    output = ingest("--source", "arxiv", "--category", "cs.AI", "--date", "2025-08-20")

    assert sources.requests == ["/atom/cs.AI"]
    run = IngestRun.objects.get()
    assert run.parameters["categories"] == ["cs.AI"]
    assert run.created == Paper.objects.count() > 0
    assert output.startswith(f"arxiv: succeeded — {run.created} created")
    assert DailyEntry.objects.on(dt.date(2025, 8, 20)).count() == run.created


def test_truncated_feed_keeps_complete_entries_and_says_so(sources, fixtures_dir):
    feed = (
        fixtures_dir / "arxiv_rss" / "rss_arxiv_org_atom_cs.AI_2025-08-20_AS_STORED_not_wellformed.xml"
    ).read_bytes()
    sources.route("/atom/cs.AI", feed)

    ingest("--source", "arxiv", "--category", "cs.AI", "--date", "2025-08-20")

    run = IngestRun.objects.get()
    assert run.status == "partial"
    assert "truncated" in run.errors
    assert run.created > 0


def test_failure_exits_non_zero_with_the_reason(sources, fixtures_dir):
    sources.route("/api/daily_papers", "<html>Gateway timeout</html>", status=504)
    sources.route("/papers/date/2024-05-27", "<html>also down</html>", status=502)
    with pytest.raises(CommandError, match=r"hf-page: failed — .*502"):
        ingest("--source", "hf", "--date", "2024-05-27")
    assert Paper.objects.count() == 0


@pytest.mark.parametrize(("verbosity", "listed"), [(0, 0), (1, 5), (2, 7)])
def test_skipped_items_are_listed_on_stderr(fixtures_dir, tmp_path, verbosity, listed):
    entries = json.loads((fixtures_dir / "hf_api" / "daily_papers_date_2024-05-27.json").read_text())
    for number, entry in enumerate(entries[:7]):
        entry["paper"]["id"] = f"not-an-id-{number}"
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(entries))
    err = io.StringIO()

    call_command(
        "ingest", "--source", "hf", "--file", str(damaged), verbosity=verbosity, stdout=io.StringIO(), stderr=err
    )

    lines = err.getvalue().splitlines()
    assert len([line for line in lines if "not-an-id-" in line]) == listed
    assert [line for line in lines if "more (see IngestRun" in line] == (
        [f"  … 2 more (see IngestRun {IngestRun.objects.get().pk} in admin, or -v 2)"] if verbosity == 1 else []
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "hf", "--date", "2024-13-01"], "not a date"),
        (["--source", "hf", "--week", "2024-22"], "not a week"),
        (["--source", "arxiv", "--week", "2024-W22"], "--source hf only"),
        (["--source", "text"], "--file"),
        (["--source", "hf", "--paper", "2509.24002"], "--source hf-page only"),
    ],
)
def test_bad_arguments_are_explained(args, message):
    with pytest.raises(CommandError, match=message):
        ingest(*args)


def test_the_real_command_prints_one_summary_line(fixtures_dir, tmp_path):
    """As an operator runs it: a separate process, no TTY, exit code 0 and one line on stdout."""
    env = clean_env(PAPERBOY_VAR_DIR=str(tmp_path))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    path = fixtures_dir / "hf_api" / "daily_papers_date_2024-05-27.json"
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest", "--source", "hf", "--date", "2024-05-27", "--file", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "hf: succeeded — 13 created, 0 updated, 0 unchanged, 0 skipped, 0 failed (run 1)"
    ]

    broken = tmp_path / "broken.json"
    broken.write_text("<html>not json</html>")
    failed = subprocess.run(
        [sys.executable, "manage.py", "ingest", "--source", "hf", "--file", str(broken)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1
    assert "hf: failed — " in failed.stderr


def test_scheduled_tasks_ingest_today(sources, fixtures_dir, settings):
    from django.utils import timezone

    from papers.tasks import ingest_arxiv_today, ingest_hf_today

    settings.ARXIV_CATEGORIES = ["cs.AI"]
    sources.route("/api/daily_papers", (fixtures_dir / "hf_api" / "daily_papers_date_2024-05-27.json").read_bytes())
    sources.route(
        "/atom/cs.AI",
        (fixtures_dir / "arxiv_rss" / "rss_arxiv_org_atom_cs.AI_2025-08-20_wellformed_86entries.xml").read_bytes(),
    )

    hf_run = IngestRun.objects.get(pk=ingest_hf_today.apply().get())
    arxiv_run = IngestRun.objects.get(pk=ingest_arxiv_today.apply().get())

    today = timezone.localdate()
    assert f"/api/daily_papers?date={today.isoformat()}" in sources.requests
    assert "/atom/cs.AI" in sources.requests
    assert (hf_run.source, hf_run.status, hf_run.created) == ("hf", "succeeded", 13)
    assert arxiv_run.status == "succeeded" and arxiv_run.created > 0
    assert DailyEntry.objects.on(today).count() == 13 + arxiv_run.created


def test_unreachable_source_is_explained(settings):
    from tests.conftest import free_port

    port = free_port()
    settings.HF_BASE_URL = f"http://127.0.0.1:{port}"
    settings.PAPERBOY_HTTP_RETRIES = 1
    settings.PAPERBOY_HTTP_BACKOFF = 0.01
    with pytest.raises(CommandError, match=rf"could not connect to 127\.0\.0\.1:{port}: connection refused"):
        ingest("--source", "hf-page", "--date", "2024-05-27")
    assert IngestRun.objects.get().status == "failed"


def test_arxiv_search_query_pages_through_the_export_api(sources, fixtures_dir):
    page = (fixtures_dir / "arxiv_atom" / "api_2026_search_testing_start0_max10.xml").read_bytes()
    sources.route("/api/query", page, headers={"Content-Type": "application/atom+xml"})

    output = ingest("--source", "arxiv", "--query", "cat:cs.CL", "--max", "10", "--date", "2026-04-12")

    assert len(sources.requests) == 1
    assert "search_query=cat%3Acs.CL" in sources.requests[0]
    assert "max_results=10" in sources.requests[0]
    assert sources.request_headers[0]["User-Agent"].startswith("Paperboy/")
    assert output.startswith("arxiv: succeeded — 10 created")
    assert IngestRun.objects.get().parameters["query"] == "cat:cs.CL"
