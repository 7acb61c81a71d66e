"""newsletter/ranking.py: pure computation, so plain pytest with no database."""

from __future__ import annotations

import dataclasses
import gc
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from newsletter.edition_vectors import GENERIC_WEIGHT, GENERIC_WORDS, Analyzer
from newsletter.ranking import (
    MAX_COUNT,
    PaperInfo,
    ReaderInfo,
    Weights,
    clear_cache,
    profile_text,
    rank_readers,
    score_papers,
    split_interests,
)

DIFFUSION, RLHF, PROTEIN, SPEECH, ROBOT, RAG, GNN, LLM, DPO = range(101, 110)

PAPERS = [
    PaperInfo(
        id=DIFFUSION,
        text="Latent Diffusion Models for High-Resolution Image Generation. We train denoising diffusion "
        "models in the latent space of a pretrained autoencoder, which makes text-to-image synthesis and "
        "image generation at high resolution far cheaper while keeping sample quality.",
        upvotes=120,
        categories=("cs.CV",),
        authors=("Lena Vogt", "Tomas Eriksen"),
    ),
    PaperInfo(
        id=RLHF,
        text="Reinforcement Learning from Human Feedback for Aligning Large Language Models. We collect human "
        "preference comparisons, fit a reward model to the human feedback and optimise the language model "
        "policy with reinforcement learning (PPO), improving helpfulness and harmlessness.",
        upvotes=80,
        categories=("cs.CL", "cs.LG"),
        authors=("Mira Okafor", "Dev Patel"),
    ),
    PaperInfo(
        id=PROTEIN,
        text="Accurate Protein Structure Prediction with Equivariant Transformers. From the amino acid "
        "sequence alone our network predicts the three-dimensional protein structure; protein folding "
        "accuracy approaches experimental methods on held-out protein families.",
        upvotes=40,
        categories=("q-bio.BM",),
        authors=("Sofia Marquez",),
    ),
    PaperInfo(
        id=SPEECH,
        text="Robust Speech Recognition via Large-Scale Weak Supervision. An encoder-decoder trained on "
        "hundreds of thousands of hours of transcribed audio gives automatic speech recognition that is "
        "robust to accents, background noise and technical vocabulary.",
        upvotes=30,
        categories=("eess.AS", "cs.CL"),
        authors=("Kenji Watanabe", "Amara Nwosu"),
    ),
    PaperInfo(
        id=ROBOT,
        text="Learning Dexterous Robot Manipulation from Demonstrations. A robot arm learns grasping and "
        "in-hand manipulation of household objects by imitation learning from a few teleoperated "
        "demonstrations, then refines its policy in simulation.",
        upvotes=25,
        categories=("cs.RO",),
        authors=("Jonas Berg",),
    ),
    PaperInfo(
        id=RAG,
        text="Retrieval-Augmented Generation for Knowledge-Intensive Question Answering. A dense retriever "
        "fetches relevant documents from a large corpus and the generator conditions on the retrieved "
        "passages, reducing hallucination in open-domain question answering.",
        upvotes=60,
        categories=("cs.CL", "cs.IR"),
        authors=("Priya Raman",),
    ),
    PaperInfo(
        id=GNN,
        text="Graph Neural Networks for Molecular Property Prediction. Message passing over molecular graphs "
        "with atoms as nodes and bonds as edges predicts solubility and toxicity better than fingerprints.",
        upvotes=15,
        categories=("cs.LG",),
        authors=("Chen Wei",),
    ),
    PaperInfo(
        id=LLM,
        text="Scaling Open Models to a Trillion Tokens. We pretrain a family of open-weight transformers on "
        "a trillion tokens of web text and report results on standard benchmarks, with the training code "
        "and data mixture released.",
        upvotes=900,
        categories=("cs.CL",),
        authors=("Hannah Schmidt", "Dev Patel"),
    ),
    PaperInfo(
        id=DPO,
        text="Direct Preference Optimization: Aligning Language Models with Human Preferences. Instead of "
        "reinforcement learning on a learned reward model, we optimise the language model directly on human "
        "preference comparisons, matching RLHF helpfulness with a simple classification loss.",
        upvotes=50,
        categories=("cs.CL", "cs.LG"),
        authors=("Ivo Horvat",),
    ),
]
TEXT = {paper.id: paper.text for paper in PAPERS}
BY_POPULARITY = [LLM, DIFFUSION, RLHF, RAG, DPO, PROTEIN, SPEECH, ROBOT, GNN]


def rank(reader: ReaderInfo, papers=PAPERS, **kwargs) -> list[int]:
    return score_papers(papers, [reader], **kwargs)[reader.id]


def with_pinned(*pinned_ids: int) -> list[PaperInfo]:
    return [PaperInfo(p.id, p.text, p.upvotes, p.categories, p.authors, pinned=p.id in pinned_ids) for p in PAPERS]


