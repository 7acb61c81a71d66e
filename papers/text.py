"""Normalizing what sources scrape: plain text, canonical arXiv ids, safe links."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

# Markup that shows up in scraped titles and abstracts. Only real tag names are stripped, so that
# plain-text mathematics such as "$a<b$" or "p<0.05" survives untouched.
_TAG_NAMES = (
    "a|abbr|b|blockquote|br|code|div|em|font|h[1-6]|hr|i|img|li|mark|ol|p|pre|s|small|span|strong|sub|sup|"
    "table|tbody|td|th|thead|tr|tt|u|ul|script|style|iframe|object|embed|svg|math|form|input|button|link|meta"
)
_SCRIPT_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(rf"</?(?:{_TAG_NAMES})(?:\s[^<>]*)?/?>", re.IGNORECASE)
# Openers of executable or embedding markup that survive unclosed ("x <script y", "<svg/onload=...").
_DANGEROUS_OPENER = re.compile(
    r"<\s*/?\s*(?:script|(?:style|iframe|object|embed|svg|math|img|form|link|meta)\b)[^<>]*>?", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
_SPACE = re.compile(r"\s+")


def plain_text(value: object) -> str:
    """Plain text on one line: tags stripped, entities decoded, whitespace (including the hard
    wraps of legacy arXiv text, CR and LF) collapsed. LaTeX such as ``$\\alpha$`` is kept as typed.
    Anything but a string (None, numbers from a malformed payload) gives ``""``."""
    if not isinstance(value, str):
        return ""
    text = value
    text = _SCRIPT_BLOCK.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = _TAG.sub(" ", text)  # markup that arrived entity-encoded (&lt;b&gt;) is markup too
    text = _DANGEROUS_OPENER.sub(" ", text)
    text = _CONTROL.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


# New-style ids (0704.0001 onwards) and old-style archive/YYMMNNN ids, each with an optional version.
_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
_WHOLE_ID = re.compile(rf"^(?:arxiv:)?({_NEW_ID}|{_OLD_ID})(?:v\d+)?$", re.IGNORECASE | re.ASCII)
_ID_IN_URL = re.compile(
    rf"^https?://(?:www\.|export\.)?(?:arxiv\.org/(?:abs|pdf|html)|huggingface\.co/papers|hf\.co/papers)/"
    rf"({_NEW_ID}|{_OLD_ID})(?:v\d+)?(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE | re.ASCII,
)


def canonical_arxiv_id(value: str) -> str:
    """The versionless arXiv id in ``value`` (an id, ``arXiv:id``, or an arXiv/HF URL), or ``""``.

    >>> canonical_arxiv_id("https://arxiv.org/pdf/2405.01234v3.pdf")
    '2405.01234'
    >>> canonical_arxiv_id("astro-ph/0601001v1")
    'astro-ph/0601001'
    """
    value = (value or "").strip()
    match = _WHOLE_ID.match(value) or _ID_IN_URL.match(value)
    if not match:
        return ""
    identifier = match.group(1)
    # Old-style archive names are lower case; the subject class suffix (math.GT) is upper case.
    if "/" in identifier:
        archive, number = identifier.split("/", 1)
        name, _, subject = archive.partition(".")
        identifier = f"{name.lower()}{'.' + subject.upper() if subject else ''}/{number}"
    return identifier


def find_arxiv_ids(text: str) -> list[str]:
    """Every distinct arXiv id or arXiv/HF URL mentioned in free text, in order."""
    found: list[str] = []
    for token in re.split(r"[\s,;]+", text or ""):
        identifier = canonical_arxiv_id(token.strip("<>()[]\"'"))
        if identifier and identifier not in found:
            found.append(identifier)
    return found


def safe_url(value: object) -> str:
    """``value`` when it is an absolute http(s) URL without whitespace or control characters, else ``""``.

    Keeps ``javascript:``, ``data:`` and relative URLs out of every href we render."""
    if not isinstance(value, str):
        return ""
    url = value.strip()
    if not url or len(url) > 2000 or _SPACE.search(url) or _CONTROL.search(url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return url
