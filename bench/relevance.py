"""Relevance: does Paperboy put each reader's papers first? (issue 12, section 1)

Measured on ``bench/data/relevance.json``: 150 real recorded papers (``../shared/fixtures/real``)
and 25 reader profiles with hand-written grades (2 = must read, 1 = relevant); how they were
labelled is in ``bench/data/RELEVANCE.md``. On the bench database, the fixtures go through the real
ingest (``papers.services.ingest``), each profile becomes a Subscriber, and the papers become an
Edition, ranked the way ``send_digest --dry-run`` and the planner rank it:
``planning.rank(planning.paper_infos(edition), ids)`` (what ``plan_deliveries`` stores).

Reported: P@3, R@10 and nDCG@10 averaged over the profiles, for
- Paperboy with popularity absent (every paper the same upvotes; only the 42 HF papers have upvotes
  at all, so real upvotes mostly say "is an HF paper"), the headline figure;
- Paperboy with the real upvotes of the papers' listing days;
- a plain tf-idf cosine baseline (``TfidfVectorizer(stop_words="english")`` fitted on the edition's
  title + abstract texts; the query is the reader's interest phrases joined);
- popularity only (most upvotes first);
and the feedback lift: nDCG@10 on the 2026 papers after each eligible reader voted "more like this"
on 3 relevant and "less like this" on 2 irrelevant earlier papers (real Feedback rows), minus before.

Ties (equal scores) keep the edition's order, the fixtures' order, in every ranking here. The set is
small: the whole module takes a few seconds, so ``--quick`` runs it all too (and judges no target).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.db import bench_database, log
from bench.results import Result

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "relevance.json"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"
NDCG_MARGIN = 0.05  # target: Paperboy's nDCG@10 at least this much above tf-idf
LIFT_TARGET = 0.05  # target: feedback lifts nDCG@10 by at least this much
DIGEST_SIZE = 10  # papers per digest: the default, and the k of R@10 and nDCG@10
EMAIL_DOMAIN = "relevance.bench.example"


# --- Metrics (pure; ``labels`` maps paper -> grade 2 or 1, anything absent is 0) ---------------


def precision_at(ranked: Sequence[Any], labels: Mapping[Any, int], k: int) -> float:
    """Share of the first ``k`` positions holding a relevant paper (a short list counts as misses)."""
    return sum(1 for paper in ranked[:k] if labels.get(paper, 0) > 0) / k


def recall_at(ranked: Sequence[Any], labels: Mapping[Any, int], k: int) -> float:
    """Relevant papers in the first ``k``, out of all relevant papers in ``labels``."""
    relevant = {paper for paper, grade in labels.items() if grade > 0}
    if not relevant:
        raise ValueError("recall of a profile with no relevant paper is undefined")
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def dcg_at(gains: Sequence[float], k: int) -> float:
    """Sum of gain / log2(rank + 1) over ranks 1..k."""
    return sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains[:k]))


def ndcg_at(ranked: Sequence[Any], labels: Mapping[Any, int], k: int) -> float:
    """DCG@k of ``ranked`` (gain = grade) over the DCG@k of the grades in ``labels`` sorted best first."""
    ideal = dcg_at(sorted((grade for grade in labels.values() if grade > 0), reverse=True), k)
    if not ideal:
        raise ValueError("nDCG of a profile with no relevant paper is undefined")
    return dcg_at([labels.get(paper, 0) for paper in ranked], k) / ideal


def scores(ranked: Sequence[Any], labels: Mapping[Any, int]) -> dict[str, float]:
    return {
        "p3": precision_at(ranked, labels, 3),
        "r10": recall_at(ranked, labels, DIGEST_SIZE),
        "ndcg": ndcg_at(ranked, labels, DIGEST_SIZE),
    }


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# --- The labelled set and the database -------------------------------------------------------


def load_set(path: Path = DATA) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    ids = {paper["arxiv_id"] for paper in doc["papers"]}
    for profile in doc["profiles"]:
        unknown = (set(profile["labels"]) | set(profile["votes"]["more"]) | set(profile["votes"]["less"])) - ids
        if unknown:
            raise ValueError(f"{path}: profile {profile['name']!r} names papers not in the set: {sorted(unknown)}")
    return doc


def fixture_paths(doc: dict[str, Any], fixtures: Path = FIXTURES) -> list[Path]:
    paths = [fixtures / source["file"] for source in doc["sources"]]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise RuntimeError(
            f"bench relevance: the recorded fixtures are not there ({len(missing)} of {len(paths)} files missing, "
            f"first {missing[0]}). They live in ../shared/fixtures/real next to the project root "
            "(see its SOURCES.md); they are read in place, never copied into the project."
        )
    return paths


def ingest_fixtures(doc: dict[str, Any]) -> dict[str, int]:
    """Every source file through ``papers.services.ingest`` (listed on its day); arXiv id -> Paper pk."""
    from papers.models import IngestRun, Paper
    from papers.services import ingest

    for source, path in zip(doc["sources"], fixture_paths(doc), strict=True):
        run = ingest(source["source"], path=path, day=dt.date.fromisoformat(source["day"]))
        if run.status not in (IngestRun.Status.SUCCEEDED, IngestRun.Status.PARTIAL):
            raise RuntimeError(f"bench relevance: ingesting {path} failed: {run.errors}")
    ids = [paper["arxiv_id"] for paper in doc["papers"]]
    stored = dict(Paper.objects.filter(arxiv_id__in=ids).values_list("arxiv_id", "pk"))
    titles = dict(Paper.objects.filter(arxiv_id__in=ids).values_list("arxiv_id", "title"))
    missing = [arxiv_id for arxiv_id in ids if arxiv_id not in stored]
    if missing:
        raise RuntimeError(f"bench relevance: not stored after ingest: {missing}")
    changed = [p["arxiv_id"] for p in doc["papers"] if " ".join(titles[p["arxiv_id"]].split()) != p["title"]]
    if changed:
        raise RuntimeError(f"bench relevance: the fixtures' titles differ from the labelled set's: {changed}")
    return {arxiv_id: stored[arxiv_id] for arxiv_id in ids}


def make_edition(paper_ids: list[int], start: dt.date, end: dt.date) -> Any:
    from newsletter.models import Edition

    return Edition.objects.create(
        kind=Edition.Kind.WEEKLY,
        period_start=start,
        period_end=end,
        status=Edition.Status.DRAFT,
        subject="relevance bench",
        paper_ids=paper_ids,
    )


def forget(edition_ids: list[int]) -> None:
    """Leave the shared bench database as the next module expects: no extra readers or editions
    (their Feedback rows go with the readers). The ingested papers stay, as after the ingest bench."""
    from newsletter.models import Edition
    from subscribers.models import Subscriber

    Subscriber.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}").delete()
    Edition.objects.filter(pk__in=edition_ids).delete()


def make_subscribers(profiles: list[dict[str, Any]]) -> list[int]:
    from django.utils import timezone

    from subscribers.models import Subscriber

    now = timezone.now()
    return [
        Subscriber.objects.create(
            email=f"profile{i}@{EMAIL_DOMAIN}",
            status=Subscriber.Status.ACTIVE,
            confirmed_at=now,
            interests=profile["interests"],
            followed_authors=list(profile["follows"]),
            papers_per_digest=DIGEST_SIZE,
        ).pk
        for i, profile in enumerate(profiles)
    ]


def record_votes(subscriber_id: int, more: list[int], less: list[int]) -> None:
    """The rows the "more / less like this" links write (``newsletter.views.feedback``)."""
    from newsletter.models import Feedback

    for paper_ids, vote in ((more, Feedback.Vote.MORE), (less, Feedback.Vote.LESS)):
        for paper_id in paper_ids:
            Feedback.objects.update_or_create(subscriber_id=subscriber_id, paper_id=paper_id, defaults={"vote": vote})


# --- Rankings --------------------------------------------------------------------------------


def paperboy(edition: Any, subscriber_ids: list[int], *, popularity: bool) -> dict[int, list[int]]:
    """Subscriber id -> paper ids, ranked by the planner's own path. Without ``popularity`` every
    paper gets the same upvotes (0), so the popularity term is the same for all of them."""
    from newsletter import planning

    papers = planning.paper_infos(edition)
    if not popularity:
        papers = [dataclasses.replace(paper, upvotes=0) for paper in papers]
    return {reader: pick.paper_ids for reader, pick in planning.rank(papers, subscriber_ids).items()}


def with_embeddings(edition: Any, subscriber_ids: list[int]) -> dict[int, list[int]] | None:
    """Paperboy with the optional semantic similarity (RANKING_EMBEDDINGS) when its extra is
    installed: the papers are embedded as after an ingest, then ranked as above. None without it."""
    from django.test import override_settings

    from newsletter.ranking import clear_cache
    from papers import embeddings

    if embeddings.missing_packages():
        log(f"paperboy+embeddings: not measured, the extra is not installed ({embeddings.INSTALL_HINT})")
        return None
    embedded = embeddings.embed_papers()
    log(f"paperboy+embeddings: {embedded} papers embedded")
    clear_cache()
    with override_settings(RANKING_EMBEDDINGS=True):
        ranked = paperboy(edition, subscriber_ids, popularity=False)
    clear_cache()
    return ranked


def tfidf(texts: list[str], ids: list[int], queries: list[str]) -> list[list[int]]:
    """Per query: paper ids by tf-idf cosine, best first, ties in the given order."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(stop_words="english")
    matrix = vectorizer.fit_transform(texts)
    similarity = (vectorizer.transform(queries) @ matrix.T).toarray()  # rows are L2-normalized: cosine
    return [[ids[j] for j in sorted(range(len(ids)), key=lambda j: -row[j])] for row in similarity]