def tfidf_cosines(papers: list[PaperInfo], pieces: list[str]) -> dict[int, float]:
    """Paper id -> the best tf-idf cosine of any piece with the paper, by scikit-learn's own
    vectorizer on the ranking's analyzer, with the idf the ranking documents (smooth idf, generic
    words weighed down): what the ranking's fast tokenizing path must reproduce."""
    analyzer = Analyzer()
    vectorizer = TfidfVectorizer(analyzer=analyzer.terms, sublinear_tf=True, min_df=1)
    vectorizer.fit([paper.text for paper in papers])
    generic = [
        vectorizer.vocabulary_[word]
        for word in analyzer.tokens(" ".join(GENERIC_WORDS))
        if word in vectorizer.vocabulary_
    ]
    idf = vectorizer.idf_.copy()
    idf[generic] *= GENERIC_WEIGHT
    vectorizer.idf_ = idf
    paper_vectors = vectorizer.transform([paper.text for paper in papers])
    cosines = (vectorizer.transform(pieces) @ paper_vectors.T).toarray().max(axis=0)
    return dict(zip([paper.id for paper in papers], cosines.tolist(), strict=True))


def assert_relevance(papers: list[PaperInfo], reader: ReaderInfo, expected: dict[int, float]) -> None:
    """The ranking's raw relevance of each paper in ``expected`` for ``reader`` is that number, read
    through the skip rule: with every other paper already sent, a reader with skip_if_no_match gets
    the paper exactly when its relevance is at least min_relevance."""
    ids = frozenset(paper.id for paper in papers)
    for paper_id, cosine in expected.items():
        probe = dataclasses.replace(reader, skip_if_no_match=True, sent=ids - {paper_id})
        assert rank(probe, papers, weights=Weights(min_relevance=cosine - 1e-12)) == [paper_id], (paper_id, cosine)
        assert rank(probe, papers, weights=Weights(min_relevance=cosine + 1e-12)) == [], (paper_id, cosine)


# --- relevance and popularity ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interests", "first"),
    [
        ("protein folding", PROTEIN),
        ("reinforcement learning from human feedback", RLHF),
        ("speech recognition, ASR", SPEECH),
        ("diffusion, image generation", DIFFUSION),
        ("robot manipulation", ROBOT),
        ("retrieval-augmented generation; question answering", RAG),
        ("graph neural networks\nmolecular property prediction", GNN),
    ],
)
def test_the_paper_matching_the_interests_comes_first(interests, first):
    assert rank(ReaderInfo(1, interests))[0] == first


def test_different_interests_give_different_orders():
    protein = rank(ReaderInfo(1, "protein folding", count=9))
    speech = rank(ReaderInfo(2, "speech recognition", count=9))
    assert protein != speech
    assert sorted(protein) == sorted(speech) == sorted(TEXT)  # same papers, other order


def test_a_reader_without_interests_gets_the_most_popular_papers_in_order():
    assert rank(ReaderInfo(1, count=9)) == BY_POPULARITY
    assert rank(ReaderInfo(2, interests=" , ;\n", count=9)) == BY_POPULARITY  # only separators


def test_a_readers_best_matches_beat_the_viral_paper():
    # Relevance is scaled per reader (best match = 1), so popularity only orders what matches alike.
    assert rank(ReaderInfo(1, "protein folding"))[0] == PROTEIN
    assert rank(ReaderInfo(2, "language models"))[:3] == [RLHF, DPO, LLM]


def test_weights_shift_the_balance():
    popular_first = rank(ReaderInfo(1, "protein folding"), weights=Weights(popularity=1.0, relevance=0.01))
    assert popular_first[0] == LLM
    relevant_first = rank(ReaderInfo(1, "protein folding"), weights=Weights(popularity=0.0, relevance=1.0))
    assert relevant_first[0] == PROTEIN


def test_ties_are_broken_by_upvotes_then_paper_order():
    papers = [
        PaperInfo(1, "alpha beta", 5),
        PaperInfo(2, "gamma delta", 9),
        PaperInfo(3, "epsilon zeta", 5),
        PaperInfo(4, "eta theta", 9),
    ]
    # No profile and popularity weight 0: every score ties.
    assert rank(ReaderInfo(1, count=4), papers=papers, weights=Weights(popularity=0.0)) == [2, 4, 1, 3]


def test_relevance_is_the_best_tfidf_cosine_of_any_piece():
    """Each interest phrase and each liked text is compared with the papers on its own; a paper
    matches as well as its best piece (same numbers as scikit-learn's vectorizer)."""
    reader = ReaderInfo(1, "protein folding, speech zzzq", liked_texts=(TEXT[RAG],))
    expected = tfidf_cosines(PAPERS, ["protein folding", "speech zzzq", TEXT[RAG]])
    assert max(expected.values()) > 0.1
    assert_relevance(PAPERS, reader, expected)


def test_pieces_are_compared_one_by_one():
    for reader, pieces in [
        (
            ReaderInfo(1, "protein folding, protein structure; protein", liked_texts=(STRUCTURE_PAPER, TEXT[GNN])),
            ["protein folding", "protein structure", "protein", STRUCTURE_PAPER, TEXT[GNN]],
        ),
        (ReaderInfo(2, "diffusion, diffusion, image generation"), ["diffusion", "image generation"]),
        (ReaderInfo(3, liked=frozenset({5001, 5002}), liked_texts=(TEXT[RLHF], TEXT[DPO])), [TEXT[RLHF], TEXT[DPO]]),
    ]:
        assert_relevance(PAPERS, reader, tfidf_cosines(PAPERS, pieces))


