"""papers.sources.text_dump: the visible text of a listing page pasted from a browser."""

from __future__ import annotations

import datetime as dt

import pytest

from papers.sources import text_dump
from papers.sources.base import SourceError

# Sample: what selecting all on a Daily Papers listing and pasting gives, header and footer noise
# included. Some lines carry trailing spaces or tabs on purpose; the second abstract is hard-wrapped.
SAMPLE_LINES = [
    "Get trending papers in your email inbox!   ",
    "",
    "Subscribe",
    "",
    "Daily Papers  ",
    "by AK and the research community",
    "",
    "Apr 21\t",
    "",
    "Scaling Sparse Autoencoders to Long Contexts   ",
    "",
    "Sparse autoencoders have become a standard tool for reading the features that language models compute, but "
    "almost every study trains them on short windows of a few hundred tokens. We train sparse autoencoders on "
    "contexts of up to 128k tokens and find that many features only appear once the context is long, that feature "
    "density drifts with position, and that a simple positional normalisation recovers most of the lost "
    "reconstruction quality. ",
    "",
    "Submitted by akhaliq",
    "",
    "12",
    "",
    "Diffusion Policies that Plan: Test-Time Search for Robot Manipulation",
    "",
    "Diffusion policies imitate demonstrations well but commit to a single",
    "sampled trajectory. We add a lightweight value model and a test-time",
    "search over denoising seeds, which lets the policy trade compute for",
    "success rate. On eleven real-world manipulation tasks the search raises",
    "the success rate from 54% to 78% with no additional demonstrations.",
    "",
    "A Benchmark for Tool Use in Spreadsheets?",
    "",
    "We introduce SheetBench, 1,200 tasks that require an agent to read, edit and verify spreadsheets through a tool "
    "API. Tasks are written by analysts, come with programmatic checks, and cover formulas, pivot tables and charts. "
    "The best model solves 41% of the tasks; the most common failures are silent formula errors and lost references "
    "after inserting rows.  ",
    "",
    "On the Limits of p<0.05: Replication in Machine Learning Papers",
    "",
    "We attempt to reproduce the headline result of 120 recent machine learning papers using the released code and "
    "report that fewer than half replicate within the confidence interval the authors give. We find that the gap is "
    "explained mostly by unreported seed selection and by evaluation on a different data split, and we propose a "
    "checklist that reviewers can apply in ten minutes.",
    "",
    "Load more",
    "",
    "System theme",
    "",
    "Company",
    "TOS",
    "Privacy",
    "",
]
SAMPLE = "\n".join(SAMPLE_LINES)

TITLES = [
    "Scaling Sparse Autoencoders to Long Contexts",
    "Diffusion Policies that Plan: Test-Time Search for Robot Manipulation",
    "A Benchmark for Tool Use in Spreadsheets?",
    "On the Limits of p<0.05: Replication in Machine Learning Papers",
]


def test_sample_dump():
    result = text_dump.parse(SAMPLE, listed_on=dt.date(2025, 4, 21))

    assert result.errors == []
    assert [record.title for record in result.records] == TITLES
    assert [record.rank for record in result.records] == [1, 2, 3, 4]
    assert {record.arxiv_id for record in result.records} == {""}
    assert {record.pdf_url for record in result.records} == {""}
    assert {record.listed_on for record in result.records} == {dt.date(2025, 4, 21)}
    first, second, third, _ = result.records
    assert first.abstract.startswith("Sparse autoencoders have become a standard tool for reading the features")
    assert first.abstract.endswith("recovers most of the lost reconstruction quality.")
    # Hard-wrapped lines of one paragraph are joined.
    assert second.abstract == (
        "Diffusion policies imitate demonstrations well but commit to a single sampled trajectory. We add a "
        "lightweight value model and a test-time search over denoising seeds, which lets the policy trade compute "
        "for success rate. On eleven real-world manipulation tasks the search raises the success rate from 54% to "
        "78% with no additional demonstrations."
    )
    assert third.abstract.endswith("lost references after inserting rows.")


@pytest.mark.parametrize(
    "variant",
    [
        SAMPLE.replace("\n", "\r\n"),
        SAMPLE.replace("\n", "\r"),
        SAMPLE.replace("\n", "\r\n").encode("utf-8"),
        b"\xef\xbb\xbf" + SAMPLE.encode("utf-8"),
        "\n\n   \n" + SAMPLE.replace("\n\n", "\n \t \n\n") + "\n\n\n",
    ],
    ids=["crlf", "cr", "crlf-bytes", "bom", "extra-blank-lines"],
)
def test_line_ending_and_whitespace_variants_parse_the_same(variant):
    expected = text_dump.parse(SAMPLE).records
    assert text_dump.parse(variant).records == expected


