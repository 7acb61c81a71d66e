"""Listing cards: the summary (the AI summary, else the abstract's first sentences), organization,
submitter and keywords; TeX author names as letters; a day of 30 papers in a bounded number of queries."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from papers.models import Author, PaperAuthor
from papers.text import tex_to_text
from tests.factories import AuthorFactory, DailyEntryFactory, PaperFactory

DAY = dt.date(2026, 8, 19)


def test_tex_to_text_leaves_text_without_tex_alone():
    assert tex_to_text("Kra{\\ss}, G{\\\"o}del, Ren\\'e") == "Kraß, Gödel, René"
    assert tex_to_text("50% of {us} ~ O'Neil") == "50% of {us} ~ O'Neil"


@pytest.mark.django_db
def test_a_card_shows_summary_source_keywords_and_meta(client):
    DailyEntryFactory(
        day=DAY,
        upvotes=42,
        paper__ai_summary="Coding agents fail half the tasks.",
        paper__ai_keywords=["agents", "benchmark", "SWE", "LLM", "evaluation", "sixth"],
        paper__organization="Hugging Face",
        paper__submitter="akhaliq",
        paper__comments=2,
        paper__github_url="https://github.com/example/agents",
        paper__github_stars=99,
    )
    DailyEntryFactory(day=DAY, paper__abstract="First sentence here. " + "More text follows in it. " * 20)
    html = client.get(reverse("day_listing", args=[DAY])).content.decode()

    assert '<p class="summary">Coding agents fail half the tasks.</p>' in html
    assert "Hugging Face · submitted by akhaliq" in html
    assert "<li>evaluation</li>" in html and "sixth" not in html
    assert "▲ 42</span> · 2 comments" in html and "GitHub ★ 99" in html
    summary = html.split('<p class="summary">')[2].split("</p>")[0]
    assert summary.startswith("First sentence here. More text") and summary.endswith("follows in it.")
    assert len(summary) <= 250


@pytest.mark.django_db
def test_a_day_of_30_papers_takes_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    for n in range(30):
        DailyEntryFactory(day=DAY, paper__author_names=[f"Author {n}-{k}" for k in range(6)], paper__ai_keywords=["x"])
    with django_assert_max_num_queries(8):
        response = client.get(reverse("day_listing", args=[DAY]))
    assert response.content.decode().count('<article class="paper') == 30


@pytest.mark.django_db
def test_the_migration_converts_stored_tex_names_and_merges_duplicates():
    migration = importlib.import_module("papers.migrations.0004_author_names_from_tex")
    tex_only = PaperFactory(author_names=["Hendrik Kra{\\ss}"])
    both = PaperFactory(author_names=['J\\"org Hoffmann', "Ada Lovelace"])
    AuthorFactory(name="Jörg Hoffmann")

    migration.names_from_tex(apps, None)

    assert tex_only.author_names == ["Hendrik Kraß"]
    assert both.author_names == ["Jörg Hoffmann", "Ada Lovelace"]
    assert not Author.objects.filter(name__contains="\\").exists()
    assert PaperAuthor.objects.filter(author__name="Jörg Hoffmann").count() == 1
