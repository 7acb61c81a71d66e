"""What the reader-steering pages work with: "more / less like this" votes and their undo, the
words of a paper a reader may mute, and the recent papers a new reader picks from."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Max, Prefetch
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from newsletter.edition_vectors import mentions
from newsletter.models import Delivery, Feedback
from newsletter.ranking import paper_text
from papers.models import DailyEntry, Paper, PaperAuthor
from subscribers.models import Subscriber
from subscribers.muting import MAX_LENGTH, MIN_LENGTH, normalized_topic, topic_key

PICK_DAYS = 3  # the pick page shows the papers of the last listed days...
PICK_LIMIT = 30  # ...the most upvoted of them, each once

# Words nearly every ML paper uses: muting one would empty the digest, so they are never offered.
# fmt: off
GENERIC_WORDS = frozenset({
    "ai", "approach", "approaches", "analysis", "based", "benchmark", "benchmarking", "benchmarks", "better",
    "data", "deep", "effective", "efficient", "evaluation", "framework", "frameworks", "general", "improved",
    "improving", "language", "languages", "large", "learning", "llm", "llms", "method", "methods", "ml",
    "model", "modeling", "models", "network", "networks", "neural", "new", "novel", "paper", "simple", "small",
    "study", "task", "tasks", "toward", "towards", "unified", "use", "using", "via",
})
# fmt: on
IGNORED_WORDS = GENERIC_WORDS | ENGLISH_STOP_WORDS
# A word, keeping inner hyphens, dots, apostrophes and plus signs: "multi-agent", "GPT-4.5", "C++".
WORD = re.compile(r"[^\W_](?:[\w.'+-]*[\w+])?")
PARENTHESES = re.compile(r"\s*\([^)]*\)")


# --- Votes --------------------------------------------------------------------------------------


@transaction.atomic
def feedback_vote(*, subscriber: Subscriber, paper: Paper, vote: int) -> int | None:
    """Record the reader's vote on a paper; returns the vote it replaced (None: there was none),
    which is what an undo restores."""
    earlier = Feedback.objects.select_for_update().filter(subscriber=subscriber, paper=paper).first()
    defaults = {"vote": vote, "edition_id": voted_edition(subscriber, paper.pk)}
    Feedback.objects.update_or_create(subscriber=subscriber, paper=paper, defaults=defaults)
    return earlier.vote if earlier else None


RECENT_DELIVERIES = 30  # a reader's digests searched for the one a vote came from


def voted_edition(subscriber: Subscriber, paper_id: int) -> int | None:
    """The edition of the reader's latest digest that listed the paper (a vote's link came from it;
    None: from none of the recent ones, say a pick page)."""
    recent = Delivery.objects.filter(subscriber=subscriber).order_by("-created_at", "-pk")
    for edition_id, paper_ids in recent.values_list("edition_id", "paper_ids")[:RECENT_DELIVERIES]:
        if paper_id in paper_ids:
            return int(edition_id)
    return None


def feedback_restore(*, subscriber: Subscriber, paper: Paper, vote: int | None) -> None:
    """Undo: the reader's vote on the paper back to ``vote`` (None: no vote at all)."""
    if vote is None:
        Feedback.objects.filter(subscriber=subscriber, paper=paper).delete()
    else:
        Feedback.objects.update_or_create(subscriber=subscriber, paper=paper, defaults={"vote": vote})


def pick_remove(*, subscriber: Subscriber, paper: Paper) -> bool:
    """Take back an "I like this" (a "less like this" vote stays). True when there was one."""
    deleted, _ = Feedback.objects.filter(subscriber=subscriber, paper=paper, vote=Feedback.Vote.MORE).delete()
    return bool(deleted)


# --- Words to mute --------------------------------------------------------------------------------


def _stems(text: str) -> list[str]:
    """The distinctive words of a text (hyphenated parts apart), case-folded, a plural "s" dropped."""
    parts = (part for word in WORD.findall(text) for part in word.split("-"))
    return [
        part.casefold().removesuffix("s")
        for part in parts
        if part.casefold() not in IGNORED_WORDS and any(char.isalpha() for char in part)
    ]


def _shown(word: str) -> str:
    """A title word as a reader would type it: "Agents" is "agents", "LLaVA" and "GPT-4" stay."""
    return word.lower() if all(part[1:] == part[1:].lower() for part in word.split("-")) else word


def _paper_name(title: str) -> str:
    """What a title calls the paper, before its colon ("SWE-bench Science: ..."); "" without one."""
    name, colon, rest = title.partition(":")
    return name.strip() if colon and rest.strip() else ""