def test_header_lines_never_become_titles():
    # A header directly above a title, and a title whose abstract is too short to be one.
    dump = "Daily Papers\n\nShort Title\n\nToo short to be an abstract.\n\n" + SAMPLE.split("Apr 21\t\n\n", 1)[1]
    titles = [record.title for record in text_dump.parse(dump).records]
    assert titles == TITLES


def test_ids_in_the_dump_are_used():
    dump = (
        SAMPLE.replace(
            "Scaling Sparse Autoencoders to Long Contexts   \n",
            "https://huggingface.co/papers/2504.01234\nScaling Sparse Autoencoders to Long Contexts\n",
        )
        .replace(
            "Diffusion Policies that Plan: Test-Time Search for Robot Manipulation\n",
            "[2504.05678v2] Diffusion Policies that Plan: Test-Time Search for Robot Manipulation\n",
        )
        .replace(
            "lost references after inserting rows.  \n",
            "lost references after inserting rows.\narXiv:2504.09999\n",
        )
        # An id mentioned in an abstract's prose is a citation, not the paper's id.
        .replace("using the released code", "using the released code (as in arXiv:2301.00001)")
    )
    records = text_dump.parse(dump).records

    assert [record.arxiv_id for record in records] == ["2504.01234", "2504.05678", "2504.09999", ""]
    assert [record.title for record in records] == TITLES
    assert records[0].pdf_url == "https://arxiv.org/pdf/2504.01234"
    assert "arXiv:2504.09999" not in records[2].abstract


def test_hostile_text_becomes_plain_text():
    dump = SAMPLE.replace(
        "A Benchmark for Tool Use in Spreadsheets?", "<script>alert(1)</script>A <b>Benchmark</b> &amp; <svg/onload=x>"
    ).replace("We introduce SheetBench", "<img src=x onerror=alert(1)>We introduce <i>SheetBench</i>")
    third = text_dump.parse(dump).records[2]

    assert third.title == "A Benchmark &"
    # An inline tag joins its text to the next (as a browser shows it); the image before it goes.
    assert third.abstract.startswith("We introduce SheetBench, 1,200 tasks")
    # Plain-text mathematics is not markup.
    assert text_dump.parse(dump).records[3].title.startswith("On the Limits of p<0.05")


def test_mathematics_in_a_dump_is_not_markup():
    dump = SAMPLE.replace("On the Limits of p<0.05", "Bounds for 0<p and q>1 and the Limits of p<0.05").replace(
        "We introduce SheetBench", "For $x<i and j>n$ and <think> tags, we introduce SheetBench"
    )
    records = text_dump.parse(dump).records

    assert records[3].title.startswith("Bounds for 0<p and q>1 and the Limits of p<0.05")
    assert records[2].abstract.startswith("For $x<i and j>n$ and <think> tags, we introduce SheetBench, 1,200 tasks")


def test_one_bad_paper_is_reported_and_the_rest_land():
    dump = SAMPLE.replace("A Benchmark for Tool Use in Spreadsheets?", "<script>alert(1)</script>") + (
        "\nScaling Sparse Autoencoders to Long Contexts\n\n" + "A repeated abstract with enough words in it. " * 5
    )
    result = text_dump.parse(dump)

    assert [record.title for record in result.records] == [TITLES[0], TITLES[1], TITLES[3]]
    assert [record.rank for record in result.records] == [1, 2, 4]
    assert result.errors == [
        "paper 3: no title left after removing markup from '<script>alert(1)</script>'",
        "paper 5 (Scaling Sparse Autoencoders to Long Contexts): duplicate of paper 1",
    ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "empty"),
        (b"  \r\n\t\n", "empty"),
        (SAMPLE.split("Scaling Sparse")[0], "found no papers"),
        ("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "found no papers"),
        ('[{"paper": {"id": "2405.01234", "title": "x"}}]', "found no papers"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00", "binary"),
        ("Title\n\n" + "Supercalifragilistic " * 19, "found no papers"),  # 19 words are not an abstract
    ],
)
def test_unusable_dumps_raise_source_error(payload, message):
    with pytest.raises(SourceError) as caught:
        text_dump.parse(payload)
    assert message in str(caught.value)
    assert str(caught.value).startswith("text dump: ")
