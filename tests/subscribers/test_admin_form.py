"""The subscriber's admin form: categories from the taxonomy (admin's filter widget), followed
authors and muted topics one per line, the time zone typed with every zone suggested; what an
editor sees saves back exactly, and a wrong value says what is wrong."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from subscribers.models import Subscriber, available_time_zones
from tests.posted import form_data

pytestmark = pytest.mark.django_db
FORM = "#subscriber_form"


@pytest.fixture
def reader() -> Subscriber:
    return Subscriber.objects.create(
        email="reader@example.org",
        status="active",
        time_zone="America/Argentina/Buenos_Aires",
        # Not the taxonomy's order: saving an unchanged form must keep it.
        categories=["stat.ML", "cs.LG", "cs.CL", "hep-th"],
        followed_authors=["Yann LeCun", "Fei-Fei Li", "Jürgen Schmidhuber"],
        muted_topics=["LLM agents", "autonomous driving"],
        interests="diffusion, protein folding",
    )


def change_url(subscriber: Subscriber) -> str:
    return reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])


def preferences(subscriber: Subscriber) -> dict[str, object]:
    subscriber.refresh_from_db()
    return {name: getattr(subscriber, name) for name in Subscriber.PREFERENCE_FIELDS}


def test_the_form_shows_lists_as_lists_and_suggests_every_time_zone(admin_client, reader):
    page = BeautifulSoup(admin_client.get(change_url(reader)).text, "html.parser")

    categories = page.select_one("select[name=categories]")
    assert categories is not None and "selectfilter" in categories["class"]  # admin's filter widget
    assert "category-filter" in categories.parent["class"]  # its own parent: the boxes go there, not before the label
    assert [option["value"] for option in categories.select("option[selected]")] == [
        "cs.CL",
        "cs.LG",
        "hep-th",
        "stat.ML",
    ]
    assert categories.select_one("optgroup[label='Computer Science'] option[value='cs.LG']") is not None
    assert page.select_one("textarea[name=followed_authors]").text.strip() == (
        "Yann LeCun\nFei-Fei Li\nJürgen Schmidhuber"
    )
    assert page.select_one("textarea[name=muted_topics]").text.strip() == "LLM agents\nautonomous driving"

    zone = page.select_one("input[name=time_zone]")
    assert zone is not None and zone["value"] == "America/Argentina/Buenos_Aires"
    suggestions = page.select_one(f"datalist#{zone['list']}")
    assert suggestions is not None
    assert {option["value"] for option in suggestions.select("option")} == available_time_zones()


def test_saving_the_form_unchanged_keeps_every_value_exactly(admin_client, reader):
    before = preferences(reader)
    data = form_data(admin_client.get(change_url(reader)).text, FORM)
    data["_save"] = ["Save"]

    response = admin_client.post(change_url(reader), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert preferences(reader) == before
    assert reader.categories == ["stat.ML", "cs.LG", "cs.CL", "hep-th"]


def test_editing_the_lists_and_the_zone(admin_client, reader):
    data = form_data(admin_client.get(change_url(reader)).text, FORM)
    data.update(
        categories=["cs.CL", "math.GT", "stat.ML"],  # cs.LG and hep-th taken out, math.GT added
        followed_authors=["Fei-Fei Li\r\n\r\n  Geoffrey   Hinton \r\nFei-Fei Li\r\n"],
        muted_topics=["LLM agents\nquantum, crypto"],
        time_zone=["europe/berlin"],
    )

    response = admin_client.post(change_url(reader), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    reader.refresh_from_db()
    assert reader.categories == ["stat.ML", "cs.CL", "math.GT"]  # kept ones in their order, then the new
    assert reader.followed_authors == ["Fei-Fei Li", "Geoffrey Hinton"]
    assert reader.muted_topics == ["LLM agents", "quantum", "crypto"]
    assert reader.time_zone == "Europe/Berlin"

    data.update(categories=[], followed_authors=[""], muted_topics=[""])
    assert admin_client.post(change_url(reader), data).status_code == 302
    reader.refresh_from_db()
    assert (reader.categories, reader.followed_authors, reader.muted_topics) == ([], [], [])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_zone", "Mars/Olympus_Mons", "“Mars/Olympus_Mons” is not a time zone name."),
        ("time_zone", "", "This field is required."),
        ("categories", "cs.FOO", "Not arXiv categories: cs.FOO."),
        ("followed_authors", "\n".join(f"Author {n}" for n in range(51)), "At most 50 authors (you gave 51)."),
        ("followed_authors", "A" * 201, "is too long: at most 200 characters per name."),
        ("followed_authors", '["Yann LeCun", "Fei-Fei Li"]', "One name per line, without brackets or quotes"),
        ("muted_topics", "x", "“x” is too short: a muted topic needs at least 2 characters."),
    ],
)
def test_a_wrong_value_is_refused_with_a_clear_error(admin_client, reader, field, value, message):
    before = preferences(reader)
    data = form_data(admin_client.get(change_url(reader)).text, FORM)
    data[field] = [value]

    response = admin_client.post(change_url(reader), data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert message in response.text
    assert preferences(reader) == before


def test_a_stored_category_outside_the_taxonomy_is_shown_and_refused_by_name(admin_client, reader):
    Subscriber.objects.filter(pk=reader.pk).update(categories=["cs.LG", "cs.FOO"])  # written past the forms
    page = admin_client.get(change_url(reader)).text
    data = form_data(page, FORM)
    assert data["categories"] == ["cs.LG", "cs.FOO"]  # chosen, under "Not arXiv categories"

    response = admin_client.post(change_url(reader), data)

    assert response.status_code == 200
    assert "Not arXiv categories: cs.FOO." in " ".join(response.context["adminform"].form.errors["categories"])
    data["categories"] = ["cs.LG"]
    assert admin_client.post(change_url(reader), data).status_code == 302
    reader.refresh_from_db()
    assert reader.categories == ["cs.LG"]


def test_a_new_subscriber_starts_in_utc(admin_client):
    page = BeautifulSoup(admin_client.get(reverse("admin:subscribers_subscriber_add")).text, "html.parser")
    assert page.select_one("input[name=time_zone]")["value"] == "UTC"
