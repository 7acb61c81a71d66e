"""arXiv categories for the papers an HF ingest lists without them (issue 11, point 4): a Celery task
the HF ingest starts, over real HTTP from a local server answering with the recorded arXiv API
responses; failure-tolerant, editor-safe, reported as an IngestRun of its own."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from papers import services, tasks
from papers.models import IngestRun, Paper
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

DAY = dt.date(2025, 9, 15)
SEARCH_10 = "api_2026_search_testing_start0_max10.xml"  # ten papers, with their categories
ERROR_400 = "api_2026_idlist_abc_http400_error.xml"
# The ids in SEARCH_10, in order, and what arXiv says of the first ones.
ARXIV_IDS = [
    "2202.12139",
    "2405.13786",
    "2005.14124",
    "2204.08348",
    "2302.03287",
    "1202.4527",
    "2503.05378",
    "1205.1866",
    "2502.07719",
    "1812.11470",
]


@pytest.fixture
def sources(settings, http_server):
    settings.HF_BASE_URL = http_server.url
    settings.ARXIV_API_URL = http_server.url + "/api"
    settings.ARXIV_REQUEST_INTERVAL = 0
    settings.PAPERBOY_HTTP_BACKOFF = 0.01
    settings.PAPERBOY_HTTP_RETRIES = 2
    return http_server


@pytest.fixture
def hf_day(sources, fixtures_dir):
    """The real HF API answer of 2025-09-15 (12 papers, no categories), its first ten papers given the
    ids of the recorded arXiv answer, so that arXiv knows them; the last two keep their own ids."""
    entries = json.loads((fixtures_dir / "hf_api" / "daily_papers_date_2025-09-15.json").read_text())
    for entry, arxiv_id in zip(entries, ARXIV_IDS, strict=False):
        entry["paper"]["id"] = arxiv_id
    sources.route("/api/daily_papers", json.dumps(entries), headers={"Content-Type": "application/json"})
    return [entry["paper"]["id"] for entry in entries]


def arxiv_answers(sources, fixtures_dir, name: str = SEARCH_10, status: int = 200) -> None:
    body = (fixtures_dir / "arxiv_atom" / name).read_bytes()
    sources.route("/api/query", body, status=status, headers={"Content-Type": "application/atom+xml"})


def arxiv_requests(sources) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(path).query) for path in sources.requests if path.startswith("/api/query")]


def ingest_hf(django_capture_on_commit_callbacks) -> IngestRun:
    with django_capture_on_commit_callbacks(execute=True):
        return services.ingest("hf", day=DAY)


def categories(*ids: str) -> list[tuple[str, list[str], str]]:
    papers = Paper.objects.in_bulk(list(ids), field_name="arxiv_id")
    return [(arxiv_id, papers[arxiv_id].categories, papers[arxiv_id].primary_category) for arxiv_id in ids]


def test_an_hf_ingest_fills_in_categories_from_the_arxiv_api(
    hf_day, sources, fixtures_dir, django_capture_on_commit_callbacks
):
    arxiv_answers(sources, fixtures_dir)

    run = ingest_hf(django_capture_on_commit_callbacks)

    assert (run.source, run.status, run.created) == ("hf", "succeeded", 12)
    [asked] = arxiv_requests(sources)
    assert (asked["start"], asked["max_results"]) == (["0"], ["12"])
    assert sorted(asked["id_list"][0].split(",")) == sorted(hf_day)
    assert categories("2202.12139", "2005.14124", "1812.11470")[0] == ("2202.12139", ["cs.SE", "cs.LG"], "cs.SE")
    assert categories("2005.14124")[0][1] == ["cs.SE", "cs.CR", "cs.LG"]
    assert Paper.objects.filter(arxiv_id__in=ARXIV_IDS, categories=[]).count() == 0
    assert Paper.objects.filter(arxiv_id__in=hf_day[10:], categories=[]).count() == 2, "arXiv did not answer for these"
    enrichment = IngestRun.objects.get(source="arxiv-categories")
    assert enrichment.parameters["after_run"] == run.pk
    assert sorted(enrichment.parameters["ids"]) == sorted(hf_day)
    assert (enrichment.status, enrichment.updated, enrichment.skipped, enrichment.created) == ("partial", 10, 2, 0)
    assert f"{hf_day[10]}: not returned by the arXiv API" in enrichment.errors
    # Only categories came from arXiv: the HF title stays (the recorded arXiv answer names another paper).
    assert not Paper.objects.get(arxiv_id="2202.12139").title.startswith("Testing Deep Learning Models")
    run.refresh_from_db()
    assert run.status == "succeeded", "the HF run is left as it was"


def test_editor_overrides_are_kept_and_not_asked_about(hf_day, sources, fixtures_dir):
    services.ingest("hf", day=DAY)  # not committed: the enrichment did not start
    Paper.objects.filter(arxiv_id="2202.12139").update(overridden_fields=["categories"])
    Paper.objects.filter(arxiv_id="2405.13786").update(overridden_fields=["primary_category"])
    arxiv_answers(sources, fixtures_dir)

    run = IngestRun.objects.get(source="arxiv-categories", pk=tasks.enrich_arxiv_categories(after_run=1))

    assert "2202.12139" not in arxiv_requests(sources)[0]["id_list"][0], "an editor's empty list is theirs"
    assert "2202.12139" not in run.parameters["ids"]
    assert categories("2202.12139", "2405.13786") == [
        ("2202.12139", [], ""),
        ("2405.13786", ["cs.SE", "cs.AI"], ""),
    ]


def test_known_categories_are_never_replaced(hf_day, sources, fixtures_dir):
    services.ingest("hf", day=DAY)
    Paper.objects.filter(arxiv_id="2202.12139").update(categories=["cs.CL"], primary_category="cs.CL")
    arxiv_answers(sources, fixtures_dir)

    services.enrich_categories()

    assert "2202.12139" not in arxiv_requests(sources)[0]["id_list"][0]
    assert categories("2202.12139") == [("2202.12139", ["cs.CL"], "cs.CL")]


@pytest.mark.parametrize("failure", ["HTTP 400 with arXiv's error feed", "HTTP 500", "offline"])
def test_arxiv_failing_leaves_the_papers_as_they_are_and_says_so(
    failure, hf_day, sources, fixtures_dir, settings, django_capture_on_commit_callbacks
):
    if failure.startswith("HTTP 400"):
        arxiv_answers(sources, fixtures_dir, ERROR_400, status=400)
        reason = "arXiv API error: incorrect id format for abc"
    elif failure == "HTTP 500":
        sources.route("/api/query", "internal error", status=500)
        reason = "answered HTTP 500"
    else:
        settings.ARXIV_API_URL = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
        reason = "connection refused"

    run = ingest_hf(django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert (run.status, run.created) == ("succeeded", 12), "the HF ingest never fails for arXiv"
    enrichment = IngestRun.objects.get(source="arxiv-categories")
    assert enrichment.status == "failed"
    assert reason in enrichment.errors
    assert enrichment.summary.startswith("arxiv-categories: failed — the arXiv API could not be asked for categories")
    assert Paper.objects.count() == Paper.objects.filter(categories=[], primary_category="").count() == 12

    # The next HF ingest asks again, and this time arXiv answers.
    settings.ARXIV_API_URL = sources.url + "/api"
    sources.routes.pop("/api/query", None)
    arxiv_answers(sources, fixtures_dir)
    ingest_hf(django_capture_on_commit_callbacks)
    assert Paper.objects.filter(categories=[]).count() == 2


def test_the_scheduled_hf_ingest_starts_the_enrichment(
    hf_day, sources, fixtures_dir, django_capture_on_commit_callbacks
):
    arxiv_answers(sources, fixtures_dir)
    with django_capture_on_commit_callbacks(execute=True):
        pk = tasks.ingest_hf_today()
    assert IngestRun.objects.get(pk=pk).source == "hf"
    assert IngestRun.objects.get(source="arxiv-categories").parameters["after_run"] == pk
    assert Paper.objects.filter(categories=[]).count() == 2


def test_a_task_that_cannot_start_never_fails_the_ingest(hf_day, monkeypatch, django_capture_on_commit_callbacks):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.enrich_arxiv_categories, "delay", broken)
    run = ingest_hf(django_capture_on_commit_callbacks)
    assert run.status == "succeeded"
    assert not IngestRun.objects.filter(source="arxiv-categories").exists()


def test_no_enrichment_for_a_file_when_switched_off_or_with_nothing_to_ask(
    hf_day, sources, fixtures_dir, settings, tmp_path, django_capture_on_commit_callbacks
):
    saved = tmp_path / "hf.json"
    saved.write_bytes((fixtures_dir / "hf_api" / "daily_papers_date_2024-05-27.json").read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        services.ingest("hf", day=dt.date(2024, 5, 27), path=saved)  # a replay: offline by nature (make demo)
    settings.ARXIV_ENRICH_CATEGORIES = False
    ingest_hf(django_capture_on_commit_callbacks)
    assert arxiv_requests(sources) == []
    assert not IngestRun.objects.filter(source="arxiv-categories").exists()

    Paper.objects.update(categories=["cs.LG"])
    assert services.enrich_categories() is None, "nothing to ask: no request, no run"
    assert arxiv_requests(sources) == []


def test_only_recent_papers_are_asked_about_a_batch_at_a_time(sources, fixtures_dir, monkeypatch):
    from tests.factories import PaperFactory

    monkeypatch.setattr(services.arxiv, "ID_CHUNK", 4)
    for arxiv_id in ARXIV_IDS:
        PaperFactory(arxiv_id=arxiv_id, categories=[])
    old = PaperFactory(arxiv_id="2001.00001", categories=[])
    Paper.objects.filter(pk=old.pk).update(first_seen=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    arxiv_answers(sources, fixtures_dir)

    run = services.enrich_categories()

    asked = [query["id_list"][0].split(",") for query in arxiv_requests(sources)]
    assert [len(ids) for ids in asked] == [4, 4, 2]
    assert sorted(arxiv_id for ids in asked for arxiv_id in ids) == sorted(ARXIV_IDS), "not the old paper"
    assert (run.status, run.updated) == ("succeeded", 10)