def test_stems_match_other_forms_of_a_word():
    """ "robotics" finds the robot paper, "forecasts" a paper about forecasting."""
    assert rank(ReaderInfo(1, "robotics"))[0] == ROBOT
    assert rank(ReaderInfo(2, "recognizing speeches"))[0] == SPEECH


def test_every_interest_gets_its_best_paper_before_any_gets_a_second():
    """A phrase many papers match strongly ("language models") does not crowd out the reader's
    other interests: each phrase's best paper comes first."""
    chosen = rank(ReaderInfo(1, "language models, protein folding, robots", count=3))
    assert set(chosen) == {ROBOT, PROTEIN, chosen[0] if chosen[0] not in (ROBOT, PROTEIN) else chosen[1]}
    assert ROBOT in chosen and PROTEIN in chosen


def test_relevance_in_a_big_edition():
    """400 papers with a vocabulary of ~35,000 terms (the papers' vectors are then kept sparse)."""
    rng = random.Random(5)
    words = [f"w{n}x" for n in range(3000)]
    papers = [PaperInfo(i, " ".join(rng.choices(words, k=80)), rng.randint(0, 99)) for i in range(1, 401)]
    for reader_id in range(1, 4):
        text = rng.choice(papers).text.split()
        interests = [" ".join(text[start : start + 2]) for start in rng.sample(range(len(text) - 1), 3)]
        cosines = tfidf_cosines(papers, interests)
        probed = sorted(cosines, key=cosines.get)[-5:] + rng.sample(list(cosines), 5)  # matches and the rest
        assert cosines[probed[4]] > 0.1, "the best match is a real one"
        assert_relevance(papers, ReaderInfo(reader_id, ", ".join(interests)), {pid: cosines[pid] for pid in probed})


def test_a_full_phrase_cache_starts_afresh_without_changing_results():
    """The phrase cache keeps at most 200,000 pieces between batches: 240,000 distinct phrases
    fill it, and readers after that repeat earlier phrases, which are looked up anew."""
    topics = ["protein folding", "diffusion", "speech recognition", "language models", "robots", "retrieval"]
    phrases = [f"{topics[n % len(topics)]} {n:06d}" for n in range(240_000)]
    readers = [ReaderInfo(n, ", ".join(phrases[3 * n : 3 * n + 3]), count=3) for n in range(80_000)]
    readers += [dataclasses.replace(reader, id=80_000 + reader.id) for reader in readers[:5_000]]
    clear_cache()
    in_one_batch = score_papers(PAPERS, readers, batch_size=len(readers))
    clear_cache()
    assert score_papers(PAPERS, readers, batch_size=1_000) == in_one_batch
    assert in_one_batch[80_001] == in_one_batch[1] != in_one_batch[0]
    clear_cache()


# --- history, pins and filters -----------------------------------------------------------------


def test_papers_already_sent_never_come_back():
    sent = frozenset({PROTEIN, LLM, 999})  # 999: a paper of an older edition
    chosen = rank(ReaderInfo(1, "protein folding", count=50, sent=sent))
    assert PROTEIN not in chosen and LLM not in chosen
    assert len(chosen) == len(PAPERS) - 2


def test_a_long_history_is_handled_like_a_short_one():
    history = frozenset(range(10_000, 12_000)) | {PROTEIN}
    assert rank(ReaderInfo(1, "protein folding", count=50, sent=history)) == rank(
        ReaderInfo(1, "protein folding", count=50, sent=frozenset({PROTEIN}))
    )


def test_pinned_papers_come_first_in_edition_order_even_if_irrelevant():
    papers = with_pinned(GNN, ROBOT)  # ROBOT comes before GNN in the edition
    chosen = rank(ReaderInfo(1, "protein folding"), papers=papers)
    assert chosen[:3] == [ROBOT, GNN, PROTEIN]


def test_pinned_papers_still_obey_history_and_filters():
    papers = with_pinned(GNN, ROBOT)
    assert rank(ReaderInfo(1, "protein folding", sent=frozenset({ROBOT})), papers=papers)[:2] == [GNN, PROTEIN]
    chosen = rank(ReaderInfo(2, "protein folding", categories=("q-bio.BM", "cs.RO")), papers=papers)
    assert chosen == [ROBOT, PROTEIN]  # GNN (cs.LG) is filtered out, pinned or not
    assert rank(ReaderInfo(3, disliked=frozenset({ROBOT})), papers=papers)[0] == GNN


def test_category_filter_keeps_only_papers_sharing_a_category():
    chosen = rank(ReaderInfo(1, "language models", categories=("cs.CL",), count=50))
    assert set(chosen) == {RLHF, SPEECH, RAG, LLM, DPO}
    assert rank(ReaderInfo(2, categories=("cs.RO", "cs.CV"), count=50)) == [DIFFUSION, ROBOT]
    assert rank(ReaderInfo(3, categories=("CS.RO",))) == []  # arXiv names are case-sensitive
    assert rank(ReaderInfo(4, categories=("astro-ph.GA",))) == []


