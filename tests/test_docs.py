"""The README stays true: it names the two commands, and documents every variable the settings read."""

from __future__ import annotations

import re

from tests.conftest import ROOT
from tests.envvars import settings_variables

README = (ROOT / "README.md").read_text()


def configuration_table() -> set[str]:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_*]+)` \|", section, flags=re.MULTILINE))


def test_readme_starts_with_the_two_commands():
    first_screen = "\n".join(README.splitlines()[:20])
    assert "make run" in first_screen
    assert "make test" in first_screen


def test_every_setting_variable_is_documented():
    documented = configuration_table()
    missing = sorted(settings_variables() - documented)
    assert missing == [], f"README's Configuration table lacks {missing}"


def test_no_documented_variable_is_stale():
    stale = sorted(name for name in configuration_table() - settings_variables() if name != "ANYMAIL_*")
    assert stale == [], f"README documents variables the settings no longer read: {stale}"
