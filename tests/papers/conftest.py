from __future__ import annotations

from typing import Any

import pytest


def paper_change_data(form: Any, **changes: str) -> dict[str, Any]:
    """What a browser posts from a paper's admin change page (``form``: its admin form), with
    ``changes`` made: the initial values, the hidden initial values that JSON fields with
    callable defaults carry, and an empty author inline."""
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        {
            "categories": "[]",
            "initial-categories": "[]",
            "ai_keywords": "[]",
            "initial-ai_keywords": "[]",
            "author_links-TOTAL_FORMS": "0",
            "author_links-INITIAL_FORMS": "0",
        }
    )
    data.update(changes)
    return data


@pytest.fixture
def api(settings):
    """The JSON API with an empty cache (answers and rate counts) and a rate no test reaches by accident."""
    from django.core.cache import cache

    settings.API_RATE = "100000/min"
    cache.clear()
    yield
    cache.clear()
