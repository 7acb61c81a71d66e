"""`make demo`'s digest half touches only its own sample readers (issue 11, point 8)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from newsletter.management.commands.demo_day import SAMPLE_READERS
from newsletter.models import Delivery
from subscribers.models import Subscriber, Suppression
from tests.factories import DailyEntryFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def test_the_demo_never_changes_consent_never_resurrects_and_mails_only_its_samples(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    DailyEntryFactory.create_batch(3, day=timezone.now().astimezone(dt.UTC).date())
    real = SubscriberFactory.create(email="real.reader@example.com", confirmed_at=timezone.now() - dt.timedelta(days=2))
    (left, _, _), (forgotten, _, _) = SAMPLE_READERS[0], SAMPLE_READERS[1]
    SubscriberFactory.create(email=left, status="unsubscribed")
    Suppression.add(forgotten, Suppression.Reason.FORGOTTEN)

    out = io.StringIO()
    call_command("demo_day", stdout=out)
    call_command("demo_day", stdout=io.StringIO())  # twice, as `make demo` run again

    assert not Delivery.objects.filter(subscriber=real).exists(), "a real signup is never mailed by the demo"
    assert Subscriber.objects.get(email=left).status == "unsubscribed"
    assert not Delivery.objects.filter(subscriber__email=left).exists()
    assert not Subscriber.objects.filter(email=forgotten).exists(), "an erased address is not re-created"
    others = [email for email, _, _ in SAMPLE_READERS[2:]]
    assert sorted(Delivery.objects.filter(status="sent").values_list("subscriber__email", flat=True)) == sorted(others)
    said = out.getvalue()
    assert f"{left}: unsubscribed, left as is" in said and f"{forgotten}: on the suppression list" in said