def test_a_paper_of_unknown_category_passes_the_category_filter():
    """A paper without categories (an HF pick arXiv has not told us about) is not filtered out; it
    is ranked by the reader's interests like any other. Known categories that do not match still
    keep a paper out."""
    unknown = PaperInfo(201, "Speech recognition for low-resource languages", upvotes=3)
    galaxies = PaperInfo(202, "Speech of galaxies: their spectra", upvotes=900, categories=("astro-ph.GA",))
    papers = [*PAPERS, unknown, galaxies]
    chosen = rank(ReaderInfo(1, "speech recognition", categories=("cs.LG", "cs.CL"), count=50), papers=papers)
    assert unknown.id in chosen and galaxies.id not in chosen
    assert set(chosen[:2]) == {unknown.id, SPEECH}, "ranked by the reader's interests as usual"
    assert rank(ReaderInfo(2, categories=("astro-ph.CO",), count=50), papers=papers) == [201]
    # it counts as a match for a reader who skips days without one
    skipping = ReaderInfo(3, "low-resource languages", categories=("cs.RO",), skip_if_no_match=True)
    assert rank(skipping, papers=papers) == [201, ROBOT]


def test_a_followed_author_is_included_despite_the_category_filter():
    reader = ReaderInfo(1, "protein folding", categories=("q-bio.BM",), followed_authors=("  mira   OKAFOR ",))
    assert rank(reader) == [PROTEIN, RLHF]  # the followed author's paper is in despite the filter


def test_a_followed_author_moves_their_paper_up():
    before = rank(ReaderInfo(1, "protein folding", count=9))
    after = rank(ReaderInfo(1, "protein folding", count=9, followed_authors=("Jonas Berg",)))
    assert before.index(ROBOT) > 2
    assert after.index(ROBOT) < before.index(ROBOT)
    coauthor = rank(ReaderInfo(2, count=9, followed_authors=("dev patel",)))  # on RLHF and LLM
    assert coauthor[:2] == [LLM, RLHF]


@pytest.mark.parametrize(("count", "expected"), [(1, 1), (3, 3), (9, 9), (50, 9), (0, 1), (500, 9)])
def test_count_is_respected_and_clamped(count, expected):
    assert len(rank(ReaderInfo(1, "protein folding", count=count))) == expected
    assert MAX_COUNT == 50


# --- skip_if_no_match --------------------------------------------------------------------------


def test_skip_if_no_match_skips_when_nothing_matches():
    assert rank(ReaderInfo(1, "lattice quantum chromodynamics", skip_if_no_match=True)) == []


def test_without_skip_the_reader_gets_the_top_papers_anyway():
    assert rank(ReaderInfo(1, "lattice quantum chromodynamics", count=3)) == BY_POPULARITY[:3]


def test_skip_if_no_match_sends_when_something_matches():
    chosen = rank(ReaderInfo(1, "lattice quantum chromodynamics, protein folding", skip_if_no_match=True))
    assert chosen[0] == PROTEIN
    assert len(chosen) == 9  # the match opens the email; the rest fills it up to count


def test_skip_if_no_match_looks_only_at_allowed_papers():
    reader = ReaderInfo(1, "protein folding", skip_if_no_match=True, sent=frozenset({PROTEIN}))
    assert rank(reader) == []
    reader = ReaderInfo(2, "protein folding", skip_if_no_match=True, categories=("cs.RO",))
    assert rank(reader) == []


def test_a_reader_without_interests_is_never_skipped():
    assert rank(ReaderInfo(1, skip_if_no_match=True, count=3)) == BY_POPULARITY[:3]


def test_a_followed_author_counts_as_a_match():
    reader = ReaderInfo(1, "lattice quantum chromodynamics", followed_authors=("Chen Wei",), skip_if_no_match=True)
    assert rank(reader)[0] == GNN
    # An author not in this edition: nothing matched.
    assert rank(ReaderInfo(2, followed_authors=("Nobody Here",), skip_if_no_match=True)) == []


def test_min_relevance_sets_what_counts_as_a_match():
    reader = ReaderInfo(1, "protein folding", skip_if_no_match=True)
    assert rank(reader, weights=Weights(min_relevance=0.99)) == []
    assert rank(reader, weights=Weights(min_relevance=0.05))[0] == PROTEIN


def test_pinned_papers_do_not_count_as_a_match():
    reader = ReaderInfo(1, "lattice quantum chromodynamics", skip_if_no_match=True)
    assert rank(reader, papers=with_pinned(LLM)) == []


# --- feedback ----------------------------------------------------------------------------------

STRUCTURE_PAPER = (
    "Predicting the Structure of Protein Complexes. We extend protein structure prediction from single "
    "chains to multimeric protein complexes, predicting interfaces from the amino acid sequence."
)


