"""papers/samples/: the invented sample papers that `make demo` loads, read by the real parsers."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from papers import services
from papers.models import DailyEntry, IngestRun, Paper
from papers.sources import hf_api, text_dump
from tests.conftest import ROOT, clean_env

pytestmark = pytest.mark.django_db

SAMPLES = ROOT / "papers" / "samples"
HF_SAMPLE = SAMPLES / "hf_daily_papers_sample.json"
TEXT_SAMPLE = SAMPLES / "text_dump_sample.txt"
SAMPLE_SENTENCE = "(Sample paper written for the Paperboy demo.)"
DAY = dt.date(2026, 11, 28)
MATCHED_TITLE = "Plan Less, Check More: Verifier-Guided Web Agents for Long-Horizon Tasks"
NEW_TITLES = [
    "Curriculum by Compression: Ordering Pretraining Data for Small Language Models",
    "Sound Maps: Self-Supervised Audio-Visual Localization in Cluttered Scenes",
]


def test_the_hf_sample_parses_into_ten_labelled_papers():
    result = hf_api.parse(HF_SAMPLE.read_bytes(), listed_on=DAY)

    assert result.errors == []
    assert [record.arxiv_id for record in result.records] == [f"2699.{n:05d}" for n in range(1, 11)]
    assert [record.rank for record in result.records] == list(range(1, 11))
    assert result.records[0].title == MATCHED_TITLE
    for record in result.records:
        assert record.abstract.endswith(SAMPLE_SENTENCE), record.arxiv_id
        assert not record.title.startswith("[")
        assert 120 <= len(record.abstract.split()) <= 200, record.arxiv_id
        assert 3 <= len(record.authors) <= 8
        assert record.ai_summary and record.ai_keywords
        assert record.listed_on == DAY
        assert record.thumbnail_url == ""  # offline: nothing to fetch
        assert record.github_url == "" or record.github_url.startswith("https://github.com/paperboy-sample/")
        assert record.project_url == "" or record.project_url.startswith("https://paperboy-sample.github.io/")
    upvotes = [record.upvotes for record in result.records]
    assert min(upvotes) == 3 and max(upvotes) == 250
    assert sum(bool(record.github_url) for record in result.records) >= 3
    assert sum(bool(record.project_url) for record in result.records) >= 2


def test_the_hf_sample_is_the_api_entry_shape():
    entries = json.loads(HF_SAMPLE.read_text(encoding="utf-8"))

    assert len(entries) == 10
    for entry in entries:
        assert {"paper", "publishedAt", "title", "numComments", "submittedBy"} <= entry.keys()
        assert {"fullname", "name"} <= entry["submittedBy"].keys()
        assert entry["title"] == entry["paper"]["title"]
        assert all(set(author) >= {"name"} for author in entry["paper"]["authors"])
        assert "thumbnail" not in entry


def test_the_text_sample_parses_into_three_id_less_papers():
    result = text_dump.parse(TEXT_SAMPLE.read_text(encoding="utf-8"), listed_on=DAY)

    assert result.errors == []
    assert [record.title for record in result.records] == [MATCHED_TITLE, *NEW_TITLES]
    assert [record.arxiv_id for record in result.records] == ["", "", ""]
    for record in result.records:
        assert record.abstract.endswith(SAMPLE_SENTENCE), record.title


def test_importing_both_samples_matches_the_shared_title():
    hf_run = services.ingest("hf", path=HF_SAMPLE, day=DAY)
    assert (hf_run.status, hf_run.created, hf_run.skipped) == (IngestRun.Status.SUCCEEDED, 10, 0)

    text_run = services.import_text_dump(TEXT_SAMPLE.read_text(encoding="utf-8"), day=DAY)
    assert (text_run.status, text_run.created, text_run.unchanged) == (IngestRun.Status.SUCCEEDED, 2, 1)

    assert Paper.objects.count() == 12
    assert Paper.objects.filter(title=MATCHED_TITLE).get().arxiv_id == "2699.00001"
    assert sorted(Paper.objects.needing_arxiv_id().values_list("title", flat=True)) == sorted(NEW_TITLES)
    assert all(paper.needs_arxiv_id for paper in Paper.objects.filter(title__in=NEW_TITLES))
    assert DailyEntry.objects.on(DAY).count() == 12

    again = services.ingest("hf", path=HF_SAMPLE, day=DAY)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 10)


def test_make_demo_loads_the_samples_and_a_second_run_changes_nothing(tmp_path):
    env = clean_env(PAPERBOY_VAR_DIR=str(tmp_path))

    def demo() -> str:
        result = subprocess.run(["make", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    first = demo()
    assert "hf: succeeded — 10 created, 0 updated, 0 unchanged" in first
    assert "text: succeeded — 2 created, 0 updated, 1 unchanged" in first
    assert "http://127.0.0.1:8000/" in first
    assert (tmp_path / "paperboy.sqlite3").is_file()

    second = demo()
    assert "hf: succeeded — 0 created, 0 updated, 10 unchanged" in second
    assert "text: succeeded — 0 created, 0 updated, 3 unchanged" in second
