from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape

from papers.models import DailyEntry


class DailyPapersFeed(Feed[DailyEntry, None]):
    """Each day's approved papers, newest first (RSS 2.0 at /feed/, Atom at /feed/atom/)."""

    description = "The day's trending research papers, as curated for the digest."

    def title(self) -> str:
        return f"{settings.SITE_NAME}: trending papers"

    def link(self) -> str:
        return reverse("home")

    def items(self) -> QuerySet[DailyEntry]:
        return DailyEntry.objects.listed().select_related("paper").order_by("-day", "-pinned", "-upvotes")[:100]

    def item_title(self, entry: DailyEntry) -> str:
        return entry.paper.title

    def item_description(self, entry: DailyEntry) -> str:
        # Feed readers render an RSS description (and this Atom summary, type="html") as HTML: the
        # scraped text is escaped so that "0<p" or a stray "<script>" shows as the text it is.
        return escape(entry.paper.ai_summary or entry.paper.abstract)

    def item_link(self, entry: DailyEntry) -> str:
        paper = entry.paper
        return paper.get_absolute_url() or reverse("day_listing", args=[entry.day])

    def item_guid(self, entry: DailyEntry) -> str:
        return f"{settings.SITE_URL}/papers/{entry.day.isoformat()}/#{entry.paper_id}"

    item_guid_is_permalink = False

    def item_pubdate(self, entry: DailyEntry) -> dt.datetime:
        """When it was listed, within its own day (UTC): a day imported later keeps that day's date."""
        start = dt.datetime.combine(entry.day, dt.time.min, tzinfo=dt.UTC)
        return min(max(entry.created_at, start), start + dt.timedelta(days=1, microseconds=-1))

    def item_updateddate(self, entry: DailyEntry) -> dt.datetime:
        return self.item_pubdate(entry)  # Atom requires an entry's <updated>


class DailyPapersAtomFeed(DailyPapersFeed):
    feed_type = Atom1Feed
    subtitle = DailyPapersFeed.description
