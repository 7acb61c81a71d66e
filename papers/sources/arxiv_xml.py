"""Reading all of arXiv's XML into ``PaperRecord``s: the announcement feeds of rss.arxiv.org (RSS 2.0
and Atom, every announce type), the export API's Atom responses (2026 and legacy formats, and its
error feed) and OAI-PMH ``ListRecords`` pages (metadataPrefix=arXiv).

``papers.sources.arxiv`` is the source's public face: the export API client and the feed fetching,
with ``parse`` and ``parse_feed`` from here.

Truncated or broken downloads: the document is read as a stream, and every entry that was complete
before the XML broke off is kept; ``result.errors`` gets one line saying the feed was truncated or
not well-formed after N entries, and the entry that was cut (if any) is dropped, never half-read.
A document that breaks before its first complete entry, or that is not an arXiv feed at all (HTML,
JSON, random text), raises ``SourceError``. Salvaging is the better failure for a daily listing:
yesterday's 86 complete papers are worth more than none, and the error line keeps the cut visible.

Dates: an announcement feed entry's date is the day of *that* announcement. It is kept as the
paper's ``published`` date only for ``new`` and ``cross`` entries of a first version announced in
the month its id was minted; replacements (and anything implausible) get ``None`` ("not known").
Feeds list the primary category first (checked against the cs.AI capture: every ``new`` entry
starts with cs.AI, no ``cross`` entry does), so the first category becomes ``primary_category``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from papers.sources.base import PaperRecord, ParseResult, SourceError
from papers.text import canonical_arxiv_id, plain_text, safe_url, tex_to_text

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
OAI_ARXIV = "{http://arxiv.org/OAI/arXiv/}"

ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")
MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64

# root tag -> (kind, entry tag, tag of the entry's parent)
_FORMATS = {
    ATOM + "feed": ("atom", ATOM + "entry", ATOM + "feed"),
    "rss": ("rss", "item", "channel"),
    OAI + "OAI-PMH": ("oai", OAI + "record", OAI + "ListRecords"),
}
CATEGORY = re.compile(r"^[a-z]+(?:-[a-z]+)?(?:\.[A-Za-z]+(?:-[a-z]+)?)?$")
_API_ERROR = re.compile(r"^https?://(?:export\.)?arxiv\.org/api/errors", re.IGNORECASE)
_OAI_PREFIX = re.compile(r"^oai:arxiv\.org:", re.IGNORECASE)
_VERSION = re.compile(r"v(\d+)$")
_ANNOUNCE = re.compile(r"^\s*arXiv:(\S+)\s+Announce Type:\s*([A-Za-z-]+)\s*(?:Abstract:\s*)?", re.IGNORECASE)
_SUFFIX = re.compile(r"^(?:jr|sr|ii|iii|iv)\.?$", re.IGNORECASE)


class ArxivApiError(SourceError):
    """The export API answered with its error feed (bad id, bad query...)."""


@dataclass
class Document:
    kind: str  # "atom", "rss" or "oai"
    root: ET.Element
    entries: list[ET.Element] = field(default_factory=list)
    total_results: int | None = None
    problem: str = ""  # set when the XML broke off after some complete entries


class _Broken(Exception):
    pass


def read(data: bytes | str) -> Document:
    """The entries of an arXiv XML document, read as a stream so a truncated one keeps its head.

    defusedxml's parser refuses entity declarations (billion laughs, external entities) in any
    encoding, before anything is expanded or fetched; a DOCTYPE without them is allowed."""
    data = _checked(data)
    reader = _Reader()
    try:
        for kind, element in iterparse(
            io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data), ("start", "end")
        ):
            reader.take(kind, element)
    except DefusedXmlException as exc:  # a ValueError: before the general case below
        raise SourceError(
            f"the arXiv response declares XML entities, which no arXiv feed does ({exc}); refusing to read it"
        ) from None
    except (ET.ParseError, _Broken, ValueError, LookupError, UnicodeError) as exc:
        reader.broke_off(exc, data)
    if reader.doc is None:  # unreachable: a document without a root element fails to parse
        raise SourceError("the arXiv response holds no XML element")
    return reader.doc


def _checked(data: bytes | str) -> bytes | str:
    """``data`` if it may be parsed at all: bytes or text, not empty, not huge."""
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes | str):
        raise SourceError(f"expected the bytes of an arXiv feed, got {type(data).__name__}")
    if not data.strip():
        raise SourceError("the arXiv response is empty")
    if len(data) > MAX_BYTES:
        raise SourceError(f"the arXiv response is too large ({len(data)} bytes)")
    return data


class _Reader:
    """Builds the ``Document`` from the parser's start and end events."""

    def __init__(self) -> None:
        self.doc: Document | None = None
        self.entry_tag = self.parent_tag = ""
        self.stack: list[str] = []  # the tags of the open elements
        self.in_entry = False

    def take(self, kind: str, element: object) -> None:
        """One event of the parser: start or end, the only kinds it was asked for, each with its element."""
        if not isinstance(element, ET.Element):  # a namespace event; never asked for
            return
        if kind == "start":
            self.start(element)
        else:
            self.end(element)

    def start(self, element: ET.Element) -> None:
        if self.doc is None:
            if element.tag not in _FORMATS:
                raise SourceError(f"expected an arXiv Atom, RSS or OAI-PMH document, found <{_local(element.tag)}>")
            kind, self.entry_tag, self.parent_tag = _FORMATS[element.tag]
            self.doc = Document(kind=kind, root=element)
        if len(self.stack) >= MAX_DEPTH:
            raise _Broken(f"elements nested more than {MAX_DEPTH} deep")
        if self._is_entry(element):
            self.in_entry = True
        self.stack.append(element.tag)

    def end(self, element: ET.Element) -> None:
        self.stack.pop()
        assert self.doc is not None  # the root element's start event came first and made it
        if self._is_entry(element):
            self.doc.entries.append(element)
            self.in_entry = False
        elif element.tag == OPENSEARCH + "totalResults" and re.fullmatch(r"[0-9]{1,12}", _text(element)):
            self.doc.total_results = int(_text(element))

    def _is_entry(self, element: ET.Element) -> bool:
        """An entry, not some other element of the same name deeper down."""
        return element.tag == self.entry_tag and bool(self.stack) and self.stack[-1] == self.parent_tag

    def broke_off(self, exc: Exception, data: bytes | str) -> None:
        """The XML broke off: keep the complete entries and say so, or raise if there are none."""
        if self.doc is None:
            start = data[:60] if isinstance(data, str) else data[:60].decode("utf-8", "replace")
            raise SourceError(f"the arXiv response is not XML ({exc}); it starts with {start!r}") from None
        if not self.doc.entries:
            raise SourceError(f"the arXiv {self.doc.kind} document breaks off before its first entry ({exc})") from None
        count = len(self.doc.entries)
        dropped = f"; the incomplete entry {count + 1} was dropped" if self.in_entry else ""
        self.doc.problem = f"feed truncated or not well-formed after {count} complete entries ({exc}){dropped}"


