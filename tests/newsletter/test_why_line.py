"""The words of a digest's "why this paper" line and its personal subject (newsletter/personal.py):
plain functions of the planner's reason codes, hostile user text included."""

from __future__ import annotations

import pytest

from newsletter.personal import PHRASE_CHARS, WHY_CHARS, personal_subject, shorten, why_line


@pytest.mark.parametrize(
    ("codes", "line"),
    [
        (["interest:time series forecasting"], "Matches your interest: time series forecasting"),
        (["interest:time series", "interest:forecasting"], "Matches your interests: time series, forecasting"),
        (["author:Yann LeCun"], "By Yann LeCun, whom you follow"),
        (["author:Yann LeCun", "author:Yoshua Bengio"], "By Yann LeCun and Yoshua Bengio, whom you follow"),
        (["author:A", "author:B", "author:C", "author:D"], "By A, B and 2 more, whom you follow"),
        (["pick"], "Editor's pick"),
        (["liked"], "Similar to a paper you liked"),
        (["trending"], "Trending today"),
        (["pick", "interest:diffusion"], "Editor's pick · matches: diffusion"),
        (["interest:diffusion", "pick"], "Editor's pick · matches: diffusion"),
        (
            ["interest:diffusion", "author:Yann LeCun", "liked"],
            "Matches your interest: diffusion · by Yann LeCun, whom you follow · similar to a paper you liked",
        ),
        (["trending", "liked"], "Similar to a paper you liked"),  # trending only when nothing personal
        (["pick", "trending"], "Editor's pick"),
        (
            ["interest:a", "interest:b", "interest:c", "interest:d", "interest:e"],
            "Matches your interests: a, b, c and 2 more",
        ),
        (["interest:RAG", "interest:RAG", "interest: RAG "], "Matches your interest: RAG"),  # said once
    ],
)
def test_each_reason_in_plain_words(codes, line):
    assert why_line(codes) == line


def test_a_weekly_digest_trends_this_week():
    assert why_line(["trending"], weekly=True) == "Trending this week"
    assert why_line(["interest:x"], weekly=True) == "Matches your interest: x"


@pytest.mark.parametrize(
    "codes",
    [[], None, "trending", {"interest": "x"}, [1, 2], [None], ["unknown"], ["interest:", "author:  "], ["future:x"]],
)
def test_no_reason_no_line_and_never_an_error(codes):
    assert why_line(codes) == ""


def test_unknown_codes_and_non_strings_are_ignored_beside_known_ones():
    assert why_line(["someday:new", 7, None, ["nested"], "liked"]) == "Similar to a paper you liked"


def test_a_phrase_with_html_is_plain_text_here():
    """Escaped where the HTML part is filled in (tests/newsletter/test_digest_personal.py)."""
    codes = ['interest:<img src=x onerror="alert(1)"> & <b>co</b>']
    assert why_line(codes) == 'Matches your interest: <img src=x onerror="alert(1)"> & <b>co</b>'


def test_line_breaks_and_control_characters_in_a_phrase_become_one_line():
    line = why_line(["interest:time series\r\nBcc: victim@example.org\x00\tforecasting\u2028x\u202e"])
    assert line == "Matches your interest: time series Bcc: victim@example.org forecasting x"
    assert "\r" not in line and "\n" not in line


def test_very_long_phrases_and_lines_are_cut_at_a_word():
    long_phrase = "graph neural networks for " * 20
    line = why_line([f"interest:{long_phrase}"])
    phrase = line.removeprefix("Matches your interest: ")
    assert len(phrase) <= PHRASE_CHARS and phrase.endswith("…")
    assert long_phrase.startswith(phrase.removesuffix("…")), "cut, not rewritten"
    assert phrase.removesuffix("…").endswith(("networks", "for", "graph", "neural"))  # a whole word

    many = why_line(["pick", *(f"interest:{n} {long_phrase}" for n in range(3)), "liked"])
    assert len(many) <= WHY_CHARS and many.endswith("…") and many.startswith("Editor's pick · matches: 0 graph")

    name = why_line(["author:" + "Q" * 500])  # one long word is cut inside it
    assert name == f"By {'Q' * (PHRASE_CHARS - 1)}…, whom you follow"


def test_shorten():
    assert shorten("short", 60) == "short"
    assert shorten("TEMPO: Prompt-based Generative Pre-trained Transformer for Time Series Forecasting", 60) == (
        "TEMPO: Prompt-based Generative Pre-trained Transformer for…"
    )
    assert shorten("a" * 100, 10) == "aaaaaaaaa…"
    assert shorten("Attention is all you need, really: a study", 28) == "Attention is all you need…"


def test_personal_subject():
    title = "TEMPO: Prompt-based Generative Pre-trained Transformer for Time Series Forecasting"
    assert personal_subject(title, 9) == (
        "TEMPO: Prompt-based Generative Pre-trained Transformer for… — and 9 more papers for you"
    )
    assert personal_subject("TEMPO: prompt-based forecasting", 1) == (
        "TEMPO: prompt-based forecasting — and 1 more paper for you"
    )
    assert personal_subject("TEMPO: prompt-based forecasting", 0) == "TEMPO: prompt-based forecasting"
    assert (
        personal_subject("A title\r\nBcc: x@example.org", 2) == "A title Bcc: x@example.org — and 2 more papers for you"
    )
