"""Muted topics: words and phrases a reader never wants papers about (``Subscriber.muted_topics``).

Stored as a list of phrases, each one line of 2 to 60 characters with its inner whitespace
collapsed, at most 20, no two the same in any case; kept as the reader typed them. The ranking
drops every paper that mentions one, as whole words in any case."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError

MIN_LENGTH = 2
MAX_LENGTH = 60
MAX_TOPICS = 20
MAX_REPORTED = 5  # phrases named one by one in an error


def normalized_topic(text: str) -> str:
    """A phrase as it is stored: trimmed, inner whitespace (line breaks too) one space."""
    return " ".join(text.split())


def topic_key(text: str) -> str:
    """What makes two phrases one topic: ``LLM Agents`` and ``llm  agents`` are the same."""
    return normalized_topic(text).casefold()


def clean_muted_topics(items: Iterable[str]) -> list[str]:
    """The phrases normalized, empty ones dropped, later repeats (in any case) dropped; a
    ``ValidationError`` naming each phrase that is too short or too long, or saying there are too many."""
    by_key: dict[str, str] = {}  # the first spelling of a repeated phrase wins
    for item in items:
        topic = normalized_topic(item)
        if topic:
            by_key.setdefault(topic_key(topic), topic)
    topics = list(by_key.values())
    errors = [
        ValidationError(f"“{topic}” is too short: a muted topic needs at least {MIN_LENGTH} characters.")
        for topic in topics
        if len(topic) < MIN_LENGTH
    ]
    errors += [
        ValidationError(f"“{topic[:MAX_LENGTH]}…” is too long: at most {MAX_LENGTH} characters per muted topic.")
        for topic in topics
        if len(topic) > MAX_LENGTH
    ]
    errors = errors[:MAX_REPORTED]  # a pasted essay gets a few errors, not hundreds
    if len(topics) > MAX_TOPICS:
        errors.append(ValidationError(f"At most {MAX_TOPICS} muted topics (you gave {len(topics)})."))
    if errors:
        raise ValidationError(errors)
    return topics


def validate_muted_topics(value: Any) -> None:
    """The model's check: a list of strings that ``clean_muted_topics`` keeps exactly as they are."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Muted topics must be a list of phrases.")
    if clean_muted_topics(value) != value:
        raise ValidationError("Muted topics must be trimmed, non-empty and each listed once.")
