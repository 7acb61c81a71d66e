"""The relevance benchmark's metrics on hand-computed examples, and the committed labelled set's rules
(the benchmark itself runs in the quick bench smoke test, tests/test_bench.py)."""

from __future__ import annotations

import math

import pytest

from bench import relevance
from bench.relevance import ndcg_at, precision_at, recall_at

# a, c and e are relevant (grades 2, 1, 2); the ranking finds a (rank 1) and c (rank 3), misses e.
RANKED = ["a", "b", "c", "d"]
LABELS = {"a": 2, "c": 1, "e": 2}


def test_precision_at_3():
    assert precision_at(RANKED, LABELS, 3) == pytest.approx(2 / 3)
    assert precision_at(["a"], LABELS, 3) == pytest.approx(1 / 3)  # a short list counts its empty places as misses
    assert precision_at(["b", "d"], LABELS, 3) == 0


def test_recall_at_10():
    assert recall_at(RANKED, LABELS, 10) == pytest.approx(2 / 3)
    assert recall_at(RANKED, LABELS, 1) == pytest.approx(1 / 3)


def test_ndcg_at_10_by_hand():
    # DCG = 2/log2(2) + 0/log2(3) + 1/log2(4) = 2.5; ideal (2, 2, 1) = 2 + 2/log2(3) + 1/2 = 3.7619
    assert ndcg_at(RANKED, LABELS, 10) == pytest.approx(2.5 / (2.5 + 2 / math.log2(3)), abs=1e-9)
    assert ndcg_at(RANKED, LABELS, 10) == pytest.approx(0.66457, abs=1e-5)
    assert ndcg_at(["a", "e", "c"], LABELS, 10) == pytest.approx(1.0)
    assert ndcg_at(["b", "d"], LABELS, 10) == 0
    # only the first k count, and the ideal is cut at k too: (a) against (a, e)
    assert ndcg_at(RANKED, LABELS, 1) == pytest.approx(1.0)
    assert ndcg_at(["c", "a"], LABELS, 2) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 2 / math.log2(3)))


def test_metrics_refuse_a_profile_without_relevant_papers():
    with pytest.raises(ValueError):
        ndcg_at(RANKED, {}, 10)
    with pytest.raises(ValueError):
        recall_at(RANKED, {"a": 0}, 10)


def test_tfidf_baseline_ranks_by_cosine_and_keeps_ties_in_order():
    texts = ["speech recognition with transformers", "image diffusion", "graph networks", "speech synthesis"]
    ranked = relevance.tfidf(texts, [10, 11, 12, 13], ["speech recognition"])
    assert ranked == [[10, 13, 11, 12]]


def test_the_committed_set_follows_its_own_rules():
    doc = relevance.load_set()
    part = {source["file"]: source["part"] for source in doc["sources"]}
    source_of = {paper["arxiv_id"]: paper["source_file"] for paper in doc["papers"]}
    assert len(source_of) == len(doc["papers"]) == 150
    assert len(doc["profiles"]) >= 20
    assert len({profile["name"] for profile in doc["profiles"]}) == len(doc["profiles"])
    assert sum(1 for profile in doc["profiles"] if profile["follows"]) >= 3
    for profile in doc["profiles"]:
        labels, votes = profile["labels"], profile["votes"]
        assert set(labels.values()) <= {1, 2}, profile["name"]
        assert len(labels) >= 2, profile["name"]
        assert 1 <= len(profile["interests"].split(",")) <= 4, profile["name"]
        if votes["more"]:
            assert len(votes["more"]) == 3 and len(votes["less"]) == 2, profile["name"]
            assert all(paper in labels for paper in votes["more"]), profile["name"]
            assert not any(paper in labels for paper in votes["less"]), profile["name"]
            assert all(part[source_of[paper]] == "earlier" for paper in votes["more"] + votes["less"])
            assert any(part[source_of[paper]] == "later" for paper in labels), profile["name"]
        else:
            assert votes["less"] == [], profile["name"]


def test_missing_fixtures_fail_with_a_clear_message(tmp_path):
    with pytest.raises(RuntimeError, match=r"fixtures are not there .*shared/fixtures/real"):
        relevance.fixture_paths(relevance.load_set(), fixtures=tmp_path)
