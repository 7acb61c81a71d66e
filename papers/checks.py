from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

from papers import embeddings, taxonomy


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


@checks.register()
def embeddings_installed(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[checks.CheckMessage]:
    """RANKING_EMBEDDINGS needs the optional extra: say so at start-up, not at the first ingest."""
    missing = embeddings.missing_packages() if embeddings.enabled() else []
    if not missing:
        return []
    return [
        checks.Error(
            f"RANKING_EMBEDDINGS is on, but {', '.join(missing)} cannot be imported.",
            hint=f"Install the extra ({embeddings.INSTALL_HINT}), or set RANKING_EMBEDDINGS=false.",
            id="papers.E001",
        )
    ]