def by_popularity(papers: list[Any]) -> list[int]:
    """Most upvotes first, ties in the edition's order."""
    return [paper.id for paper in sorted(papers, key=lambda paper: -paper.upvotes)]


# --- The run ---------------------------------------------------------------------------------


def _split_interests(interests: str) -> str:
    from newsletter.ranking import split_interests

    return " ".join(split_interests(interests))


def _table_line(cells: list[str]) -> str:
    return "  " + " ".join(cells)


def run(*, quick: bool) -> list[Result]:
    doc = load_set()
    fixture_paths(doc)  # fail before touching the database when the fixtures are not there
    database = bench_database()
    from newsletter import planning

    pk = ingest_fixtures(doc)
    arxiv_of = {value: key for key, value in pk.items()}
    titles = {pk[paper["arxiv_id"]]: paper["title"] for paper in doc["papers"]}
    part = {source["file"]: source["part"] for source in doc["sources"]}
    days = sorted(dt.date.fromisoformat(source["day"]) for source in doc["sources"])
    later_days = sorted(dt.date.fromisoformat(s["day"]) for s in doc["sources"] if s["part"] == "later")
    all_ids = [pk[paper["arxiv_id"]] for paper in doc["papers"]]
    later_ids = [pk[paper["arxiv_id"]] for paper in doc["papers"] if part[paper["source_file"]] == "later"]
    profiles = doc["profiles"]
    labels = [{pk[arxiv_id]: grade for arxiv_id, grade in profile["labels"].items()} for profile in profiles]
    log(f"{len(all_ids)} papers ingested from {len(doc['sources'])} fixture files; {len(profiles)} profiles")

    edition = make_edition(all_ids, days[0], days[-1])
    readers = make_subscribers(profiles)
    infos = planning.paper_infos(edition)  # real upvotes of the listing days
    order = [paper.id for paper in infos]
    from papers.models import Paper

    plain = {pk: f"{title} {abstract}" for pk, title, abstract in Paper.objects.values_list("pk", "title", "abstract")}
    texts = [plain[paper.id] for paper in infos]  # the baseline reads title + abstract only

    runs = {
        "paperboy": paperboy(edition, readers, popularity=False),
        "paperboy+upvotes": paperboy(edition, readers, popularity=True),
    }
    semantic = with_embeddings(edition, readers)
    if semantic is not None:
        runs["paperboy+embeddings"] = semantic
    tfidf_ranked = tfidf(texts, order, [_split_interests(profile["interests"]) for profile in profiles])
    popular = by_popularity(infos)
    ranked: dict[str, list[list[int]]] = {name: [picks[r] for r in readers] for name, picks in runs.items()}
    ranked["tf-idf"] = [ranking[:DIGEST_SIZE] for ranking in tfidf_ranked]
    ranked["popularity"] = [popular[:DIGEST_SIZE] for _ in profiles]
    table = {name: [scores(lists[i], labels[i]) for i in range(len(profiles))] for name, lists in ranked.items()}
    log(f"ranked {len(readers)} readers x {len(all_ids)} papers four ways")

    # Feedback lift: a temporal split. Votes on earlier papers, nDCG@10 on the later ones.
    later = make_edition(later_ids, later_days[0], later_days[-1])
    later_set = set(later_ids)
    eligible = [i for i, profile in enumerate(profiles) if profile["votes"]["more"]]
    before = paperboy(later, [readers[i] for i in eligible], popularity=False)
    for i in eligible:
        votes = profiles[i]["votes"]
        more, less = [pk[a] for a in votes["more"]], [pk[a] for a in votes["less"]]
        assert later_set.isdisjoint(more + less), profiles[i]["name"]
        record_votes(readers[i], more, less)
    after = paperboy(later, [readers[i] for i in eligible], popularity=False)
    later_labels = {i: {p: g for p, g in labels[i].items() if p in later_set} for i in eligible}
    lift = {
        i: (
            ndcg_at(before[readers[i]], later_labels[i], DIGEST_SIZE),
            ndcg_at(after[readers[i]], later_labels[i], DIGEST_SIZE),
        )
        for i in eligible
    }
    log(f"feedback: {len(eligible)} readers voted 3 more + 2 less on earlier papers; ranked {len(later_ids)} later")

    _print_profiles(profiles, labels, table, ranked, lift, titles, arxiv_of)
    forget([edition.pk, later.pk])
    return _results(quick, database, profiles, eligible, table, lift, len(all_ids), len(later_ids))


