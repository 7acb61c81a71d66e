"""The embeddings benchmark's own arithmetic (bench/relevance_embeddings.py), without the model: the
scaling, the reader profiles, and that its reading of Paperboy's scores ranks as score_papers does."""

from __future__ import annotations

import numpy as np

from bench import relevance_embeddings as bench
from newsletter.ranking import PaperInfo, ReaderInfo, Weights, score_papers


def test_scaled_gives_each_readers_best_match_1_but_does_not_inflate_weak_ones():
    scores = np.array([[0.2, 0.5, 0.1], [0.1, 0.05, 0.0]])
    assert np.allclose(bench.scaled(scores), [[0.4, 1.0, 0.2], [0.4, 0.2, 0.0]])  # row 2: divided by 0.25


def test_ranked_ids_best_first_ties_in_edition_order():
    assert bench.ranked_ids(np.array([[0.1, 0.3, 0.3, 0.2]]), [7, 8, 9, 10]) == [[8, 9, 10, 7]]


def test_profile_similarity_mean_and_max_of_phrases():
    papers = np.eye(3)  # three papers, one axis each
    phrases = [np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.zeros((0, 3))]
    mean = bench.profile_similarity(phrases, papers, "mean")
    assert np.allclose(mean, [[2**-0.5, 2**-0.5, 0.0], [0.0, 0.0, 0.0]])
    assert np.allclose(bench.profile_similarity(phrases, papers, "max"), [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])


def test_paperboy_parts_rank_as_score_papers_does():
    papers = [
        PaperInfo(1, "speech recognition with transformers for low-resource languages", 0, authors=("Ada Lovelace",)),
        PaperInfo(2, "image diffusion models for text-to-image generation", 0),
        PaperInfo(3, "speech synthesis and voice conversion", 0),
        PaperInfo(4, "graph neural networks for molecules", 0, authors=("Alan Turing",)),
    ]
    readers = [
        ReaderInfo(10, interests="speech recognition"),
        ReaderInfo(11, interests="diffusion", followed_authors=("alan turing",)),
        ReaderInfo(12, interests="nothing that matches"),
    ]
    raw, followed = bench.paperboy_parts(papers, readers, Weights())
    assert raw.shape == followed.shape == (3, 4)
    assert raw[0, 0] > raw[0, 2] > 0 == raw[0, 1]
    assert followed.tolist() == [[False] * 4, [False, False, False, True], [False] * 4]
    weights = Weights()
    mine = bench.ranked_ids(bench.paperboy_score(raw, followed, weights), [paper.id for paper in papers])
    theirs = score_papers(papers, readers, weights=weights)
    assert mine == [theirs[reader.id] for reader in readers]
    assert mine[0][:2] == [1, 3]
    assert mine[1][:2] == [2, 4]  # the matching paper (0.6), then the followed author's (0.5)
