"""What a digest says to one reader in words: why each paper is there (``why_line``) and the
personal subject line. Pure functions of plain values; newsletter/rendering.py fills them into
the shared renderings."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

INTEREST = "interest:"
AUTHOR = "author:"
PERSONAL_PREFIXES = (INTEREST, AUTHOR)
PHRASE_CHARS = 60  # one interest phrase or author name in a why line
WHY_CHARS = 160  # a whole why line
TITLE_CHARS = 60  # a title in the subject or the preheader
SHOWN_PHRASES = 3
SHOWN_AUTHORS = 2

# Line breaks, control characters and bidi overrides in user text: a why line is one line, and
# U+202E could make a phrase display as something else.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_TRAILING = " ,;:.-–—·"


def one_line(text: str) -> str:
    """``text`` on one line: control characters and line breaks become spaces, runs of space one."""
    return " ".join(_CONTROL.sub(" ", _BIDI.sub("", text)).split())


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis (a word
    longer than half the limit is cut inside)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(_TRAILING) + "…"


def _listed(items: list[str], shown: int) -> str:
    """ "a", "a and b", "a, b and 2 more"."""
    if len(items) > shown:
        return f"{', '.join(items[:shown])} and {len(items) - shown} more"
    if len(items) > 1:
        return f"{', '.join(items[:-1])} and {items[-1]}"
    return items[0]


def _values(codes: Sequence[str], prefix: str) -> list[str]:
    values: list[str] = []
    for code in codes:
        if code.startswith(prefix):
            value = shorten(one_line(code[len(prefix) :]), PHRASE_CHARS)
            if value and value not in values:
                values.append(value)
    return values


def _worded(codes: tuple[str, ...], weekly: bool) -> str:
    interests, authors = _values(codes, INTEREST), _values(codes, AUTHOR)
    # (said first, said after another reason)
    parts: list[tuple[str, str]] = []
    if "pick" in codes:
        parts.append(("Editor's pick", "editor's pick"))
    if interests:
        phrases = ", ".join(interests[:SHOWN_PHRASES])
        if len(interests) > SHOWN_PHRASES:
            phrases += f" and {len(interests) - SHOWN_PHRASES} more"
        parts.append((f"Matches your interest{'s' if len(interests) > 1 else ''}: {phrases}", f"matches: {phrases}"))
    if authors:
        names = _listed(authors, SHOWN_AUTHORS)
        parts.append((f"By {names}, whom you follow", f"by {names}, whom you follow"))
    if "liked" in codes:
        parts.append(("Similar to a paper you liked", "similar to a paper you liked"))
    if not parts and "trending" in codes:  # a popularity pick only when nothing else explains it
        parts.append(("Trending this week" if weekly else "Trending today", ""))
    if not parts:
        return ""
    line = " · ".join([parts[0][0], *(after for _, after in parts[1:])])
    return shorten(line, WHY_CHARS)


def why_line(codes: object, *, weekly: bool = False) -> str:
    """Plain words for a paper's reason codes ("interest:<phrase>", "author:<name>", "liked",
    "pick", "trending"), e.g. "Editor's pick · matches: diffusion", on one line of at most
    WHY_CHARS characters. Unknown codes and anything that is not a list of strings are ignored
    (old rows, hand-edited ones): no reason, no line. Plain text: HTML callers escape it."""
    if not isinstance(codes, (list, tuple)):
        return ""
    return _worded(tuple(code for code in codes if isinstance(code, str)), weekly)


def is_personal(codes: object) -> bool:
    """Whether the codes say the paper was chosen for this reader (an interest, an author, a like)."""
    if not isinstance(codes, (list, tuple)):
        return False
    return any(isinstance(code, str) and (code.startswith(PERSONAL_PREFIXES) or code == "liked") for code in codes)


@functools.lru_cache(maxsize=1024)  # readers share their top paper and digest size
def personal_subject(title: str, others: int) -> str:
    """ "<title, shortened> — and 9 more papers for you"; just the title when it is the only paper."""
    short = shorten(one_line(title), TITLE_CHARS)
    if others <= 0:
        return short
    return f"{short} — and {others} more paper{'s' if others != 1 else ''} for you"
