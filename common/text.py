import re


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 paper", "3 papers"; irregular words give their plural: plural(2, "delivery", "deliveries")."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


# Words that end with a period without ending a sentence: "et al. (2024)", "e.g. text", "Fig. 2",
# "Eq. (3)", "vs. GPT-4". Compared lowercased, without the final period.
# fmt: off
ABBREVIATIONS = frozenset({
    "al", "e.g", "i.e", "cf", "vs", "etc", "approx", "resp", "viz", "ca", "fig", "figs", "eq",
    "eqs", "sec", "secs", "sect", "tab", "tabs", "ref", "refs", "app", "appx", "alg", "algo",
    "thm", "lem", "def", "prop", "cor", "ch", "chap", "no", "nos", "vol", "pp", "ed", "eds", "dr",
    "prof", "mr", "mrs", "ms", "st", "jr", "sr", "inc", "ltd", "corp", "dept", "univ", "est"
})
# fmt: on
# A sentence ends at ".", "!" or "?" (closing quotes or brackets may follow) before a space and a
# capital letter, a digit, or an opening quote or bracket; "3.5", "b.c" or "U.S.-based" never end one.
_SENTENCE_END = re.compile(r"""[.!?]+["'”’)\]]*(?=\s+["'“‘(\[]*[A-Z0-9])""")
_LAST_WORD = re.compile(r"""[\w.'-]+$""")


def first_sentences(text: str, budget: int = 300) -> str:
    """The first sentences of ``text`` (its whitespace collapsed) that fit in ``budget``
    characters, cut at a sentence boundary; the whole text when it fits. When even the first
    sentence is longer, it is cut at a word boundary with an ellipsis.

    Written here rather than taken from a library: the sentence splitters on PyPI (pysbd, syntok)
    are unmaintained since 2021-22 and cut after "Eq." in "Eq. (3)" (both) or "approx." in
    "approx. 12.5" (pysbd, at 16 ms an abstract); abstracts need only the boundary rule above and
    a list of the abbreviations papers use."""
    text = " ".join(text.split())
    if len(text) <= budget:
        return text
    end = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > budget:
            break
        word = _LAST_WORD.search(text, 0, match.start())
        last = word.group().lower() if word else ""
        # An abbreviation, or an initial ("J. Smith", "A. Vaswani"): not the end of a sentence.
        if match.group().startswith(".") and (last in ABBREVIATIONS or (len(last) == 1 and last.isalpha())):
            continue
        end = match.end()
    if end:
        return text[:end]
    cut = text[: budget - 1]
    space = cut.rfind(" ")
    if space > budget // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—·") + "…"