def test_a_like_moves_similar_papers_up():
    before = rank(ReaderInfo(1, "speech recognition", count=9))
    after = rank(ReaderInfo(1, "speech recognition", count=9, liked=frozenset({5001}), liked_texts=(STRUCTURE_PAPER,)))
    assert before[0] == SPEECH and before.index(PROTEIN) > 3
    # The liked paper's neighbour comes right after the interest's best match: a like counts
    # less than an interest (Weights.liked), so it does not drown the reader's interests.
    assert after[:2] == [SPEECH, PROTEIN]


def test_liking_a_paper_of_this_edition_uses_its_text_and_leaves_it_out():
    """A paper liked on the site (picked after signing up) is read already: not sent, but its
    neighbours move up as if its text had been passed."""
    papers = [*PAPERS, PaperInfo(401, STRUCTURE_PAPER, 1)]
    before = rank(ReaderInfo(1, "speech recognition", count=10), papers)
    after = rank(ReaderInfo(1, "speech recognition", count=10, liked=frozenset({401})), papers)
    assert 401 in before and 401 not in after
    assert after.index(PROTEIN) < before.index(PROTEIN)
    # Passing the same text again does not count it twice.
    twice = ReaderInfo(1, "speech recognition", count=10, liked=frozenset({401}), liked_texts=(STRUCTURE_PAPER,))
    assert after == rank(twice, papers)


def test_likes_alone_are_a_profile():
    chosen = rank(ReaderInfo(1, liked_texts=(STRUCTURE_PAPER,), skip_if_no_match=True))
    assert chosen[0] == PROTEIN


def test_a_dislike_excludes_the_paper_and_pushes_similar_ones_down():
    before = rank(ReaderInfo(1, count=9))
    after = rank(ReaderInfo(1, count=9, disliked=frozenset({RLHF})))
    assert before == BY_POPULARITY and RLHF not in after
    # DPO, RLHF's closest neighbour, was more popular than the protein and speech papers; after
    # the dislike it falls below them.
    assert before.index(DPO) < before.index(PROTEIN) < before.index(SPEECH)
    assert after.index(DPO) > after.index(SPEECH)


def test_a_dislike_does_not_hide_what_the_reader_asked_for():
    """Disliking the RLHF paper pushes DPO down, but a reader who asked for "language models"
    still gets DPO, the best remaining match, first."""
    assert rank(ReaderInfo(1, "language models", count=9, disliked=frozenset({RLHF})))[0] == DPO


def test_a_dislike_outside_the_edition_pushes_its_neighbours_down():
    reader = ReaderInfo(1, count=9)
    after = rank(ReaderInfo(1, count=9, disliked=frozenset({777}), disliked_texts=(TEXT[RLHF],)))
    assert rank(reader).index(DPO) < after.index(DPO)
    # Without its text a disliked paper of another edition changes nothing.
    assert rank(reader) == rank(ReaderInfo(1, count=9, disliked=frozenset({777})))


# --- determinism, batching, edge cases ---------------------------------------------------------


def random_readers(count: int, seed: int, paper_ids: list[int]) -> list[ReaderInfo]:
    rng = random.Random(seed)
    phrases = [
        "protein folding",
        "diffusion",
        "RLHF",
        "speech recognition",
        "robots",
        "graph neural networks",
        "retrieval",
        "language models",
        "quantum gravity",
        "question answering",
        "alignment",
    ]
    categories = ["cs.CL", "cs.LG", "cs.CV", "cs.RO", "q-bio.BM", "eess.AS", "cs.IR", "math.AG"]
    authors = ["Dev Patel", "Chen Wei", "Mira Okafor", "Nobody Here"]
    readers = []
    for rid in range(count):
        readers.append(
            ReaderInfo(
                id=rid,
                interests=", ".join(rng.sample(phrases, rng.randint(0, 3))),
                categories=tuple(rng.sample(categories, rng.randint(0, 2))) if rng.random() < 0.3 else (),
                followed_authors=tuple(rng.sample(authors, 1)) if rng.random() < 0.2 else (),
                count=rng.choice([1, 3, 5, 10, 50]),
                skip_if_no_match=rng.random() < 0.3,
                sent=frozenset(rng.sample(paper_ids, rng.randint(0, 3))) | {rng.randint(1, 99)},
                liked=frozenset(rng.sample(paper_ids, 1)) if rng.random() < 0.1 else frozenset(),
                disliked=frozenset(rng.sample(paper_ids, 1)) if rng.random() < 0.1 else frozenset(),
                liked_texts=(STRUCTURE_PAPER,) if rng.random() < 0.1 else (),
            )
        )
    return readers


def test_the_output_is_deterministic_and_independent_of_batching_and_order():
    readers = random_readers(300, seed=7, paper_ids=list(TEXT))
    once = score_papers(PAPERS, readers)
    clear_cache()
    assert score_papers(PAPERS, readers) == once
    assert score_papers(PAPERS, readers, batch_size=7) == once
    assert score_papers(PAPERS, readers, batch_size=1) == once
    shuffled = readers[:]
    random.Random(1).shuffle(shuffled)
    assert score_papers(PAPERS, shuffled, batch_size=13) == once
    assert list(once) == [reader.id for reader in readers]  # in the readers' order