def _local(tag: str) -> str:
    return plain_text(tag.rpartition("}")[2])[:40]


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


@dataclass
class Raw:
    """An entry's fields as found, before cleaning; ``ids`` lists candidates, best first."""

    ids: list[str]
    title: str
    summary: str
    authors: list[str]
    categories: list[str]
    published: str
    primary: str = ""
    primary_first: bool = False  # the source lists the primary category first
    pdf: str = ""
    announce_type: str = ""


class Skip(Exception):
    """This entry cannot become a record; the message says why."""

    def __init__(self, reason: str, label: str = ""):
        super().__init__(reason)
        self.label = label


def split_authors(values: list[str]) -> list[str]:
    """``dc:creator`` holds one comma-separated string; "Jr." and friends stay with their name."""
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            part = re.sub(r"^\s*and\s+", "", part).strip()
            if names and _SUFFIX.match(part):
                names[-1] = f"{names[-1]}, {part}"
            elif part:
                names.append(part)
    return names


def atom_raw(entry: ET.Element) -> Raw:
    raw_id = _text(entry.find(ATOM + "id"))
    if _API_ERROR.match(raw_id):
        message = plain_text(_text(entry.find(ATOM + "summary"))) or plain_text(
            raw_id.rpartition("#")[2].replace("_", " ")
        )
        raise ArxivApiError(f"arXiv API error: {message or 'unspecified'}")
    links = entry.findall(ATOM + "link")
    pdf = next((link.get("href", "") for link in links if link.get("title") == "pdf"), "")
    alternate = next((link.get("href", "") for link in links if link.get("rel", "alternate") == "alternate"), "")
    primary = entry.find(ARXIV + "primary_category")
    authors = [_text(author.find(ATOM + "name")) for author in entry.findall(ATOM + "author")]
    return Raw(
        ids=[raw_id, alternate],
        title=_text(entry.find(ATOM + "title")),
        summary=_text(entry.find(ATOM + "summary")),
        authors=authors or split_authors([_text(c) for c in entry.findall(DC + "creator")]),
        categories=[category.get("term", "") for category in entry.findall(ATOM + "category")],
        published=_text(entry.find(ATOM + "published")),
        primary=primary.get("term", "") if primary is not None else "",
        pdf=pdf,
        announce_type=_text(entry.find(ARXIV + "announce_type")),
    )


