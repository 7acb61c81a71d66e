"""Muted topics: the rules (subscribers/muting.py), the preference center, admin, the data export
and the one-click mute and unmute services."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from subscribers import services
from subscribers.muting import MAX_TOPICS, clean_muted_topics
from subscribers.tokens import Purpose, make_token
from tests.factories import SubscriberFactory

# --- The rules ----------------------------------------------------------------------------------


def test_phrases_are_trimmed_and_repeats_in_any_case_dropped_keeping_the_first_spelling():
    cleaned = clean_muted_topics(["  LLM   agents ", "", "llm agents", "crypto\ntrading", "LLM AGENTS", "RL"])
    assert cleaned == ["LLM agents", "crypto trading", "RL"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["a"], "“a” is too short: a muted topic needs at least 2 characters."),
        (["x" * 61], f"“{'x' * 60}…” is too long: at most 60 characters per muted topic."),
        ([f"topic {n}" for n in range(21)], "At most 20 muted topics (you gave 21)."),
    ],
)
def test_a_phrase_too_short_too_long_or_one_too_many_is_refused_by_name(items, message):
    with pytest.raises(ValidationError) as refused:
        clean_muted_topics(items)
    assert refused.value.messages == [message]


def test_the_limits_themselves_pass():
    items = ["ab", "y" * 60, *(f"topic {n}" for n in range(MAX_TOPICS - 2))]
    assert clean_muted_topics(items) == items


def test_a_pasted_essay_gets_a_few_errors_not_hundreds():
    with pytest.raises(ValidationError) as refused:
        clean_muted_topics(["a", "b", "c", "d", "e", "f", "g", *("z" * 70 for _ in range(3))])
    assert len(refused.value.messages) == 5


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", ["LLM agents", [" padded "], ["ok", "OK"], ["ok", 3], ["x"], [f"t{n}" for n in range(21)]]
)
def test_the_model_refuses_what_the_rules_would_change(value):
    subscriber = SubscriberFactory.build(muted_topics=value)
    with pytest.raises(ValidationError) as refused:
        subscriber.full_clean()
    assert "muted_topics" in refused.value.message_dict


@pytest.mark.django_db
def test_a_new_subscriber_mutes_nothing():
    assert SubscriberFactory().muted_topics == []


# --- The preference center ------------------------------------------------------------------------


def preferences(subscriber, **changes: str) -> dict[str, str]:
    """The preference form's data as the page sends it, with ``changes``."""
    data = {
        "frequency": subscriber.frequency,
        "weekly_day": str(subscriber.weekly_day),
        "send_hour": str(subscriber.send_hour),
        "time_zone": subscriber.time_zone,
        "papers_per_digest": str(subscriber.papers_per_digest),
        "email_format": subscriber.email_format,
        "interests": subscriber.interests,
        "muted_topics": ", ".join(subscriber.muted_topics),
    }
    return {**data, **changes}


@pytest.mark.django_db
def test_the_preference_center_edits_muted_topics_as_comma_separated_text(client):
    subscriber = SubscriberFactory(muted_topics=["crypto"])
    link = reverse("subscribers:preferences", args=[make_token(subscriber, Purpose.PREFERENCES)])
    page = client.get(link).text
    assert '<label for="id_muted_topics">Never show me papers about</label>' in page
    assert 'value="crypto"' in page

    saved = client.post(link, preferences(subscriber, muted_topics="LLM agents,  autonomous driving , llm AGENTS,"))
    assert saved.status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.muted_topics == ["LLM agents", "autonomous driving"]
    assert 'value="LLM agents, autonomous driving"' in client.get(link).text


