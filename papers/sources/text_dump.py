"""The visible text of a papers listing page, copied from a browser and pasted as is.

Such a dump opens with a few header lines ("Get trending papers in your email inbox!", "Subscribe",
"Daily Papers", "Apr 21"...), then gives each paper as its title on one line, a blank line, its
abstract as one paragraph and a blank line. Line endings may be CRLF; trailing spaces are ignored.

The rule: the text is cut into blocks at blank lines. A block is a paper's title when, apart from
lines that are only an arXiv id or URL, it is one line of at most 300 characters, and the very next
block is an abstract: a paragraph of at least 150 characters and 20 words (its lines joined). Every
other block (headers, dates, buttons, upvote counts, stray paragraphs) is skipped, so a header line
never becomes a title unless it sits directly above an abstract. A title followed by a sentence
too short to be an abstract (8 words or more ending in a full stop, but under the minimum) is
reported as a skipped paper, never dropped silently.

There are no ids in such a dump: records get ``arxiv_id=""`` and ingest matches them by title.
When the title block or the abstract block has a line that is only an arXiv id or an arXiv/HF URL,
or the title line contains one (``[2405.01234] Title``), that id is used and removed from the title.
Ids mentioned inside an abstract's prose are not used, nor are ids standing alone between blank lines.
``rank`` is the paper's 1-based position in the dump; ``listed_on`` is the argument.
Titles and abstracts are read like the HF sources' text (``papers.text.html_to_text``): pasted
markup goes, "p<0.05" and "0<p and q>1" stay.
"""

from __future__ import annotations

import datetime as dt

from papers.sources.base import PaperRecord, ParseResult, SourceError
from papers.sources.hf_api import decode, snippet
from papers.text import canonical_arxiv_id, html_to_text

NAME = "text"
TITLE_MAX_CHARS = 300
ABSTRACT_MIN_CHARS = 150
ABSTRACT_MIN_WORDS = 20
SHORT_PROSE_WORDS = 8  # a shorter block after a title line is page furniture ("Subscribe", "Apr 21"), not a paper
_WHAT = "text dump"
_BRACKETS = "<>()[]\"'.,;:"
_SEPARATORS = " -:|\u2013\u2014"  # what separates an id from the title: spaces, colons, bars, dashes


def parse(data: bytes | str, *, listed_on: dt.date | None = None) -> ParseResult:
    """Records from a pasted listing; text in which no paper can be found raises ``SourceError``."""
    text = decode(data, _WHAT)
    if "\x00" in text:
        raise SourceError(f"{_WHAT}: this looks like binary data, not pasted text")

    blocks = _blocks(text)
    result = ParseResult()
    seen: dict[str, int] = {}
    number = 0
    index = 0
    while index < len(blocks):
        title_line, ids = _title(blocks[index])
        abstract = _abstract(blocks[index + 1]) if title_line and index + 1 < len(blocks) else None
        if abstract is None:
            short = _short_abstract(blocks, index + 1) if title_line else ""
            if short:  # a paper after all, with too little text to tell it from page furniture: say so
                result.errors.append(f"{snippet(html_to_text(title_line), 60)!r}: skipped, {short}")
                index += 2
                continue
            index += 1
            continue
        index += 2
        number += 1
        abstract_text, abstract_ids = abstract
        title, title_ids = _strip_ids(title_line)
        found = ids + title_ids + abstract_ids
        arxiv_id = found[0] if found else ""
        title = html_to_text(title)
        if not title:
            result.errors.append(f"paper {number}: no title left after removing markup from {title_line[:60]!r}")
            continue
        key = arxiv_id or title.casefold()
        if key in seen:
            result.errors.append(f"paper {number} ({snippet(title, 60)}): duplicate of paper {seen[key]}")
            continue
        seen[key] = number
        result.records.append(
            PaperRecord(
                arxiv_id=arxiv_id,
                title=title,
                abstract=html_to_text(abstract_text),
                pdf_url=f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else "",
                listed_on=listed_on,
                rank=number,
            )
        )

    if not result.records and not result.errors:
        raise SourceError(
            f"{_WHAT}: found no papers. Expected each paper as a title line, a blank line, then its abstract "
            f"as one paragraph of at least {ABSTRACT_MIN_CHARS} characters; the text starts {snippet(text)!r}"
        )
    return result


def _blocks(text: str) -> list[list[str]]:
    """Runs of non-blank lines, each line stripped."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def _id_line(line: str) -> str:
    """The id when the whole line is an arXiv id or an arXiv/HF URL, else ``""``."""
    return canonical_arxiv_id(line.strip(_BRACKETS))


def _title(block: list[str]) -> tuple[str, list[str]]:
    """The title line and ids of a title-shaped block, or ``("", [])``."""
    ids = [identifier for identifier in map(_id_line, block) if identifier]
    rest = [line for line in block if not _id_line(line)]
    if len(rest) != 1 or len(rest[0]) > TITLE_MAX_CHARS:
        return "", []
    return rest[0], ids


def _abstract(block: list[str]) -> tuple[str, list[str]] | None:
    """The paragraph and ids of an abstract-shaped block, or ``None``."""
    ids = [identifier for identifier in map(_id_line, block) if identifier]
    paragraph = " ".join(line for line in block if not _id_line(line))
    if len(paragraph) < ABSTRACT_MIN_CHARS or len(paragraph.split()) < ABSTRACT_MIN_WORDS:
        return None
    return paragraph, ids


def _short_abstract(blocks: list[list[str]], index: int) -> str:
    """Why ``blocks[index]``, after a title line, is too short to be its abstract, or ``""`` when it
    is no abstract at all: under 8 words, not ending a sentence, or the next paper's title."""
    if index >= len(blocks):
        return ""
    block = blocks[index]
    paragraph = " ".join(line for line in block if not _id_line(line))
    words = len(paragraph.split())
    if words < SHORT_PROSE_WORDS or not paragraph.endswith((".", "?", "!", ")")):
        return ""
    if _title(block)[0] and index + 1 < len(blocks) and _abstract(blocks[index + 1]):
        return ""
    return (
        f"its abstract has {len(paragraph)} characters and {words} words; an abstract needs at least "
        f"{ABSTRACT_MIN_CHARS} characters and {ABSTRACT_MIN_WORDS} words (paste the whole abstract)"
    )


def _strip_ids(line: str) -> tuple[str, list[str]]:
    """``line`` without the arXiv ids/URLs among its words, and those ids."""
    words, ids = [], []
    for word in line.split():
        identifier = canonical_arxiv_id(word.strip(_BRACKETS))
        if identifier:
            ids.append(identifier)
        else:
            words.append(word)
    return " ".join(words).strip(_SEPARATORS), ids
