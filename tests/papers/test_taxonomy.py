"""The arXiv taxonomy shipped as data: complete, consistent, and covering every category the real
recorded arXiv answers carry."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from django.core.exceptions import ValidationError

from papers import taxonomy
from papers.sources import arxiv
from papers.sources.base import SourceError

GROUPS = {
    "Computer Science": 40,
    "Economics": 3,
    "Electrical Engineering and Systems Science": 4,
    "Mathematics": 32,
    "Physics": 51,
    "Quantitative Biology": 10,
    "Quantitative Finance": 9,
    "Statistics": 6,
}


def test_every_current_category_with_its_name_archive_and_group():
    assert len(taxonomy.CATEGORIES) == 155
    assert Counter(category.group for category in taxonomy.CATEGORIES.values()) == GROUPS
    lg = taxonomy.CATEGORIES["cs.LG"]
    assert (lg.name, lg.archive, lg.group) == ("Machine Learning", "cs", "Computer Science")
    galaxies = taxonomy.CATEGORIES["astro-ph.GA"]
    assert (galaxies.name, galaxies.archive_name) == ("Astrophysics of Galaxies", "Astrophysics")
    assert galaxies.group == "Physics"
    assert taxonomy.CATEGORIES["cond-mat.mes-hall"].name == "Mesoscale and Nanoscale Physics"
    for single in ("hep-th", "hep-ph", "hep-ex", "hep-lat", "gr-qc", "quant-ph", "nucl-th", "nucl-ex", "math-ph"):
        assert taxonomy.CATEGORIES[single].archive == single
    assert {"econ.EM", "eess.AS", "q-bio.NC", "q-fin.TR", "stat.ML", "nlin.CD", "physics.optics"} <= set(
        taxonomy.CATEGORIES
    )
    assert not taxonomy.is_category("cs.FOO")
    assert not taxonomy.is_category("cs.lg"), "ids are case-sensitive; normalized() fixes the case"
    assert taxonomy.normalized(" CS.lg ") == "cs.LG"


def test_the_file_says_where_it_comes_from_and_when():
    data = json.loads(taxonomy.DATA.read_text())
    assert data["source"] == taxonomy.SOURCE == "https://arxiv.org/category_taxonomy"
    assert taxonomy.WRITTEN == "2026-12-02"
    assert "arxiv-base" in data["about"]


def test_aliases_are_one_category_under_two_names():
    aliases = {"math.IT": "cs.IT", "math.MP": "math-ph", "stat.TH": "math.ST", "cs.SY": "eess.SY"}
    aliases |= {"q-fin.EC": "econ.GN", "cs.NA": "math.NA"}
    for alias, canonical in aliases.items():
        assert taxonomy.CATEGORIES[alias].alias_of == canonical
        assert taxonomy.is_category(canonical) and not taxonomy.CATEGORIES[canonical].alias_of
        assert taxonomy.match_key(alias) == taxonomy.match_key(canonical) == canonical
    assert sum(bool(category.alias_of) for category in taxonomy.CATEGORIES.values()) == 6
    assert taxonomy.CATEGORIES["cs.SY"].label == "cs.SY — Systems and Control (same as eess.SY)"


def test_old_names_papers_still_carry_are_known():
    assert taxonomy.match_key("solv-int") == "nlin.SI"
    assert taxonomy.match_key("cmp-lg") == "cs.CL"
    assert taxonomy.is_known("astro-ph") and not taxonomy.is_category("astro-ph"), "a legacy primary, not pickable"
    assert taxonomy.paper_keys(["cs.SY", "eess.SY", "astro-ph"]) == ("eess.SY", "astro-ph")
    # a stored value that is no category is left out of a reader's filter
    assert taxonomy.reader_keys(["cs.SY", "cs.FOO", "cs.LG"]) == ("eess.SY", "cs.LG")


def test_picker_sections_cover_every_category_once():
    listed = [category.id for section in taxonomy.SECTIONS for category in section.categories]
    assert sorted(listed) == sorted(taxonomy.CATEGORIES)
    names = [section.name for section in taxonomy.SECTIONS]
    assert names[0] == "Computer Science"
    assert "Physics: Astrophysics" in names and "Physics: Condensed Matter" in names
    assert max(len(section.categories) for section in taxonomy.SECTIONS) == 40  # Computer Science, the longest
    grouped = dict(taxonomy.choices())
    assert ("cs.CL", "cs.CL — Computation and Language") in grouped["Computer Science"]


def test_every_category_in_the_real_recorded_arxiv_answers_is_in_the_taxonomy(fixtures_dir):
    found: set[str] = set()
    files = [*sorted((fixtures_dir / "arxiv_atom").iterdir()), *sorted((fixtures_dir / "arxiv_rss").iterdir())]
    files += sorted((fixtures_dir / "other").glob("*oai*"))
    for path in files:
        try:
            result = arxiv.parse(path.read_bytes())
        except SourceError:  # the recorded HTTP 400 error feed carries no paper
            continue
        for record in result.records:
            found.update(record.categories)
            found.add(record.primary_category)
    found.discard("")
    assert len(found) > 40, "the fixtures were read"
    assert sorted(value for value in found if not taxonomy.is_known(value)) == []
    assert {"cs.NA", "math.IT", "astro-ph", "quant-ph", "cond-mat.stat-mech"} <= found, "aliases and old names occur"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["cs.LG", "cs.FOO"], "Not arXiv categories: cs.FOO."),
        (["cs.lg"], "cs.lg (did you mean cs.LG?)"),
        ("cs.LG", "A list of arXiv categories"),
        ([1], "A list of arXiv categories"),
    ],
)
def test_validation_names_what_is_wrong(value, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        taxonomy.validate_categories(value)


def test_validation_accepts_categories_and_nothing():
    taxonomy.validate_categories([])
    taxonomy.validate_categories(["cs.LG", "cs.SY", "hep-th", "cond-mat.mes-hall"])


def test_arxiv_categories_setting_is_checked_against_the_taxonomy(settings):
    from django.core import checks

    settings.ARXIV_CATEGORIES = ["cs.CL", "astro-ph", "cs.FOO"]
    [warning] = [message for message in checks.run_checks() if message.id == "papers.W001"]
    assert "cs.FOO" in warning.msg and "astro-ph" not in warning.msg
    settings.ARXIV_CATEGORIES = ["cs.CL", "cs.LG", "cs.AI", "cs.CV"]
    assert not [message for message in checks.run_checks() if message.id == "papers.W001"]