def _keyword_candidates(title: str, keywords: Sequence[str], limit: int) -> list[str]:
    title_stems = set(_stems(title))
    own_names = {topic_key(_paper_name(title)), topic_key(title)}  # muting its own name mutes nothing else
    phrases: dict[str, tuple[bool, bool, int, str, frozenset[str]]] = {}
    for position, keyword in enumerate(keywords):
        phrase = normalized_topic(PARENTHESES.sub("", keyword)).strip(" -.,;:")
        stems = frozenset(_stems(phrase))
        if stems and MIN_LENGTH <= len(phrase) <= MAX_LENGTH and topic_key(phrase) not in own_names:
            # On the title's topic first, then short phrases (a reader mutes "agents", not a sentence).
            rank = (not title_stems & stems, len(phrase.split()) > 3, position)
            phrases.setdefault(topic_key(phrase), (*rank, phrase, stems))
    picked: list[str] = []
    covered: list[frozenset[str]] = []
    for off_topic, _, _, phrase, stems in sorted(phrases.values()):
        if len(picked) == limit or (off_topic and len(picked) >= 2):
            break
        if not any(earlier <= stems for earlier in covered):  # "MCP testbed" is muted with "MCP" already
            picked.append(phrase)
            covered.append(stems)
    return picked


def _title_candidates(title: str, abstract: str, limit: int) -> list[str]:
    name = _paper_name(title)
    # A one-word name before the colon ("ConvLLaVA: ...") is the paper's own: muting it mutes nothing else.
    words = WORD.findall(title.partition(":")[2] if name and len(name.split()) == 1 else title)
    in_abstract = Counter(_stems(abstract))
    found: dict[str, tuple[int, int, str]] = {}  # stem -> (minus abstract count, position, word)
    for position, word in enumerate(words):
        stems = _stems(word)
        if len(stems) != len(word.split("-")) or len(word) > MAX_LENGTH:  # a part is generic: not on its own
            continue
        stem = "-".join(stems)
        if len(word) >= MIN_LENGTH and stem not in found:
            found[stem] = (-sum(in_abstract[part] for part in stems), position, _shown(word))
    return [word for _, _, word in sorted(found.values())[:limit]]


def mute_candidates(title: str, keywords: Sequence[str] = (), abstract: str = "", *, limit: int = 3) -> list[str]:
    """Up to ``limit`` words or phrases a reader who disliked this paper may want to mute.

    From the paper's Hugging Face ``ai_keywords`` when it has usable ones: those that share a
    distinctive word with the title first, phrases of up to three words before longer ones, in
    HF's order otherwise; filled up to two with the other keywords; never a keyword made of
    generic words only ("large language models", "LLMs"), the paper's own name, nor one that
    contains a phrase already offered ("MCP testbed" after "MCP"). Otherwise its most distinctive
    title words: no stop words, no generic ML words (model, learning, via...), no one-word name
    before a colon; those the abstract repeats most come first. Each phrase fits
    ``Subscriber.muted_topics`` (2 to 60 characters)."""
    return _keyword_candidates(title, keywords, limit) or _title_candidates(title, abstract, limit)


# --- Papers to pick -------------------------------------------------------------------------------


def papers_to_pick(*, days: int = PICK_DAYS, limit: int = PICK_LIMIT) -> list[Paper]:
    """The most upvoted papers listed on the last ``days`` listed days, each once, best first."""
    latest = DailyEntry.objects.latest_day()
    if latest is None:
        return []
    best = (
        DailyEntry.objects.listed()
        .filter(day__gt=latest - dt.timedelta(days=days))
        .values("paper_id")
        .annotate(top=Max("upvotes"), last=Max("day"))
        .order_by("-top", "-last", "paper_id")[:limit]
    )
    ids = [row["paper_id"] for row in best]
    authors = Prefetch("author_links", queryset=PaperAuthor.objects.select_related("author"))
    # django-stubs 5.2 rejects any Prefetch on a manager made by as_manager() (typeddjango/django-stubs#3263).
    papers = Paper.objects.prefetch_related(authors).in_bulk(ids)  # type: ignore[arg-type]
    return [papers[pk] for pk in ids if pk in papers]


def is_muted(paper: Paper, muted: list[str]) -> bool:
    """Whether a muted phrase hides ``paper`` (the ranking's rule, on the text it ranks)."""
    if not muted:  # most readers mute nothing: skip building the text
        return False
    keywords = paper.ai_keywords if isinstance(paper.ai_keywords, list) else []
    text = paper_text(paper.title, paper.abstract, paper.ai_summary, [k for k in keywords if isinstance(k, str)])
    return mentions(text, muted)


def pickable(paper_id: int) -> Paper | None:
    """A paper the pick page may record: one that is listed (approved, complete) on some day."""
    if not DailyEntry.objects.listed().filter(paper_id=paper_id).exists():
        return None
    return Paper.objects.filter(pk=paper_id).first()