def rss_raw(item: ET.Element) -> Raw:
    return Raw(
        ids=[_text(item.find("guid")), _text(item.find("link"))],
        title=_text(item.find("title")),
        summary=_text(item.find("description")),
        authors=split_authors([_text(c) for c in item.findall(DC + "creator")]),
        categories=[_text(category) for category in item.findall("category")],
        published=_text(item.find("pubDate")),
        primary_first=True,
        announce_type=_text(item.find(ARXIV + "announce_type")),
    )


def oai_raw(record: ET.Element) -> Raw:
    header = record.find(OAI + "header")
    if header is not None and header.get("status") == "deleted":
        raise Skip("deleted record", f" ({_text(header.find(OAI + 'identifier'))[:80]})")
    meta = record.find(f"{OAI}metadata/{OAI_ARXIV}arXiv")
    if meta is None:
        raise Skip("no arXiv metadata (was metadataPrefix=arXiv asked for?)")
    authors = []
    for author in meta.findall(f"{OAI_ARXIV}authors/{OAI_ARXIV}author"):
        parts = (_text(author.find(OAI_ARXIV + name)) for name in ("forenames", "keyname", "suffix"))
        authors.append(" ".join(part for part in parts if part))
    return Raw(
        ids=[_text(meta.find(OAI_ARXIV + "id")), _text(header.find(OAI + "identifier")) if header is not None else ""],
        title=_text(meta.find(OAI_ARXIV + "title")),
        summary=_text(meta.find(OAI_ARXIV + "abstract")),
        authors=authors,
        categories=_text(meta.find(OAI_ARXIV + "categories")).split(),
        published=_text(meta.find(OAI_ARXIV + "created")),  # the date of version 1
        primary_first=True,
    )


READERS = {"atom": atom_raw, "rss": rss_raw, "oai": oai_raw}


def parse_date(value: str) -> dt.date | None:
    """ISO 8601 (Atom, OAI) or RFC 822 (RSS) to the calendar date in the timestamp's own zone."""
    value = value.strip()
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).date()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _first_announcement(announce: str, version: int | None, arxiv_id: str, day: dt.date | None) -> bool:
    if announce not in ("new", "cross") or version not in (None, 1) or day is None:
        return False
    if re.match(r"^\d{4}\.", arxiv_id):  # new-style ids start with the YYMM they were minted in
        minted = (2000 + int(arxiv_id[:2])) * 12 + int(arxiv_id[2:4])
        return abs(day.year * 12 + day.month - minted) <= 1
    return True


