"""The arXiv category taxonomy, shipped as data (``papers/data/arxiv_taxonomy.json``, which says
where it comes from and when it was written).

Readers pick their categories from it (``CATEGORIES``, shown in ``picker_sections()``), and what they
pick is checked against it (``unknown``). Ranking compares a reader's categories with a paper's through
``match_key``: an alias and its canonical category are one category under two names (cs.SY is
eess.SY), and the name of an archive arXiv folded into a category (solv-int) is that category.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError

DATA = Path(__file__).resolve().parent / "data" / "arxiv_taxonomy.json"


@dataclass(frozen=True)
class Category:
    id: str  # "cs.CL", "hep-th", "cond-mat.mes-hall"
    name: str  # "Computation and Language"
    archive: str  # "cs", "hep-th", "cond-mat"
    archive_name: str
    group: str  # "Computer Science", "Physics", ...
    alias_of: str = ""  # the canonical category this one is an alias of ("" for a canonical one)

    @property
    def label(self) -> str:
        same = f" (same as {self.alias_of})" if self.alias_of else ""
        return f"{self.id} — {self.name}{same}"


@dataclass(frozen=True)
class Section:
    """One part of the picker: a group; Physics (51 categories) is cut into its archives, those of one
    category (hep-th, quant-ph, ...) shown together."""

    name: str
    categories: tuple[Category, ...]


def _load() -> tuple[dict[str, Category], dict[str, str], tuple[Section, ...], str, str]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    aliases: dict[str, str] = data["aliases"]["ids"]
    categories: dict[str, Category] = {}
    sections: list[Section] = []
    for group in data["groups"]:
        small: list[Category] = []  # Physics' archives of a single category, shown together
        for archive in group["archives"]:
            found = tuple(
                Category(
                    id=entry["id"],
                    name=entry["name"],
                    archive=archive["id"],
                    archive_name=archive["name"],
                    group=group["name"],
                    alias_of=aliases.get(entry["id"], ""),
                )
                for entry in archive["categories"]
            )
            categories.update((category.id, category) for category in found)
            if len(group["archives"]) == 1:
                sections.append(Section(group["name"], found))
            elif len(found) == 1:
                small.extend(found)
            elif archive["name"] == group["name"]:  # physics.*: Physics' own archive
                sections.append(Section(f"{group['name']}: other fields ({archive['id']}.*)", found))
            else:
                sections.append(Section(f"{group['name']}: {archive['name']}", found))
        if small:
            sections.append(Section(f"{group['name']}: {', '.join(c.id for c in small)}", tuple(small)))
    # Old names: a folded archive is its category; an alias is its canonical category.
    keys = {**data["subsumed_archives"]["ids"], **aliases}
    keys.update((legacy, legacy) for legacy in data["legacy_archive_categories"]["ids"])
    return categories, keys, tuple(sections), data["source"], data["written"]


CATEGORIES, _OLD_NAMES, SECTIONS, SOURCE, WRITTEN = _load()
_BY_FOLDED_CASE = {category.casefold(): category for category in CATEGORIES}
# An archive's categories ("astro-ph" -> astro-ph.CO, ..., astro-ph.SR; "hep-th" -> hep-th).
ARCHIVES: dict[str, tuple[str, ...]] = {}
for _category in CATEGORIES.values():
    ARCHIVES[_category.archive] = (*ARCHIVES.get(_category.archive, ()), _category.id)
_ARCHIVES_BY_FOLDED_CASE = {archive.casefold(): ids for archive, ids in ARCHIVES.items()}


def is_category(value: str) -> bool:
    """A current arXiv category (aliases included): what a reader may pick."""
    return value in CATEGORIES


def is_known(value: str) -> bool:
    """Any id arXiv puts on a paper: a current category, or an old name papers still carry."""
    return value in CATEGORIES or value in _OLD_NAMES


def is_feed(value: str) -> bool:
    """A category or an archive (astro-ph, cond-mat, cs...): what arXiv has an announcement feed for."""
    return value in CATEGORIES or value in ARCHIVES


def normalized(value: str) -> str:
    """``value`` as the category it names, ignoring case ("CS.lg" is cs.LG); unchanged if it names none."""
    return _BY_FOLDED_CASE.get(value.strip().casefold(), value.strip())


def unknown(values: Iterable[str]) -> list[str]:
    """The values that are not current arXiv categories, in order."""
    return [value for value in values if not is_category(value)]


def match_key(category: str) -> str:
    """What a category is compared as: its canonical name (cs.SY -> eess.SY, solv-int -> nlin.SI)."""
    return _OLD_NAMES.get(category, category)


def paper_keys(categories: Iterable[str]) -> tuple[str, ...]:
    """A paper's categories as ranking compares them; ids outside the taxonomy are kept as they are."""
    return tuple(dict.fromkeys(map(match_key, categories)))


def reader_keys(categories: Iterable[str]) -> tuple[str, ...]:
    """A reader's categories as ranking compares them. A stored value that is no arXiv category
    (saved before categories were checked) is left out: it could never match a paper."""
    return tuple(dict.fromkeys(match_key(category) for category in categories if category in CATEGORIES))


def repaired(values: Iterable[object]) -> list[str]:
    """What a list typed before categories were checked meant, in current categories: the case fixed
    (cs.lg), an archive as all of its categories (astro-ph), a folded archive as its category
    (solv-int); anything else (cs.FOO) dropped."""
    kept: list[str] = []
    for value in values:
        text = normalized(str(value))
        if is_category(text):
            kept.append(text)
        elif text.casefold() in _ARCHIVES_BY_FOLDED_CASE:
            kept.extend(_ARCHIVES_BY_FOLDED_CASE[text.casefold()])
        elif is_category(_OLD_NAMES.get(text.casefold(), "")):
            kept.append(_OLD_NAMES[text.casefold()])
    return list(dict.fromkeys(kept))


def validate_categories(value: object) -> None:
    """A list of current arXiv category ids; the error names the ones that are not."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError('A list of arXiv categories, like ["cs.CL", "cs.LG"].', code="not_a_list")
    wrong = unknown(value)
    if wrong:
        raise ValidationError(unknown_message(wrong), code="unknown_category")


def unknown_message(wrong: list[str]) -> str:
    shown = ", ".join(_suggest(value) for value in wrong[:5])
    more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
    return f"Not arXiv categories: {shown}{more}. They look like cs.CL or math.GT: pick them from the list."


def _suggest(value: str) -> str:
    shown = value if len(value) <= 40 else value[:39] + "…"
    fixed = normalized(value)
    return f"{shown} (did you mean {fixed}?)" if fixed != value and is_category(fixed) else shown


def choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices for a form field: (section name, [(id, label), ...])."""
    return [(section.name, [(c.id, c.label) for c in section.categories]) for section in SECTIONS]
