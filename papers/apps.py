from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


def _papers_changed(sender: type, **kwargs: Any) -> None:
    from papers.version import papers_changed

    papers_changed()


class PapersConfig(AppConfig):
    name = "papers"

    def ready(self) -> None:
        from papers import checks  # noqa: F401 (registers the system checks)
        from papers.models import Author, DailyEntry, Paper

        # What the public listings show changed: cached API answers must go (papers/version.py).
        # Not PaperAuthor: a receiver would turn ingest's fast bulk delete of author links into one
        # signal per row; ingest bumps the version itself, and an admin edit of authors saves the paper.
        for model in (Paper, DailyEntry, Author):
            post_save.connect(_papers_changed, sender=model, dispatch_uid=f"papers.version.save.{model.__name__}")
            post_delete.connect(_papers_changed, sender=model, dispatch_uid=f"papers.version.delete.{model.__name__}")