def test_results_are_plain_python_ints_in_lists():
    result = score_papers(PAPERS, random_readers(50, seed=3, paper_ids=list(TEXT)))
    assert all(type(key) is int for key in result)
    assert all(type(value) is list and all(type(pid) is int for pid in value) for value in result.values())


def test_edge_cases():
    assert score_papers([], [ReaderInfo(1, "x")]) == {1: []}
    assert score_papers(PAPERS, []) == {}
    stop_words_only = [PaperInfo(1, "the of and", 3), PaperInfo(2, "", 7)]
    assert rank(ReaderInfo(1, "protein"), papers=stop_words_only) == [2, 1]
    assert rank(ReaderInfo(1, "protein", skip_if_no_match=True), papers=stop_words_only) == []
    assert rank(ReaderInfo(1), papers=[PaperInfo(1, "a b", 0), PaperInfo(2, "c d", 0)]) == [1, 2]
    assert rank(ReaderInfo(1, "weird \x01 marker, protein folding"))[0] == PROTEIN
    with pytest.raises(ValueError, match="duplicate"):
        score_papers([PAPERS[0], PAPERS[0]], [ReaderInfo(1)])
    with pytest.raises(ValueError, match="batch_size"):
        score_papers(PAPERS, [ReaderInfo(1)], batch_size=0)
    with pytest.raises(ValueError, match="finite"):
        score_papers(PAPERS, [ReaderInfo(1)], weights=Weights(relevance=float("nan")))


def test_the_garbage_collector_is_left_as_it_was():
    assert gc.isenabled()
    score_papers(PAPERS, [ReaderInfo(1, "protein")])
    assert gc.isenabled()
    gc.disable()
    try:
        score_papers(PAPERS, [ReaderInfo(1, "protein")])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_interest_and_profile_helpers():
    assert split_interests(" diffusion, RLHF;protein folding\n\n, ") == ["diffusion", "RLHF", "protein folding"]
    assert profile_text("a, b", ["liked text", ""]) == "a\nb\nliked text"


def test_scale_smoke_20000_readers_60_papers():
    rng = random.Random(11)
    vocabulary = [
        f"{topic}"
        for topic in split_interests(
            "diffusion, image generation, rlhf, reward model, protein folding, speech recognition, robot manipulation,"
            "retrieval, question answering, graph neural networks, language models, alignment, reasoning, agents,"
            "quantization, mixture of experts, video generation, 3d reconstruction, code generation, benchmarks"
        )
    ]
    words = " ".join(vocabulary).split()
    papers = [
        PaperInfo(
            id=10_000 + i,
            text=" ".join(rng.choices(words, k=120)),
            upvotes=rng.randint(0, 500),
            categories=tuple(rng.sample(["cs.CL", "cs.LG", "cs.CV", "cs.RO"], rng.randint(1, 2))),
            authors=(f"Author {rng.randint(0, 50)}",),
            pinned=i == 0,
        )
        for i in range(60)
    ]
    paper_ids = [paper.id for paper in papers]
    readers = [
        ReaderInfo(
            id=rid,
            interests=", ".join(rng.sample(vocabulary, rng.randint(0, 4))),
            categories=("cs.CL",) if rid % 5 == 0 else (),
            followed_authors=(f"Author {rid % 60}",) if rid % 7 == 0 else (),
            count=rng.choice([5, 10, 20]),
            skip_if_no_match=rid % 3 == 0,
            sent=frozenset(rng.sample(paper_ids, 3)),
            disliked=frozenset(rng.sample(paper_ids, 1)) if rid % 11 == 0 else frozenset(),
        )
        for rid in range(20_000)
    ]
    result = score_papers(papers, readers)
    assert len(result) == len(readers)
    for reader in readers[:2000]:
        chosen = result[reader.id]
        assert len(chosen) <= reader.count and len(set(chosen)) == len(chosen)
        assert not (set(chosen) & (reader.sent | reader.disliked))


# --- the tokenizer shortcut --------------------------------------------------------------------

WORDS = [
    "protein",
    "Folding",
    "the",
    "of",
    "RLHF",
    "human-feedback",
    "a",
    "x",
    "co2",
    "über",
    "naïve",
    "Ångström",
    "diffusion",
    "models",
    "3D",
    "e.g.",
    "it's",
    "—",
    "’s",
    "__init__",
    "ÉCOLE",
    "ǅemal",
    "state-of-the-art",
    "l2",
    "x_1",
    "١٢٣",
    "数据",
    "ß",
]


