"""The words a "less like this" page offers to mute (newsletter.steering.mute_candidates): pure."""

from __future__ import annotations

import json

import pytest

from newsletter.steering import mute_candidates
from subscribers.muting import clean_muted_topics


def test_keywords_on_the_titles_topic_come_first_and_generic_ones_never():
    title = "QuantAgent: Price-Driven Multi-Agent LLMs for High-Frequency Trading"
    keywords = ["Large Language Models", "LLMs", "TradingAgent", "Multi-agent LLM frameworks", "High-Frequency Trading"]
    assert mute_candidates(title, keywords) == ["Multi-agent LLM frameworks", "High-Frequency Trading"]


def test_at_most_three_and_a_plural_matches_its_singular():
    title = "Coding agents for terminal tasks, agent skills and container state"
    keywords = ["terminal agents", "executable supervision", "agent skills", "container state", "coding agents"]
    assert mute_candidates(title, keywords) == ["terminal agents", "agent skills", "container state"]


def test_off_topic_keywords_only_fill_up_to_two():
    title = "EnvHarness: Awakening Static Worlds for Agent Learning"
    keywords = ["LLM agents", "Environment Harness", "EnvHarness", "EnvRigger", "black-box policy"]
    assert mute_candidates(title, keywords) == ["LLM agents", "Environment Harness"]


def test_the_papers_own_name_and_phrases_containing_an_offered_one_are_left_out():
    title = "MCP-AgentBench: Evaluating Real-World Language Agent Performance"
    keywords = ["MCP-AgentBench", "MCP", "MCP testbed", "MCP-Eval", "language agents", "tool interactions"]
    assert mute_candidates(title, keywords) == ["MCP", "language agents"]


def test_short_phrases_before_long_ones_and_parentheses_dropped():
    title = "Retrieval-Augmented Generation for masked diffusion language models with inpainting"
    keywords = ["masked diffusion large language models", "Retrieval-Augmented Generation (RAG)", "inpainting"]
    assert mute_candidates(title, keywords) == [
        "Retrieval-Augmented Generation",
        "inpainting",
        "masked diffusion large language models",
    ]


def test_without_usable_keywords_the_titles_distinctive_words_the_abstract_repeats_most():
    title = "ConvLLaVA: Hierarchical Backbones as Visual Encoder for Large Multimodal Models"
    abstract = "Multimodal models need visual encoders. Our visual encoder is hierarchical. Visual tokens."
    # Not "ConvLLaVA" (its own name), nor large/models (generic), nor "as"/"for" (stop words).
    assert mute_candidates(title, ["LLMs", ""], abstract) == ["visual", "encoder", "hierarchical"]


def test_title_words_keep_acronyms_and_lower_capitalised_words():
    assert mute_candidates("Towards LLaVA Agents via RLHF", limit=5) == ["LLaVA", "agents", "RLHF"]
    assert mute_candidates("The Road Less Scheduled") == ["road", "scheduled"]
    assert mute_candidates("A Model of the Language") == [], "nothing distinctive: nothing offered"


def test_hyphenated_title_words_stay_whole_unless_a_part_is_generic():
    assert mute_candidates("Multi-Agent Mamba-based Long-Horizon planning", limit=5) == [
        "multi-agent",
        "long-horizon",
        "planning",
    ]


def test_every_candidate_can_be_muted(fixtures_dir):
    """On the real recorded Hugging Face days: 1 to 3 candidates a paper, each valid for muted_topics."""
    counts = []
    for path in sorted((fixtures_dir / "hf_api").glob("daily_papers_date_*.json")):
        for item in json.loads(path.read_text()):
            paper = item["paper"]
            title = " ".join(paper["title"].split())
            candidates = mute_candidates(title, [k for k in paper.get("ai_keywords") or [] if k], paper["summary"])
            assert clean_muted_topics(candidates) == candidates, title
            counts.append(len(candidates))
    assert len(counts) > 30 and min(counts) >= 1 and max(counts) <= 3


@pytest.mark.parametrize("limit", [1, 2])
def test_limit(limit):
    keywords = ["terminal agents", "agent skills", "container state"]
    assert len(mute_candidates("Terminal agents and agent skills in container state", keywords, limit=limit)) == limit