def _print_profiles(profiles, labels, table, ranked, lift, titles, arxiv_of) -> None:
    """Per profile, to stderr: where Paperboy wins or loses, and its top 3 with their grades."""
    print(
        _table_line(
            [
                f"{'profile':22}",
                "rel",
                "| paperboy P@3 R@10 nDCG",
                "| tf-idf nDCG",
                "| +upvotes nDCG",
                "| popularity nDCG",
                "| lift (2026 papers) before -> after",
            ]
        ),
        file=sys.stderr,
    )
    for i, profile in enumerate(profiles):
        pb, tf = table["paperboy"][i], table["tf-idf"][i]
        relevant = sum(1 for grade in labels[i].values() if grade)
        change = f"{lift[i][0]:.2f} -> {lift[i][1]:.2f} ({lift[i][1] - lift[i][0]:+.2f})" if i in lift else "no votes"
        flag = "  <-- below tf-idf" if pb["ndcg"] < tf["ndcg"] else ""
        cells = [
            f"{profile['name'][:22]:22}",
            f"{relevant:3}",
            f"| {pb['p3']:12.2f} {pb['r10']:4.2f} {pb['ndcg']:4.2f}",
            f"| {tf['ndcg']:11.2f}",
            f"| {table['paperboy+upvotes'][i]['ndcg']:13.2f}",
            f"| {table['popularity'][i]['ndcg']:15.2f}",
            f"| {change}{flag}",
        ]
        print(_table_line(cells), file=sys.stderr)
        top = ", ".join(
            f"{arxiv_of[paper]} [{labels[i].get(paper, 0)}] {titles[paper][:38]}" for paper in ranked["paperboy"][i][:3]
        )
        print(f"      paperboy top 3: {top}", file=sys.stderr)