@settings(max_examples=200, deadline=None)
@given(
    papers=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30), min_size=1, max_size=5),
    pieces=st.lists(
        st.lists(st.sampled_from([*WORDS, ",", "!", "\n", "zqxpaperboypiecezqx"]), min_size=1, max_size=12),
        min_size=1,
        max_size=6,
    ),
)
def test_relevance_matches_scikit_learns_analyzer_on_odd_text(papers, pieces):
    """Liked texts are profile pieces as written (commas and newlines do not split them), so this
    compares the tokenizer's counts with scikit-learn's on every kind of word in WORDS."""
    paper_infos = [PaperInfo(i, " ".join(words), 1) for i, words in enumerate(papers)]
    texts = [" ".join(words) for words in pieces]
    try:
        cosines = tfidf_cosines(paper_infos, texts)
    except ValueError:  # the papers are only stop words: no vocabulary
        return
    assert_relevance(paper_infos, ReaderInfo(1, liked_texts=tuple(texts)), cosines)


# --- properties --------------------------------------------------------------------------------

CATEGORIES = ["cs.CL", "cs.LG", "cs.CV", "q-bio.BM"]
AUTHORS = ["Ann Lee", "Bo Chen", "Cy Diaz"]
TOPICS = ["protein folding", "diffusion", "language models", "robots", "speech", "graphs", "the", ""]

paper_strategy = st.builds(
    lambda pid, topics, upvotes, categories, authors, pinned: PaperInfo(
        pid, " ".join(topics), upvotes, tuple(categories), tuple(authors), pinned
    ),
    st.integers(1, 30),
    st.lists(st.sampled_from(TOPICS), max_size=4),
    st.integers(-5, 1000),
    st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True),
    st.lists(st.sampled_from(AUTHORS), max_size=2, unique=True),
    st.booleans(),
)
ids = st.frozensets(st.integers(1, 35), max_size=6)
reader_strategy = st.builds(
    ReaderInfo,
    id=st.integers(1, 1000),
    interests=st.lists(st.sampled_from(TOPICS), max_size=3).map(", ".join),
    categories=st.lists(st.sampled_from([*CATEGORIES, "math.AG"]), max_size=2, unique=True).map(tuple),
    followed_authors=st.lists(st.sampled_from([*AUTHORS, "ann LEE"]), max_size=2).map(tuple),
    count=st.integers(-1, 60),
    skip_if_no_match=st.booleans(),
    sent=ids,
    liked=ids,
    disliked=ids,
    liked_texts=st.lists(st.sampled_from(TOPICS), max_size=2).map(tuple),
    disliked_texts=st.lists(st.sampled_from(TOPICS), max_size=2).map(tuple),
    muted=st.lists(st.sampled_from(["robots", "language models", "zzq"]), max_size=2).map(tuple),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    papers=st.lists(paper_strategy, max_size=10, unique_by=lambda paper: paper.id),
    readers=st.lists(reader_strategy, max_size=8, unique_by=lambda reader: reader.id),
    batch_size=st.integers(1, 5),
)
def test_properties_on_random_inputs(papers, readers, batch_size):
    result = score_papers(papers, readers, batch_size=batch_size)
    assert result == score_papers(papers, readers)  # batching does not matter
    assert set(result) == {reader.id for reader in readers}
    by_id = {paper.id: paper for paper in papers}
    for reader in readers:
        chosen = result[reader.id]
        followed = {" ".join(name.split()).casefold() for name in reader.followed_authors}

        def allowed(paper: PaperInfo, reader: ReaderInfo = reader, followed: set[str] = followed) -> bool:
            if paper.id in reader.sent or paper.id in reader.disliked or paper.id in reader.liked:
                return False
            if any(phrase in paper.text for phrase in reader.muted):  # the topics' words appear only in them
                return False
            by_followed = any(author.casefold() in followed for author in paper.authors)
            shares = bool(set(paper.categories) & set(reader.categories))
            unknown = not paper.categories  # a paper of unknown category passes any category filter
            return not reader.categories or unknown or shares or by_followed

        assert len(chosen) == len(set(chosen))
        assert len(chosen) <= min(max(reader.count, 1), MAX_COUNT)
        assert all(pid in by_id and allowed(by_id[pid]) for pid in chosen)
        allowed_ids = [paper.id for paper in papers if allowed(paper)]
        if chosen or not reader.skip_if_no_match:
            assert len(chosen) == min(max(reader.count, 1), MAX_COUNT, len(allowed_ids))
        pinned = [pid for pid in allowed_ids if by_id[pid].pinned]
        assert chosen[: len(pinned)] == pinned[: len(chosen)]  # pinned first, in edition order


def test_a_clear_match_beats_a_viral_paper():
    """Relevance is scaled per reader, so a reader's best match is not drowned by popularity."""
    papers = [
        PaperInfo(id=1, text="Scaling laws for large language models trained on web text", upvotes=5000),
        PaperInfo(id=2, text="Protein folding and structure prediction from single sequences", upvotes=12),
        PaperInfo(id=3, text="A survey of graph databases and query optimization", upvotes=40),
    ]
    ranked = score_papers(papers, [ReaderInfo(id=7, interests="protein folding", count=3)])
    assert ranked[7] == [2, 1, 3]
    assert score_papers(papers, [ReaderInfo(id=8, count=3)])[8] == [1, 3, 2], "no interests: popularity"


# --- reasons and mutes -------------------------------------------------------------------------