def to_record(raw: Raw) -> tuple[PaperRecord, str]:
    """The record for ``raw`` and its announce type ("" outside announcement feeds)."""
    summary, announce = raw.summary, raw.announce_type.strip().lower()
    ids = list(raw.ids)
    match = _ANNOUNCE.match(summary)
    if match:  # an RSS description starts "arXiv:<id> Announce Type: <type> Abstract:"
        summary = summary[match.end() :]
        announce = announce or match.group(2).lower()
        ids.append(match.group(1))
    arxiv_id, version = _arxiv_id(ids)
    title = plain_text(raw.title)
    if not title:
        raise Skip("no title", f" ({arxiv_id})")
    categories, primary = _categories(raw, announce)
    published = parse_date(raw.published)
    if announce and not _first_announcement(announce, version, arxiv_id, published):
        published = None
    record = PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=plain_text(summary),
        authors=tuple(_unique(tex_to_text(plain_text(value)) for value in raw.authors)),
        published=published,
        categories=tuple(categories),
        primary_category=primary,
        pdf_url=safe_url(raw.pdf) or f"https://arxiv.org/pdf/{arxiv_id}",
    )
    return record, announce


def _arxiv_id(ids: list[str]) -> tuple[str, int | None]:
    """The first candidate that is an arXiv id, canonical, and its version (None if it names none)."""
    for candidate in ids:
        candidate = _OAI_PREFIX.sub("", candidate.strip())
        arxiv_id = canonical_arxiv_id(candidate)
        if arxiv_id:
            found = _VERSION.search(candidate)
            return arxiv_id, int(found.group(1)) if found else None
    shown = plain_text(next((i for i in ids if i.strip()), ""))[:80]
    raise Skip(f"unrecognised arXiv id {shown!r}" if shown else "no arXiv id")


def _categories(raw: Raw, announce: str) -> tuple[list[str], str]:
    """The valid categories, primary first, and the primary one ("" when not known)."""
    categories = _unique(category for category in map(plain_text, raw.categories) if CATEGORY.match(category))
    primary = plain_text(raw.primary)
    if not CATEGORY.match(primary):
        primary = categories[0] if categories and (raw.primary_first or announce) else ""
    if primary and primary not in categories:
        categories.insert(0, primary)
    return categories, primary


def _unique(values: Iterable[str]) -> list[str]:
    """``values`` in order, without empty ones and repeats."""
    return [value for value in dict.fromkeys(values) if value]


@dataclass
class Page:
    result: ParseResult
    kind: str
    total_results: int | None
    entries: int


def parse_document(data: bytes | str, *, announce_types: tuple[str, ...] | None = None) -> Page:
    """Every entry of ``data`` as a record or an error line; announcement entries whose type is
    not in ``announce_types`` (None = all) are left out silently, as a choice rather than an error."""
    doc = read(data)
    if doc.kind == "oai":
        _check_oai(doc.root)
    wanted = None if announce_types is None else {kind.strip().lower() for kind in announce_types}
    result, seen = ParseResult(), set()
    for index, entry in enumerate(doc.entries, 1):
        try:
            record, announce = to_record(READERS[doc.kind](entry))
        except Skip as skip:
            result.errors.append(f"entry {index}{skip.label}: {skip}")
            continue
        if wanted is not None and announce and announce not in wanted:
            continue
        if record.arxiv_id not in seen:
            seen.add(record.arxiv_id)
            result.records.append(record)
    if doc.problem:
        result.errors.append(doc.problem)
    return Page(result, doc.kind, doc.total_results, len(doc.entries))


def _check_oai(root: ET.Element) -> None:
    for error in root.findall(OAI + "error"):
        code = error.get("code", "")
        if code != "noRecordsMatch":
            raise SourceError(f"arXiv OAI-PMH error {plain_text(code)}: {plain_text(_text(error))}".strip())


def parse_feed(data: bytes | str, *, announce_types: Iterable[str] | None = ("new", "cross")) -> ParseResult:
    """An announcement feed (RSS 2.0 or Atom) keeping only entries of ``announce_types``
    (any of ``ANNOUNCE_TYPES``; ``None`` keeps all). Entries without a type are always kept."""
    if isinstance(announce_types, str):
        announce_types = (announce_types,)
    return parse_document(data, announce_types=None if announce_types is None else tuple(announce_types)).result
