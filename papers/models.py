from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import RowNumber
from django.urls import reverse

from common.text import first_sentences
from papers.text import plain_text

CARD_KEYWORDS = 5  # keywords a listing's card shows


def title_key(title: str) -> str:
    """A stable key for a title: how text dumps (which carry no ids) find their paper again."""
    normalized = " ".join(plain_text(title).casefold().split())
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


class Author(models.Model):
    name = models.CharField(max_length=300, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def _changed_papers() -> None:
    from papers.version import papers_changed

    papers_changed()


class PaperQuerySet(models.QuerySet["Paper"]):
    def needing_arxiv_id(self) -> PaperQuerySet:
        return self.filter(arxiv_id__isnull=True)

    def update(self, **kwargs: Any) -> int:
        # An UPDATE sends no post_save: the search table (papers/search.py) and cached listings learn of it here.
        from papers.search import SEARCHED_FIELDS, index_papers, refresh_listing

        searched = bool(set(kwargs) & SEARCHED_FIELDS)
        listed = bool(set(kwargs) & {"upvotes", "arxiv_id"})
        ids = list(self.values_list("pk", flat=True)) if searched or listed else []
        count = super().update(**kwargs)
        if searched:
            index_papers(ids)
        elif listed:
            refresh_listing(ids)
        if count:
            _changed_papers()
        return count


# A listing card's summary is a little shorter than the digest's (common.text's default, 300).
CARD_SUMMARY_CHARS = 250


class Paper(models.Model):
    # Fields an editor may change in admin; once changed, ingest never overwrites them.
    EDITABLE_FIELDS = (
        "title",
        "abstract",
        "published",
        "categories",
        "primary_category",
        "pdf_url",
        "project_url",
        "github_url",
        "github_stars",
        "thumbnail_url",
        "upvotes",
        "comments",
        "ai_summary",
        "ai_keywords",
        "submitter",
        "organization",
    )

    # Canonical arXiv id without version ("2405.01234", "astro-ph/0601001"); empty (NULL) for a
    # paper known only from a text dump until an editor fills it in.
    arxiv_id = models.CharField("arXiv id", max_length=64, unique=True, null=True, blank=True)
    title = models.TextField()
    title_key = models.CharField(max_length=32, db_index=True, editable=False)
    abstract = models.TextField(blank=True)
    authors: models.ManyToManyField[Author, PaperAuthor] = models.ManyToManyField(
        Author, through="PaperAuthor", related_name="papers", blank=True
    )
    published = models.DateField(null=True, blank=True)
    categories = models.JSONField(default=list, blank=True)
    primary_category = models.CharField(max_length=32, blank=True)
    pdf_url = models.URLField("PDF", max_length=2000, blank=True)
    project_url = models.URLField("project page", max_length=2000, blank=True)
    github_url = models.URLField("GitHub repository", max_length=2000, blank=True)
    github_stars = models.PositiveIntegerField(null=True, blank=True)
    thumbnail_url = models.URLField(max_length=2000, blank=True)
    upvotes = models.PositiveIntegerField(default=0)
    comments = models.PositiveIntegerField(default=0)
    ai_summary = models.TextField("AI summary", blank=True)
    ai_keywords = models.JSONField("AI keywords", default=list, blank=True)
    submitter = models.CharField(max_length=200, blank=True)
    organization = models.CharField(max_length=200, blank=True)
    overridden_fields = models.JSONField(default=list, blank=True, editable=False)
    # all-MiniLM-L6-v2 of the paper's text, 384 float32 (papers/embeddings.py); empty until computed.
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    first_seen = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PaperQuerySet.as_manager()

    class Meta:
        ordering = ["-first_seen"]

    def __str__(self) -> str:
        return f"{self.arxiv_id or 'no id'}: {self.title[:80]}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.title_key = title_key(self.title)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("paper_detail", args=[self.arxiv_id]) if self.arxiv_id else ""

    @property
    def needs_arxiv_id(self) -> bool:
        return not self.arxiv_id

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}" if self.arxiv_id else ""

    @property
    def hf_url(self) -> str:
        return f"https://huggingface.co/papers/{self.arxiv_id}" if self.arxiv_id else ""

    @property
    def author_names(self) -> list[str]:
        return [link.author.name for link in self.author_links.all()]

    @property
    def card_summary(self) -> str:
        """What a listing's card says about the paper: the AI summary, else the abstract's first sentences."""
        return first_sentences(self.ai_summary or self.abstract, CARD_SUMMARY_CHARS)

    @property
    def card_keywords(self) -> list[str]:
        return [keyword for keyword in self.ai_keywords if isinstance(keyword, str)][:CARD_KEYWORDS]

    @property
    def authors_short(self) -> str:
        """ "A, B, C et al." — the first three authors."""
        names = self.author_names
        return ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")