def pick(reader: ReaderInfo, papers=PAPERS, **kwargs):
    return rank_readers(papers, [reader], **kwargs)[reader.id]


def test_each_chosen_paper_says_why():
    papers = [*with_pinned(GNN), PaperInfo(301, "Planning with PDDL domains", 1, authors=('J{\\"o}rg Hoffmann',))]
    chosen = pick(ReaderInfo(1, "protein folding, speech", followed_authors=("Jörg Hoffmann",), count=5), papers)
    why = dict(zip(chosen.paper_ids, chosen.reasons, strict=True))
    assert chosen.paper_ids[0] == GNN and why[GNN] == ("pick",)
    assert why[PROTEIN] == ("interest:protein folding",)
    assert why[SPEECH] == ("interest:speech",)
    assert why[301] == ('author:J{\\"o}rg Hoffmann',)  # the name as the paper has it
    assert why[chosen.paper_ids[-1]] == ("trending",)
    assert not chosen.unmatched
    assert pick(ReaderInfo(2, "protein folding", count=9)).paper_ids == rank(ReaderInfo(2, "protein folding", count=9))


def test_a_paper_like_a_liked_one_says_so():
    chosen = pick(ReaderInfo(1, count=3, liked=frozenset({5001}), liked_texts=(STRUCTURE_PAPER,)))
    assert chosen.paper_ids[0] == PROTEIN and chosen.reasons[0] == ("liked",)


def test_a_reader_whose_interests_match_nothing_gets_the_top_papers_and_is_told():
    chosen = pick(ReaderInfo(1, "quantum gravity", count=3))
    assert chosen.paper_ids == BY_POPULARITY[:3]
    assert chosen.reasons == [("trending",)] * 3 and chosen.unmatched
    assert not pick(ReaderInfo(2, count=3)).unmatched  # nothing expressed: nothing to be told
    skipped = pick(ReaderInfo(3, "quantum gravity", skip_if_no_match=True))
    assert skipped.paper_ids == [] and not skipped.unmatched


def test_muted_words_and_phrases_never_appear():
    everything = set(rank(ReaderInfo(1, count=50)))
    assert PROTEIN not in rank(ReaderInfo(1, "protein folding", count=50, muted=("Protein",)))
    no_lm = set(rank(ReaderInfo(2, count=50, muted=("language models",))))
    assert everything - no_lm == {RLHF, DPO}  # both say "language model(s)"; SPEECH only "vocabulary"
    # A muted phrase hides a paper even when an editor pinned it or a followed author wrote it.
    assert ROBOT not in rank(ReaderInfo(3, followed_authors=("Jonas Berg",), muted=("robots",)), with_pinned(ROBOT))
    assert set(rank(ReaderInfo(4, count=50, muted=("zzzq unknown",)))) == everything


# --- semantic similarity (optional) -------------------------------------------------------------

# A stand-in for the embedding model (which needs the 1.1 GB extra): words of one concept point the
# same way, so "money" is near a paper about financial markets that never says "money".
CONCEPTS = {"money": 0, "financial": 0, "markets": 0, "stock": 0, "protein": 1, "folding": 1, "amino": 1}


def toy_embed(texts: list[str]) -> np.ndarray:
    vectors = np.full((len(texts), 3), 1e-3, dtype=np.float32)  # dimension 2: everything else
    for row, text in enumerate(texts):
        for word in text.lower().replace(".", " ").split():
            vectors[row, CONCEPTS.get(word, 2)] += 1.0
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def embedded(papers: list[PaperInfo]) -> list[PaperInfo]:
    vectors = toy_embed([paper.text for paper in papers])
    return [
        dataclasses.replace(paper, embedding=vector.astype("<f4").tobytes())
        for paper, vector in zip(papers, vectors, strict=True)
    ]


MARKETS = PaperInfo(501, "Forecasting stock returns in financial markets with transformers", 5)


def test_embeddings_find_what_shares_no_word_with_the_interest():
    papers = embedded([*PAPERS, MARKETS])
    reader = ReaderInfo(1, "money", count=3)
    without = rank_readers(papers, [reader])[1]
    assert without.unmatched and MARKETS.id not in without.paper_ids
    with_meaning = rank_readers(papers, [reader], embed=toy_embed)[1]
    assert with_meaning.paper_ids[0] == MARKETS.id and with_meaning.reasons[0] == ("interest:money",)
    assert not with_meaning.unmatched
    # The same papers ranked without meaning again: the cached phrases start afresh.
    assert rank_readers(papers, [reader])[1] == without
    clear_cache()


def test_papers_without_an_embedding_keep_their_tfidf_match():
    papers = [*embedded(PAPERS), MARKETS]  # the markets paper has no embedding
    assert MARKETS.id not in rank(ReaderInfo(1, "money", count=3), papers, embed=toy_embed)
    assert rank(ReaderInfo(2, "financial markets", count=3), papers, embed=toy_embed)[0] == MARKETS.id
    assert rank(ReaderInfo(3, "protein folding"), papers, embed=toy_embed)[0] == PROTEIN
    clear_cache()
