from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

from papers import taxonomy


@checks.register()
def arxiv_categories_are_real(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[checks.CheckMessage]:
    """ARXIV_CATEGORIES names announcement feeds: categories or archives of the arXiv taxonomy."""
    wrong = [value for value in settings.ARXIV_CATEGORIES if not taxonomy.is_feed(value)]
    if not wrong:
        return []
    return [
        checks.Warning(
            f"ARXIV_CATEGORIES names what is no arXiv category or archive: {', '.join(wrong)}.",
            hint="Use ids like cs.CL, math.GT or astro-ph (papers/data/arxiv_taxonomy.json lists them all).",
            id="papers.W001",
        )
    ]