class PaperSearch(models.Model):
    """What search reads (papers/search.py, which keeps it current), one row per paper, in a table of
    its own: the vector and what filters and orders the matches without reading the wide paper rows
    (~3 KB each). On SQLite, where search matches the papers' text directly, it stays empty."""

    paper = models.OneToOneField(Paper, on_delete=models.CASCADE, primary_key=True, related_name="search")
    # Title weighted A, authors and keywords B, abstract C, AI summary D: what a query must match. On
    # PostgreSQL a GIN index over it, ``pairs`` and the upvotes (btree_gin) answers "matches with at
    # least so many upvotes" without reading a vector (migration 0007).
    vector = SearchVectorField(null=True)
    # The title, authors and keywords of ``vector`` alone (~0.3 KB, kept in the row, where the whole
    # vector is ~2 KB out of line): the ranking reads this one.
    head = SearchVectorField(null=True)
    # Every two lexemes side by side in ``vector`` ("train data"), as lexemes: in the GIN index, they
    # find the rows with a phrase's words in a row without reading each row's vector. Never read.
    pairs = SearchVectorField(null=True)
    upvotes = models.PositiveIntegerField(default=0)  # the paper's, to pick the most upvoted matches
    # The first and last day of the paper's approved entries; None when it is not listed (no approved
    # entry, or no arXiv id).
    listed_first = models.DateField(null=True)
    listed_last = models.DateField(null=True)

    class Meta:
        # A date range's rows, which a search's bitmap ANDs with the GIN index's (papers/search.py).
        indexes = [
            models.Index(fields=["listed_first"], name="papersearch_listed_first"),
            models.Index(fields=["listed_last"], name="papersearch_listed_last"),
        ]

    def __str__(self) -> str:
        return f"search row of paper {self.paper_id}"


class PaperAuthor(models.Model):
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="author_links")
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="paper_links")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["paper", "position"], name="paper_author_position_unique")]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.author}"


class DailyEntryQuerySet(models.QuerySet["DailyEntry"]):
    def approved(self) -> DailyEntryQuerySet:
        return self.filter(status=DailyEntry.Status.APPROVED)

    def listed(self) -> DailyEntryQuerySet:
        """What public pages and feeds show: approved entries of complete papers. A paper without an
        arXiv id (a pasted text dump) has no page and no link until an editor completes it."""
        return self.approved().filter(paper__arxiv_id__isnull=False)

    def on(self, day: dt.date) -> DailyEntryQuerySet:
        return self.filter(day=day)

    def in_listing_order(self) -> DailyEntryQuerySet:
        """Pinned first, then the most upvoted, then the source's own order."""
        return self.order_by("-pinned", "-upvotes", models.F("rank").asc(nulls_last=True), "pk")

    def latest_day(self) -> dt.date | None:
        latest: dt.date | None = self.listed().aggregate(latest=models.Max("day"))["latest"]
        return latest

    def best_per_paper(self) -> DailyEntryQuerySet:
        """Each paper once, as its best entry here showed it (most upvotes, then the latest day);
        most upvoted first. What the week and month listings show."""
        order = [models.F("upvotes").desc(), models.F("day").desc(), models.F("pk").asc()]
        nth = models.Window(RowNumber(), partition_by=models.F("paper_id"), order_by=order)
        return self.alias(nth_of_paper=nth).filter(nth_of_paper=1).order_by(*order)

    def update(self, **kwargs: Any) -> int:
        # Admin's approve/hide actions: an UPDATE sends no post_save, so the search table's listed days
        # (papers/search.py) and cached listings learn of it here. The papers are read before: the
        # update may take the entries out of this queryset's filter.
        from papers.search import refresh_listing

        listing = bool(set(kwargs) & {"status", "day", "paper", "paper_id"})
        ids = list(self.values_list("paper_id", flat=True).distinct()) if listing else []
        count = super().update(**kwargs)
        if ids:
            refresh_listing(ids)
        if count:
            _changed_papers()
        return count


def default_entry_status() -> str:
    return settings.PAPERBOY_NEW_ENTRY_STATUS


class DailyEntry(models.Model):
    """A paper listed on a day, with the editor's curation of it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        HIDDEN = "hidden", "Hidden"

    day = models.DateField(db_index=True)
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="entries")
    rank = models.PositiveIntegerField(null=True, blank=True, help_text="Position in the source's listing, 1 first.")
    upvotes = models.PositiveIntegerField(default=0, help_text="Upvotes on that day.")
    source = models.CharField(max_length=16)
    status = models.CharField(max_length=10, choices=Status.choices, default=default_entry_status, db_index=True)
    pinned = models.BooleanField(default=False)
    note = models.TextField("editor's note", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DailyEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "daily entries"
        ordering = ["-day", "-pinned", "-upvotes"]
        constraints = [models.UniqueConstraint(fields=["day", "paper"], name="daily_entry_day_paper_unique")]

    def __str__(self) -> str:
        return f"{self.day} #{self.rank or '-'} {self.paper.title[:60]}"


class IngestRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Succeeded with skipped items"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=16)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.TextField(blank=True)
    # A run started from admin goes on in the background; its page shows how far it got.
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    input_text = models.TextField(blank=True, help_text="What an editor pasted or uploaded (text dumps).")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source} {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def summary(self) -> str:
        counted = self.created + self.updated + self.unchanged + self.skipped + self.failed
        if self.status == self.Status.FAILED and not counted:
            reason = self.errors.splitlines()[0] if self.errors else "no reason recorded"
            return f"{self.source}: failed — {reason}"
        return (
            f"{self.source}: {self.get_status_display().lower()} — {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.skipped} skipped, {self.failed} failed"
        )