def _results(quick, database, profiles, eligible, table, lift, n_papers, n_later) -> list[Result]:
    def avg(name: str, metric: str) -> float:
        return mean([row[metric] for row in table[name]])

    pb_ndcg, tf_ndcg = avg("paperboy", "ndcg"), avg("tf-idf", "ndcg")
    lift_before = mean([pair[0] for pair in lift.values()])
    lift_after = mean([pair[1] for pair in lift.values()])
    lift_value = lift_after - lift_before
    below = [profiles[i]["name"] for i, row in enumerate(table["paperboy"]) if row["ndcg"] < table["tf-idf"][i]["ndcg"]]
    n = len(profiles)
    where = f"{n} hand-labelled profiles x {n_papers} real fixture papers (bench/data/RELEVANCE.md), {database}"
    log(
        f"paperboy nDCG@10 {pb_ndcg:.3f} vs tf-idf {tf_ndcg:.3f} (target +{NDCG_MARGIN}); "
        f"feedback lift {lift_value:+.3f} (target +{LIFT_TARGET}); below tf-idf: {', '.join(below) or 'none'}"
    )
    semantic = []
    if "paperboy+embeddings" in table:
        semantic_ndcg = avg("paperboy+embeddings", "ndcg")
        semantic.append(
            Result(
                "relevance",
                "paperboy nDCG@10 with embeddings (optional extra)",
                semantic_ndcg,
                "nDCG@10",
                baseline=tf_ndcg,
                target=f"≥ tf-idf + {NDCG_MARGIN}",
                met=None if quick else semantic_ndcg >= tf_ndcg + NDCG_MARGIN,
                notes=f"RANKING_EMBEDDINGS on (all-MiniLM-L6-v2, requirements-embeddings.txt), popularity absent: "
                f"P@3 {avg('paperboy+embeddings', 'p3'):.2f}, R@10 {avg('paperboy+embeddings', 'r10'):.2f}; "
                "baseline: tf-idf",
            )
        )
    return [
        *semantic,
        Result(
            "relevance",
            "paperboy nDCG@10, popularity absent",
            pb_ndcg,
            "nDCG@10",
            baseline=tf_ndcg,
            target=f"≥ tf-idf + {NDCG_MARGIN}",
            met=None if quick else pb_ndcg >= tf_ndcg + NDCG_MARGIN,
            notes=f"{where}; ranked by planning.rank (the planner's own path) with "
            "every paper's upvotes equal (only the 42 HF papers have any); baseline: tf-idf cosine "
            '(TfidfVectorizer(stop_words="english") on title+abstract, query = interest phrases); '
            f"below tf-idf on {len(below)} of {n}: {', '.join(below) or 'none'}",
        ),
        Result(
            "relevance",
            "paperboy P@3, popularity absent",
            avg("paperboy", "p3"),
            "P@3",
            baseline=avg("tf-idf", "p3"),
            target="reported",
            notes="share of the top 3 graded 1 or 2, mean over profiles; baseline: tf-idf",
        ),
        Result(
            "relevance",
            "paperboy R@10, popularity absent",
            avg("paperboy", "r10"),
            "R@10",
            baseline=avg("tf-idf", "r10"),
            target="reported",
            notes="share of a profile's relevant papers in its 10-paper digest, mean over profiles; baseline: tf-idf",
        ),
        Result(
            "relevance",
            "paperboy nDCG@10, real upvotes",
            avg("paperboy+upvotes", "ndcg"),
            "nDCG@10",
            baseline=tf_ndcg,
            target="reported",
            notes=f"the same with the listing days' upvotes (RANKING_POPULARITY_WEIGHT as configured): P@3 "
            f"{avg('paperboy+upvotes', 'p3'):.2f}, R@10 {avg('paperboy+upvotes', 'r10'):.2f}; baseline: tf-idf",
        ),
        Result(
            "relevance",
            "popularity-only nDCG@10",
            avg("popularity", "ndcg"),
            "nDCG@10",
            baseline=tf_ndcg,
            target="reported",
            notes=f"the same 10 most-upvoted papers for everyone: P@3 {avg('popularity', 'p3'):.2f}, "
            f"R@10 {avg('popularity', 'r10'):.2f}; baseline: tf-idf",
        ),
        Result(
            "relevance",
            "feedback lift nDCG@10",
            lift_value,
            "nDCG@10",
            target=f"≥ +{LIFT_TARGET}",
            met=None if quick else lift_value >= LIFT_TARGET,
            notes=f"{len(eligible)} of {n} profiles voted (real Feedback rows) 'more like this' on 3 relevant and "
            f"'less like this' on 2 unlabelled papers captured before 2026; nDCG@10 on the {n_later} papers of the "
            f"2026 captures, popularity absent: {lift_before:.3f} before, {lift_after:.3f} after",
        ),
    ]
