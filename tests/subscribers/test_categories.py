"""Readers' arXiv categories (issue 11, point 4): picked from the real taxonomy in the preference
center, checked wherever they are set (preferences, admin), and repaired once where stored before."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse

from papers import taxonomy
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, make_token
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

PREFERENCES = {
    "frequency": "daily",
    "weekly_day": "0",
    "send_hour": "8",
    "time_zone": "UTC",
    "papers_per_digest": "10",
    "email_format": "html",
}


def preferences_url(subscriber: Subscriber) -> str:
    return reverse("subscribers:preferences", args=[make_token(subscriber, Purpose.PREFERENCES)])


def test_the_preference_center_lists_the_taxonomy_as_grouped_checkboxes(client):
    subscriber = SubscriberFactory(categories=["cs.CL", "hep-th"])

    page = client.get(preferences_url(subscriber)).text

    boxes = re.findall(r'<input type="checkbox" name="categories" value="([^"]+)"', page)
    assert sorted(boxes) == sorted(taxonomy.CATEGORIES), "every category, once"
    checked = re.findall(r'<input type="checkbox" name="categories" value="([^"]+)"[^>]*checked', page)
    assert checked == ["cs.CL", "hep-th"]
    summaries = re.findall(r"<details class=\"category-group\"( open)?>\s*<summary>([^<]+)", page)
    assert len(summaries) == len(taxonomy.SECTIONS)
    assert [name.strip() for opened, name in summaries if opened] == [
        "Computer Science",
        "Physics: gr-qc, hep-ex, hep-lat, hep-ph, hep-th, math-ph, nucl-ex, nucl-th, quant-ph",
    ], "the groups holding a chosen category are open"
    assert "cs.LG — Machine Learning" in page
    assert "cs.SY — Systems and Control (same as eess.SY)" in page
    assert "Chosen: cs.CL, hep-th" in page
    assert "Papers whose category we don&#x27;t know yet (some Hugging Face picks) are still included." in page


def test_ticked_categories_are_saved(client):
    subscriber = SubscriberFactory()
    response = client.post(preferences_url(subscriber), {**PREFERENCES, "categories": ["cs.LG", "astro-ph.GA"]})
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.categories == ["cs.LG", "astro-ph.GA"]

    client.post(preferences_url(subscriber), PREFERENCES)  # nothing ticked: every category
    subscriber.refresh_from_db()
    assert subscriber.categories == []


def test_a_typed_list_is_read_and_its_case_forgiven(client):
    subscriber = SubscriberFactory()
    client.post(preferences_url(subscriber), {**PREFERENCES, "categories": "cs.lg, CS.CL;cs.LG"})
    subscriber.refresh_from_db()
    assert subscriber.categories == ["cs.LG", "cs.CL"]


@pytest.mark.parametrize(
    ("submitted", "named"),
    [
        (["cs.LG", "cs.FOO"], "Not arXiv categories: cs.FOO."),
        ("cs.FOO, math.BAR", "Not arXiv categories: cs.FOO, math.BAR."),
        (["astro-ph"], "Not arXiv categories: astro-ph."),  # an archive, not a category one can pick
    ],
)
def test_unknown_categories_are_refused_by_name(client, submitted, named):
    subscriber = SubscriberFactory(categories=["cs.CL"])
    response = client.post(preferences_url(subscriber), {**PREFERENCES, "categories": submitted})
    assert response.status_code == 400
    assert named in response.text
    subscriber.refresh_from_db()
    assert subscriber.categories == ["cs.CL"]


# --- admin ----------------------------------------------------------------------------------------


def admin_form(subscriber: Subscriber, **changes) -> dict:
    return {
        **PREFERENCES,
        "interests": "",
        "followed_authors": "",
        "time_zone": subscriber.time_zone,
        **changes,
    }


def test_admin_picks_from_the_taxonomy_and_refuses_unknown_categories(admin_client):
    reader = SubscriberFactory(categories=["cs.CL"])
    change = reverse("admin:subscribers_subscriber_change", args=[reader.pk])

    page = admin_client.get(change).text
    assert '<optgroup label="Computer Science">' in page
    assert '<option value="cs.CL" selected>cs.CL — Computation and Language</option>' in page

    response = admin_client.post(change, admin_form(reader, categories=["cs.LG", "cs.FOO"]))
    assert response.status_code == 200
    assert "Not arXiv categories: cs.FOO." in response.text
    reader.refresh_from_db()
    assert reader.categories == ["cs.CL"]

    response = admin_client.post(change, admin_form(reader, categories=["cs.LG", "stat.ML"]))
    assert response.status_code == 302
    reader.refresh_from_db()
    assert reader.categories == ["cs.LG", "stat.ML"]


def test_the_model_refuses_what_no_form_checked():
    reader = SubscriberFactory.build(categories=["cs.FOO"])
    with pytest.raises(ValidationError, match=r"Not arXiv categories: cs\.FOO"):
        reader.full_clean()


# --- what was stored before categories were checked -----------------------------------------------


def test_stored_categories_are_repaired_once_by_the_migration():
    migration = importlib.import_module("subscribers.migrations.0002_categories_from_the_taxonomy")
    stale = {
        "typo": (["cs.LG", "cs.FOO"], ["cs.LG"]),
        "case": (["cs.lg", "CS.CL"], ["cs.LG", "cs.CL"]),
        "archive": (["astro-ph"], [f"astro-ph.{sub}" for sub in ("CO", "EP", "GA", "HE", "IM", "SR")]),
        "folded": (["solv-int", "hep-th"], ["nlin.SI", "hep-th"]),
        "nothing left": (["cs.FOO", "<b>"], []),
        "fine": (["cs.SY", "q-bio.BM"], ["cs.SY", "q-bio.BM"]),
        "empty": ([], []),
    }
    # Written as the old form allowed: straight to the table, past the model's validation.
    readers = {name: SubscriberFactory(email=f"{name.replace(' ', '-')}@example.org") for name in stale}
    for name, (stored, _) in stale.items():
        Subscriber.objects.filter(pk=readers[name].pk).update(categories=stored)

    migration.repair_stored_categories(apps, None)

    repaired = dict(Subscriber.objects.values_list("email", "categories"))
    assert {name: repaired[f"{name.replace(' ', '-')}@example.org"] for name in stale} == {
        name: expected for name, (_, expected) in stale.items()
    }
