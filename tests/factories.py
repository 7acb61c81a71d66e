from __future__ import annotations

import datetime as dt

import factory

from newsletter.models import Delivery, Edition
from papers.models import Author, DailyEntry, Paper, PaperAuthor
from subscribers.models import Subscriber


class AuthorFactory(factory.django.DjangoModelFactory[Author]):
    class Meta:
        model = Author
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Author {n}")


class PaperFactory(factory.django.DjangoModelFactory[Paper]):
    class Meta:
        model = Paper
        skip_postgeneration_save = True

    arxiv_id = factory.Sequence(lambda n: f"2601.{n:05d}")
    title = factory.Sequence(lambda n: f"A study of things, part {n}")
    abstract = "We study things and find that they are interesting."
    published = dt.date(2026, 1, 5)
    upvotes = 10

    @factory.post_generation
    def author_names(paper, create, names, **kwargs):
        for position, name in enumerate(names or ["Ada Lovelace", "Alan Turing"]):
            PaperAuthor.objects.create(paper=paper, author=AuthorFactory(name=name), position=position)


class DailyEntryFactory(factory.django.DjangoModelFactory[DailyEntry]):
    class Meta:
        model = DailyEntry

    day = dt.date(2026, 1, 6)
    paper = factory.SubFactory(PaperFactory)
    rank = factory.Sequence(lambda n: n + 1)
    upvotes = factory.SelfAttribute("paper.upvotes")
    source = "hf"
    status = DailyEntry.Status.APPROVED


class SubscriberFactory(factory.django.DjangoModelFactory[Subscriber]):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@example.org")
    status = "active"
    interests = "diffusion models, RLHF"
    time_zone = "Europe/Berlin"


class EditionFactory(factory.django.DjangoModelFactory[Edition]):
    """A daily edition of 2026-01-06 (a draft unless told otherwise)."""

    class Meta:
        model = Edition

    kind = "daily"
    period_start = dt.date(2026, 1, 6)
    period_end = factory.SelfAttribute("period_start")


class DeliveryFactory(factory.django.DjangoModelFactory[Delivery]):
    """One ledger row: a pending digest of its edition for a new subscriber."""

    class Meta:
        model = Delivery

    edition = factory.SubFactory(EditionFactory)
    subscriber = factory.SubFactory(SubscriberFactory)
    kind = factory.SelfAttribute("edition.kind")
    local_date = factory.SelfAttribute("edition.period_start")
