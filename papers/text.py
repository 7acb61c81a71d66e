"""Normalizing what sources scrape: plain text, canonical arXiv ids, safe links.

Two kinds of text arrive. XML sources (arXiv) deliver text: the XML parser has already decoded it,
and a "<" in it is a "<" ("$x<i and j>n$", "<think> tags"), so ``plain_text`` only collapses
whitespace and control characters. HTML sources (the Hugging Face API and pages, pasted text dumps)
deliver text that may carry markup, so ``html_to_text`` turns it into text with an HTML parser.
Text is stored as text either way; every template, feed and email escapes it when rendering.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urlsplit

from pylatexenc.latex2text import LatexNodes2Text

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
_SPACE = re.compile(r"\s+")


def plain_text(value: object) -> str:
    """Text on one line: control characters and runs of whitespace (the hard wraps of arXiv text,
    CR and LF) become one space, and the ends are stripped. Nothing else changes: a "<", "&" or
    ``$\\alpha$`` stays as it is. Anything but a string (None, numbers from a malformed payload) gives ``""``."""
    if not isinstance(value, str):
        return ""
    return _SPACE.sub(" ", _CONTROL.sub(" ", value)).strip()


_TEX = LatexNodes2Text()


def tex_to_text(value: str) -> str:
    """A name as arXiv writes it in TeX ("Hendrik Kra{\\ss}", "J\\"org", "Pi\\v{z}urica") in the
    letters it means ("Hendrik Kraß", "Jörg", "Pižurica"), on one line. Only text with a backslash
    is TeX: elsewhere a "%", "~" or "{" is just that character."""
    if "\\" not in value:
        return plain_text(value)
    return plain_text(unicodedata.normalize("NFC", _TEX.latex_to_text(value)))


# --- HTML to text ------------------------------------------------------------------------------------
#
# An HTML parser reads "0<p and q>1" as the text "0", a <p> tag with the attributes "and" and "q",
# and the text "1"; scraped abstracts are text with the odd bit of markup, so that would eat the
# mathematics. So a "<" is handed to the parser as markup only when what follows is a whole tag
# that HTML could mean: the name of a real HTML element and, if any, attributes that HTML has
# ("<b>", "<a href=...>", "<details open ontoggle=...>", "</p>"). Every other "<" is escaped to
# "&lt;" first and comes out as the text it was. The exceptions are elements that run or load
# something (script, iframe, svg...): they count as markup whatever their attributes, and such an
# opener that never closes ("x <script y") is dropped. The stdlib parser then does the rest:
# tags go (block-level ones leave a space, inline ones nothing), script and style go with their
# content (to the end of the text when never closed), entities are decoded once. Everything is one
# pass of regular expressions that cannot backtrack (possessive and atomic) and one parser pass,
# so the time is linear in the length; no "<" that reaches the parser can start the unclosed
# comments and declarations on which html.parser (and BeautifulSoup on top of it) is quadratic.
# A bare tag with a real name stays markup: "<s>" or "<video>" written as a token in an HF
# abstract is removed, as a browser would hide it.


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ELEMENTS = _names(
    "a abbr acronym address area article aside audio b bdi bdo big blink blockquote body br button canvas caption "
    "center cite code col colgroup data datalist dd del details dfn dialog dir div dl dt em fieldset figcaption "
    "figure font footer h1 h2 h3 h4 h5 h6 head header hgroup hr html i ins kbd label legend li main map mark "
    "marquee menu meter nav nobr ol optgroup option output p param picture pre progress q rp rt ruby s samp "
    "search section select small source span strike strong sub summary sup table tbody td textarea tfoot th "
    "thead time title tr track tt u ul var video wbr xmp "
    # MathML inside <math>
    "mi mn mo ms mtext mrow mfrac msqrt mroot msub msup msubsup munder mover munderover mtable mtr mtd "
    "mspace mstyle semantics annotation"
)
# Elements that run, load or restyle something: markup whatever their attributes, and their unclosed openers go.
_ACTIVE = _names(
    "script style iframe frame frameset object embed applet svg math img form input link meta base noscript template"
)
# Text inside these is code, not prose (html.parser reads them as raw text up to their end tag).
_HIDDEN = frozenset(HTMLParser.CDATA_CONTENT_ELEMENTS)
# Elements that are part of a line; every other tag separates words.
_INLINE = _names(
    "a abbr acronym b bdi bdo big cite code data del dfn em font i ins kbd mark nobr q s samp small span strike "
    "strong sub sup time tt u var wbr mi mn mo ms mtext mrow msub msup msubsup"
)
_ATTRIBUTES = _names(
    "abbr accept accept-charset accesskey action align allow allowfullscreen alt async autocapitalize "
    "autocomplete autofocus autoplay background bgcolor border cellpadding cellspacing charset checked cite "
    "class color cols colspan content contenteditable controls coords crossorigin datetime decoding default "
    "defer dir dirname disabled download draggable enctype enterkeyhint face for form formaction frameborder "
    "headers height hidden high href hreflang http-equiv id inert inputmode integrity is ismap itemid itemprop "
    "itemref itemscope itemtype kind label lang language list loading loop low max maxlength media method min "
    "minlength multiple muted name nonce novalidate open optimum pattern ping placeholder playsinline popover "
    "poster preload readonly referrerpolicy rel required reversed rows rowspan sandbox scope selected shape "
    "size sizes slot span spellcheck src srcdoc srclang srcset start step style summary tabindex target title "
    "translate type usemap valign value width wrap xmlns xmlns:xlink xlink:href xml:lang mathvariant "
    "displaystyle encoding"
)
_WS = "\t\n\f\r "  # HTML's whitespace, not Python's \s
_ATTRIBUTE = (
    rf"(?>[{_WS}/]++([^{_WS}\"'<>/=]++)"  # an attribute's name, after whitespace or "/"
    rf"(?:[{_WS}]*+=[{_WS}]*+(?:\"[^\"]*+\"|'[^']*+'|[^{_WS}\"'=<>`]++))?)"  # and its value, if any
)
_START_TAG = re.compile(rf"<([A-Za-z][A-Za-z0-9-]*+)((?:{_ATTRIBUTE})*+)[{_WS}/]*+>")
_END_TAG = re.compile(rf"</([A-Za-z][A-Za-z0-9-]*+)[{_WS}]*+>")
_ATTRIBUTE_NAMES = re.compile(_ATTRIBUTE)
_CANDIDATE = re.compile(r"<[A-Za-z/!]")  # nothing else can start markup
# "<script" opens nothing else ("<scriptx" too goes, so no stored text ever holds "<script").
_ACTIVE_OPENER = re.compile(
    rf"</?(?:script|(?:{'|'.join(sorted(_ACTIVE - {'script'}))})(?![A-Za-z0-9-]))[^<>]*+>?", re.IGNORECASE
)


def _is_markup(tag: re.Match[str]) -> bool:
    """Whether a whole start or end tag is one that HTML could mean, rather than text that looks like one."""
    name = tag[1].lower()
    if name in _ACTIVE:
        return True
    if tag.re is _END_TAG:
        return name in _ELEMENTS
    return name in _ELEMENTS and all(_is_attribute(found[1]) for found in _ATTRIBUTE_NAMES.finditer(tag[2]))


def _is_attribute(name: str) -> bool:
    name = name.lower()
    return name in _ATTRIBUTES or (name.startswith(("on", "data-", "aria-")) and len(name) > 2)


def _markup_only(value: str) -> str:
    """``value`` with every "<" that does not start real markup escaped, whole comments and unclosed
    active openers dropped: what is left for the parser has no "<" but the start of a whole tag."""
    out: list[str] = []
    i = 0
    comment_end = 0  # where the next "-->" is, or -1 when there is none any more
    while candidate := _CANDIDATE.search(value, i):
        j = candidate.start()
        out.append(value[i:j].replace("<", "&lt;"))
        if value.startswith("<!--", j) and comment_end >= 0:
            if comment_end < j + 2:
                comment_end = value.find("-->", j + 2)  # "<!-->" and "<!--->" are whole (empty) comments
            if comment_end >= 0:
                i = comment_end + 3
                continue
        tag = _START_TAG.match(value, j) or _END_TAG.match(value, j)
        if tag and _is_markup(tag):
            # The whole tag; a "<" inside a quoted value means the same there as "&lt;".
            out.append("<" + tag[0][1:].replace("<", "&lt;"))
            i = tag.end()
        elif opener := _ACTIVE_OPENER.match(value, j):
            out.append(" ")
            i = opener.end()
        else:
            out.append("&lt;")
            i = j + 1
    out.append(value[i:].replace("<", "&lt;"))
    return "".join(out)


class _TextOf(HTMLParser):
    """The text of markup whose every "<" starts a tag (``_markup_only`` made sure), with entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = ""  # the script or style element being skipped

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden = tag
        if tag not in _INLINE:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == self.hidden:
            self.hidden = ""
        if tag not in _INLINE:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(value: object) -> str:
    """Plain text on one line from text that may carry HTML: tags stripped (script and style with
    their content), entities decoded once, whitespace collapsed. A "<" that does not start a real
    tag is text: "holds when 0<p and q>1", "$x<i and j>n$" and "p<0.05" come out as written.
    Anything but a string gives ``""``."""
    if not isinstance(value, str):
        return ""
    parser = _TextOf()
    parser.feed(_markup_only(value))
    parser.close()
    # Decoding can spell an opener again ("&lt;script&gt;" is the text "<script>"): text, as it is
    # escaped wherever it is shown, but no stored text ever holds one.
    return plain_text(_ACTIVE_OPENER.sub(" ", "".join(parser.parts)))


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