@pytest.mark.django_db
def test_a_bad_muted_topic_is_a_form_error_that_names_it_and_saves_nothing(client):
    subscriber = SubscriberFactory(muted_topics=["crypto"], papers_per_digest=10)
    link = reverse("subscribers:preferences", args=[make_token(subscriber, Purpose.PREFERENCES)])
    refused = client.post(link, preferences(subscriber, muted_topics="<b>x</b>y, q", papers_per_digest="12"))
    assert refused.status_code == 400
    assert "“q” is too short: a muted topic needs at least 2 characters." in refused.text
    assert 'value="&lt;b&gt;x&lt;/b&gt;y, q"' in refused.text, "what was typed comes back, escaped"
    assert "<b>x</b>" not in refused.text
    subscriber.refresh_from_db()
    assert (subscriber.muted_topics, subscriber.papers_per_digest) == (["crypto"], 10)


@pytest.mark.django_db
def test_the_data_export_lists_muted_topics(client):
    subscriber = SubscriberFactory(muted_topics=["LLM agents", "crypto"])
    link = reverse("subscribers:preferences_data", args=[make_token(subscriber, Purpose.PREFERENCES)])
    exported = json.loads(client.get(link).content)
    assert exported["preferences"]["muted_topics"] == ["LLM agents", "crypto"]


@pytest.mark.django_db
def test_an_editor_edits_muted_topics_in_admin(admin_client):
    subscriber = SubscriberFactory(muted_topics=["crypto"], categories=[], followed_authors=[])
    change = reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])
    form = admin_client.get(change).text
    assert "Muted topics" in form and '<textarea name="muted_topics"' in form and ">\ncrypto</textarea>" in form
    data = {
        **preferences(subscriber, muted_topics="crypto, Quantum computing"),  # commas still separate
        "followed_authors": "",  # one name per line in admin too
    }
    assert admin_client.post(change, data).status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.muted_topics == ["crypto", "Quantum computing"]
    refused = admin_client.post(change, {**data, "muted_topics": "x"})
    assert refused.status_code == 200 and "“x” is too short" in refused.text


# --- One click: mute and unmute -------------------------------------------------------------------


@pytest.mark.django_db
def test_mute_adds_a_phrase_once_in_any_case_and_unmute_takes_it_off_in_any_case():
    subscriber = SubscriberFactory(muted_topics=["crypto"])
    assert services.subscriber_mute(subscriber=subscriber, topic="  coding   agents ") is True
    assert services.subscriber_mute(subscriber=subscriber, topic="Coding Agents") is False
    subscriber.refresh_from_db()
    assert subscriber.muted_topics == ["crypto", "coding agents"]

    assert services.subscriber_unmute(subscriber=subscriber, topic="CODING agents") is True
    assert services.subscriber_unmute(subscriber=subscriber, topic="coding agents") is False
    subscriber.refresh_from_db()
    assert subscriber.muted_topics == ["crypto"]


@pytest.mark.django_db
def test_mute_works_on_the_stored_list_not_a_stale_copy():
    subscriber = SubscriberFactory()
    stale = type(subscriber).objects.get(pk=subscriber.pk)
    services.subscriber_mute(subscriber=subscriber, topic="crypto")
    services.subscriber_mute(subscriber=stale, topic="agents")  # another tab, loaded before the first mute
    subscriber.refresh_from_db()
    assert subscriber.muted_topics == ["crypto", "agents"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("muted", "topic", "message"),
    [
        (0, "  ", "There is no word or phrase to mute."),
        (0, "x", "“x” is too short: a muted topic needs at least 2 characters."),
        (
            MAX_TOPICS,
            "full",
            "You already mute 20 topics, the most there can be: unmute one in your preferences first.",
        ),
    ],
)
def test_mute_refuses_what_cannot_be_muted(muted, topic, message):
    subscriber = SubscriberFactory(muted_topics=[f"topic {n}" for n in range(muted)])
    with pytest.raises(ValidationError) as refused:
        services.subscriber_mute(subscriber=subscriber, topic=topic)
    assert refused.value.messages == [message]
    subscriber.refresh_from_db()
    assert len(subscriber.muted_topics) == muted
