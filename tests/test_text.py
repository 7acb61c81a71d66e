"""first_sentences: an abstract's first sentences up to a length budget, cut where a sentence ends
and nowhere else (not at "e.g.", "et al.", "Fig. 2", "3.5"), else at a word with an ellipsis."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.text import first_sentences


# "|" marks where the cut falls (what is shown is the text before it).
@pytest.mark.parametrize(
    ("marked", "budget"),
    [
        ("Short.|", 300),
        ("No final period and short|", 300),
        ("First sentence here.| Second sentence is longer than the rest.", 30),
        ("We follow Smith et al. (2024) closely.| Then more text follows here.", 50),
        ("Many tasks, e.g. Translation, improve a lot.| And more text comes after.", 50),
        ("As shown in Fig. 2 the loss falls quickly.| Then more text comes after.", 50),
        ("It gains 3.5 points on MMLU here.| Then more text comes after this.", 40),
        ("We beat it vs. GPT-4 and Eq. (3) holds.| Then more text comes after.", 45),
        ("Work by A. Vaswani shows it well.| Then more text comes after this.", 40),
        ("Does it scale? Yes!| Then more text comes after this one here.", 25),
        ('They call it "the best."| Then more text comes after this one.', 30),
        ("Is the model (GPT-4o) good (see Sec. 4).| Then more text comes after.", 45),
        ("Code at https://github.com/a/b.c works.| Then more text comes after.", 40),
    ],
)
def test_cuts_at_a_sentence_boundary_only(marked, budget):
    shown, _, rest = marked.partition("|")
    assert first_sentences(shown + rest, budget) == shown


def test_whitespace_is_collapsed_and_a_long_first_sentence_cut_at_a_word():
    assert first_sentences("  Spaced\n out   text. Second one.  ") == "Spaced out text. Second one."
    long = "One very long first sentence without any end in sight at all and more"
    assert first_sentences(long, 30) == "One very long first sentence…"


def test_real_abstracts_end_at_a_sentence_end_within_the_budget(fixtures_dir):
    """Every abstract of the recorded HF days: the cut ends a sentence (or the whole abstract)."""
    cut = 0
    for path in sorted((fixtures_dir / "hf_api").glob("daily_papers_date_*.json")):
        for entry in json.loads(path.read_text()):
            abstract = " ".join(entry["paper"]["summary"].split())
            shown = first_sentences(abstract)
            assert len(shown) <= 300
            assert abstract.startswith(shown.removesuffix("…"))
            if shown != abstract:
                cut += 1
                assert shown.endswith((".", "?", "!", "…", '."', ".)")), shown
    assert cut > 20, "the fixtures' abstracts are longer than the budget: most are cut"


_words = st.sampled_from(
    ["model", "e.g.", "et", "al.", "Fig.", "2", "3.5", "We", "It", "data.", "Results!", "Why?", "(see", "Sec.", "4)."]
)


@given(st.lists(_words, max_size=120), st.integers(min_value=20, max_value=400))
def test_a_prefix_that_ends_a_sentence_or_with_an_ellipsis(words, budget):
    text = " ".join(words)
    shown = first_sentences(text, budget)
    assert len(shown) <= budget
    assert text.startswith(shown.removesuffix("…")), "a prefix of the text (its whitespace collapsed)"
    if shown != text and not shown.endswith("…"):
        assert shown.endswith((".", "!", "?", ")")), shown
        following = text[len(shown) :].lstrip()
        assert following[:1].isupper() or following[:1].isdigit() or following[:1] == "(", "a sentence starts next"
        last = shown.rsplit(" ", 1)[-1]
        assert last not in {"e.g.", "al.", "Fig.", "Sec."}, f"cut at an abbreviation: {shown!r}"
