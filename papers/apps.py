from typing import Any

from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete, post_save


def _papers_changed(sender: type, **kwargs: Any) -> None:
    from papers.version import papers_changed

    papers_changed()


def _index_saved_paper(sender: type, instance: Any, **kwargs: Any) -> None:
    from papers.search import index_papers

    # On commit: admin saves a paper's author inlines after the paper, in the same transaction.
    transaction.on_commit(lambda: index_papers([instance.pk]))


def _index_renamed_author(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    from papers.search import index_papers

    if not created:  # a new author is in no paper's vector until a link names it, and that paper is indexed
        ids = list(instance.paper_links.values_list("paper_id", flat=True))
        transaction.on_commit(lambda: index_papers(ids))


def _refresh_entry_paper(sender: type, instance: Any, **kwargs: Any) -> None:
    from papers.search import refresh_listing

    # An entry saved or deleted (admin, the shell): its paper's listed days in the search table.
    paper_id = instance.paper_id
    transaction.on_commit(lambda: refresh_listing([paper_id]))


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
        # The search table (papers/search.py); ingest, which saves nothing one by one, indexes its own writes.
        post_save.connect(_index_saved_paper, sender=Paper, dispatch_uid="papers.search.paper")
        post_save.connect(_index_renamed_author, sender=Author, dispatch_uid="papers.search.author")
        post_save.connect(_refresh_entry_paper, sender=DailyEntry, dispatch_uid="papers.search.entry.save")
        post_delete.connect(_refresh_entry_paper, sender=DailyEntry, dispatch_uid="papers.search.entry.delete")
