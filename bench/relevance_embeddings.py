"""Semantic similarity on the relevance set (issue 12, section 2): does all-MiniLM-L6-v2 help?

Needs the optional extra (``pip install -r requirements-embeddings.txt``), so it is not one of
``make bench``'s modules; run it by hand::

    python -m bench.relevance_embeddings        # a table on stdout, progress on stderr

The same papers, labels and metrics as ``bench/relevance.py``: its labelled set, its fixtures through
the real ingest on a throwaway bench database, the edition of all 150 papers, one Subscriber per
profile, popularity absent. Each paper's embedding is computed and stored the way the
``papers.embed_papers`` task does it (``papers.embeddings.embed_papers``) and read back from the
database. Reported for the 25 profiles (means; and against the baseline named, how many profiles
improve or worsen in nDCG@10):

- embeddings alone, three reader profiles: the interests as one text, the normalized mean of the
  interest phrases' embeddings, the best phrase per paper (max);
- the plain tf-idf baseline blended with embeddings:
  ``(1 - a) * scaled(tfidf_cos) + a * scaled(emb_cos)``;
- Paperboy's ranking with its relevance term blended the same way (author boost kept):
  ``w_rel * ((1 - a) * scaled(paperboy_cos) + a * scaled(emb_cos)) + author_boost * followed``;

where ``scaled(x)`` divides each reader's row by its maximum (at least 0.25), as
``newsletter/ranking.py`` scales its relevance, and ``a`` is 0.3, 0.5 or 0.7. Then the feedback lift
of ``bench/relevance.py`` (3 "more", 2 "less" votes on earlier papers, nDCG@10 on the 2026 papers)
for Paperboy and for its blends, the liked papers' stored embeddings joining the reader's phrases
(each one a piece like a phrase, or all of them together weighing as much as all the phrases).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import relevance
from bench.db import bench_database, log

WEIGHTS = (0.3, 0.5, 0.7)
SCALE_FLOOR = 0.25  # as newsletter.ranking.RELEVANCE_SCALE_FLOOR
K = relevance.DIGEST_SIZE


# --- Scores (readers x papers arrays, papers in the edition's order) --------------------------


def scaled(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its maximum, at least ``SCALE_FLOOR``: a reader's best match scores 1."""
    return matrix / np.maximum(matrix.max(axis=1, keepdims=True), SCALE_FLOOR)


def ranked_ids(matrix: np.ndarray, ids: Sequence[int]) -> list[list[int]]:
    """Per row, the paper ids by score, best first, ties in the edition's order (a stable sort)."""
    order = np.argsort(-matrix, axis=1, kind="stable")
    return [[ids[j] for j in row[:K]] for row in order.tolist()]


def tfidf_similarity(texts: list[str], queries: list[str]) -> np.ndarray:
    """The tf-idf baseline of ``bench.relevance.tfidf``, as (queries x texts) cosines."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(stop_words="english")
    matrix = vectorizer.fit_transform(texts)
    return np.asarray((vectorizer.transform(queries) @ matrix.T).toarray())


def paperboy_parts(papers: list[Any], readers: list[Any], weights: Any) -> tuple[np.ndarray, np.ndarray]:
    """Paperboy's raw tf-idf relevance and its followed-author mask (readers x papers, in the order
    of ``papers``), from ``newsletter.ranking``'s own steps. Checked below: ranking by
    ``w_rel * scaled(relevance) + author_boost * followed`` gives ``score_papers``' lists exactly."""
    from newsletter.edition_vectors import edition_vectors, incidence
    from newsletter.ranking import _prepare, _relevance, score_papers

    edition = edition_vectors(tuple(papers))
    with edition.lock:
        prepared = _prepare(edition, readers)
        raw = _relevance(edition, prepared)
    followed = np.zeros(raw.shape, dtype=bool)
    if prepared.authors[1].size:
        authors = incidence(*prepared.authors, (len(readers), len(edition.author_index)), np.float32)
        followed = (authors @ edition.paper_authors) > 0
    columns = [edition.col_of[paper.id] for paper in papers]
    raw, followed = raw[:, columns], followed[:, columns]
    ids = [paper.id for paper in papers]
    mine = ranked_ids(paperboy_score(raw, followed, weights), ids)
    theirs = score_papers(papers, readers, weights=weights)
    differ = [reader.id for reader, picks in zip(readers, mine, strict=True) if picks != theirs[reader.id][:K]]
    if differ:
        raise RuntimeError(
            f"the reconstructed Paperboy scores rank {len(differ)} readers differently from score_papers"
        )
    return raw, followed


def paperboy_score(relevance_matrix: np.ndarray, followed: np.ndarray, weights: Any) -> np.ndarray:
    """Paperboy's score with popularity absent (the same for every paper, so left out)."""
    return weights.relevance * scaled(relevance_matrix) + weights.author_boost * followed


def profile_similarity(pieces: list[np.ndarray], papers: np.ndarray, how: str) -> np.ndarray:
    """(readers x papers) cosine of each reader's profile (``pieces[r]``: its normalized piece
    vectors, one a row) with the papers: ``mean`` of the pieces, normalized, or ``max`` over them."""
    rows = []
    for vectors in pieces:
        if not len(vectors):
            rows.append(np.zeros(len(papers)))
        elif how == "max":
            rows.append((vectors @ papers.T).max(axis=0))
        else:
            centre = vectors.mean(axis=0)
            rows.append(papers @ (centre / max(float(np.linalg.norm(centre)), 1e-12)))
    return np.vstack(rows)


# --- The run -------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    name: str
    lists: list[list[int]]
    base: str = ""  # the row this one is compared with, profile by profile


def evaluate(rows: list[Row], labels: list[dict[int, int]], names: list[str]) -> list[str]:
    """The table's lines: means, and against the base row how many profiles gain / lose nDCG@10
    (which ones lose, to stderr)."""
    table = {row.name: [relevance.scores(lists, labels[i]) for i, lists in enumerate(row.lists)] for row in rows}
    head = f"| {'ranking':44} | P@3   | R@10  | nDCG@10 | vs base          | better / worse / same |"
    lines = [head, "|" + "|".join("-" * (len(cell) + 0) for cell in head.split("|")[1:-1]) + "|"]
    for row in rows:
        got = table[row.name]
        means = [relevance.mean([s[m] for s in got]) for m in ("p3", "r10", "ndcg")]
        versus, counts = "", ""
        if row.base:
            base = table[row.base]
            delta = [s["ndcg"] - b["ndcg"] for s, b in zip(got, base, strict=True)]
            versus = f"{relevance.mean(delta):+.3f} vs {row.base.split()[0]}"
            up, down = sum(d > 1e-9 for d in delta), sum(d < -1e-9 for d in delta)
            counts = f"{up} / {down} / {len(delta) - up - down}"
            worse = ", ".join(f"{names[i]} {d:+.2f}" for i, d in enumerate(delta) if d < -1e-9)
            print(f"  {row.name}: worse than {row.base.split()[0]} on {worse or 'none'}", file=sys.stderr)
        cells = [f"{row.name:44}", f"{means[0]:.3f}", f"{means[1]:.3f}", f"{means[2]:.3f}  ", f"{versus:16}"]
        lines.append("| " + " | ".join(cells) + f" | {counts:21} |")
    return lines


def grade_similarity(similarity: np.ndarray, labels: list[dict[int, int]], ids: list[int]) -> list[str]:
    """How embedding cosines spread per grade: what a 'matches' threshold could be."""
    column = {pid: j for j, pid in enumerate(ids)}
    by_grade: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for i, grades in enumerate(labels):
        for pid, j in column.items():
            by_grade[grades.get(pid, 0)].append(float(similarity[i, j]))
    lines = []
    for grade in (2, 1, 0):
        values = np.array(by_grade[grade])
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        lines.append(f"  grade {grade}: {len(values):5} pairs, cosine p10 {p10:.2f} median {p50:.2f} p90 {p90:.2f}")
    return lines


def reader_infos(subscriber_ids: list[int]) -> list[Any]:
    """``planning.reader_infos`` in the order of ``subscriber_ids`` (it returns them in the database's)."""
    from newsletter import planning

    by_id = {info.id: info for info in planning.reader_infos(subscriber_ids)}
    return [by_id[subscriber_id] for subscriber_id in subscriber_ids]


def timed(what: str, call: Callable[[], Any]) -> tuple[Any, float, float]:
    """``call()``, its wall time and the CPU time of the whole process (every thread) it took."""
    started, cpu = time.perf_counter(), time.process_time()
    value = call()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    log(f"{what}: {elapsed:.2f} s ({cpu:.2f} s CPU)")
    return value, elapsed, cpu


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MB."""
    lines = Path("/proc/self/status").read_text().splitlines()
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def run() -> list[str]:
    doc = relevance.load_set()
    relevance.fixture_paths(doc)
    database = bench_database()
    from newsletter import planning
    from newsletter.ranking import split_interests
    from papers import embeddings
    from papers.models import Paper

    if embeddings.missing_packages():
        raise SystemExit(f"bench relevance_embeddings needs the embeddings extra: {embeddings.INSTALL_HINT}")

    pk = relevance.ingest_fixtures(doc)
    profiles = doc["profiles"]
    labels = [{pk[a]: grade for a, grade in profile["labels"].items()} for profile in profiles]
    ids = [pk[paper["arxiv_id"]] for paper in doc["papers"]]
    days = sorted(dt.date.fromisoformat(source["day"]) for source in doc["sources"])
    edition = relevance.make_edition(ids, days[0], days[-1])
    readers = relevance.make_subscribers(profiles)
    notes = [f"{len(ids)} papers, {len(profiles)} profiles, {database}"]

    before = rss_mb()
    _, load_s, _ = timed("import torch and load the model", lambda: embeddings.embed_texts(["warm up"]))
    loaded = rss_mb()
    count, embed_s, embed_cpu = timed("embed and store every paper", embeddings.embed_papers)
    after = rss_mb()
    notes += [
        f"model load {load_s:.1f} s; {count} papers embedded and stored in {embed_s:.1f} s, "
        f"{1000 * embed_s / count:.0f} ms a paper ({1000 * embed_cpu / count:.0f} ms CPU a paper; "
        f"{os.cpu_count()} cores shared with other work, torch's default threads)",
        f"RSS {before[0]:.0f} MB before the model, {loaded[0]:.0f} MB loaded, peak {after[1]:.0f} MB while embedding",
    ]
    stored = dict(Paper.objects.filter(pk__in=ids).values_list("pk", "embedding"))
    if any(stored[pid] is None for pid in ids):
        raise RuntimeError("bench relevance_embeddings: a paper has no embedding after embed_papers()")
    paper_vectors = np.vstack([embeddings.from_bytes(stored[pid] or b"") for pid in ids])

    weights = planning.weights()
    papers = [dataclasses.replace(info, upvotes=0) for info in planning.paper_infos(edition)]
    assert [paper.id for paper in papers] == ids
    infos = reader_infos(readers)
    phrases = [split_interests(profile["interests"]) for profile in profiles]
    pb_raw, followed = paperboy_parts(papers, infos, weights)
    tf_cos = tfidf_similarity([paper.text for paper in papers], [" ".join(p) for p in phrases])
    joined = embeddings.embed_texts([", ".join(p) for p in phrases]) @ paper_vectors.T
    phrase_vectors = [embeddings.embed_texts(p) for p in phrases]
    emb = {how: profile_similarity(phrase_vectors, paper_vectors, how) for how in ("mean", "max")}
    bare = embeddings.embed_texts([paper.text for paper in papers])  # title + abstract, no HF fields
    bare_mean = profile_similarity(phrase_vectors, bare, "mean")

    tfidf, paperboy = "tf-idf cosine (the bench's baseline)", "paperboy (as the bench ranks it)"
    rows = [
        Row(tfidf, ranked_ids(tf_cos, ids)),
        Row(paperboy, ranked_ids(paperboy_score(pb_raw, followed, weights), ids), tfidf),
        Row("embeddings alone, interests as one text", ranked_ids(joined, ids), tfidf),
    ]
    for how in ("mean", "max"):
        rows.append(Row(f"embeddings alone, {how} of phrases", ranked_ids(emb[how], ids), tfidf))
    rows.append(Row("embeddings alone, mean, title + abstract only", ranked_ids(bare_mean, ids), tfidf))
    for how in ("mean", "max"):
        for a in WEIGHTS:
            blend = (1 - a) * scaled(tf_cos) + a * scaled(emb[how])
            rows.append(Row(f"tf-idf + emb ({how}) a={a}", ranked_ids(blend, ids), tfidf))
        for a in WEIGHTS:
            mixed = (1 - a) * scaled(pb_raw) + a * scaled(emb[how])
            score = weights.relevance * mixed + weights.author_boost * followed
            rows.append(Row(f"paperboy + emb ({how}) a={a}", ranked_ids(score, ids), paperboy))
    table = evaluate(rows, labels, [profile["name"] for profile in profiles])
    spread = grade_similarity(emb["mean"], labels, ids)
    lift = feedback_lift(doc, pk, readers, labels, paper_vectors, ids, phrase_vectors, weights)
    relevance.forget([edition.pk])
    return [
        *notes,
        "",
        *table,
        "",
        "embedding cosine (mean of phrases) of profile x paper pairs, by grade:",
        *spread,
        "",
        *lift,
    ]


def feedback_lift(doc, pk, readers, labels, paper_vectors, ids, phrase_vectors, weights) -> list[str]:
    """bench/relevance.py's lift (votes on earlier papers, nDCG@10 on the 2026 ones), for Paperboy
    and its blends; a liked paper's stored embedding joins the reader's phrase vectors."""
    from newsletter import planning

    part = {source["file"]: source["part"] for source in doc["sources"]}
    later_ids = [pk[p["arxiv_id"]] for p in doc["papers"] if part[p["source_file"]] == "later"]
    days = sorted(dt.date.fromisoformat(s["day"]) for s in doc["sources"] if s["part"] == "later")
    later = relevance.make_edition(later_ids, days[0], days[-1])
    papers = [dataclasses.replace(info, upvotes=0) for info in planning.paper_infos(later)]
    column = {pid: j for j, pid in enumerate(ids)}
    vectors = paper_vectors[[column[pid] for pid in later_ids]]
    profiles = doc["profiles"]
    eligible = [i for i, profile in enumerate(profiles) if profile["votes"]["more"]]
    later_set = set(later_ids)
    later_labels = [{p: g for p, g in labels[i].items() if p in later_set} for i in eligible]

    def centre(vectors: np.ndarray) -> np.ndarray:
        mean_vector = vectors.mean(axis=0, keepdims=True)
        return mean_vector / max(float(np.linalg.norm(mean_vector)), 1e-12)

    def ndcgs(how: str | None, a: float, likes: str, voted: bool) -> list[float]:
        """nDCG@10 per eligible profile. ``likes``: each liked paper is one more profile piece
        (``pieces``), or all of them together weigh as much as all the phrases (``half``)."""
        infos = reader_infos([readers[i] for i in eligible])
        raw, followed = paperboy_parts(papers, infos, weights)
        mixed = scaled(raw)
        if how is not None:
            pieces = []
            for i in eligible:
                phrases, liked = phrase_vectors[i], paper_vectors[[column[pk[x]] for x in profiles[i]["votes"]["more"]]]
                if not voted:
                    pieces.append(phrases)
                elif likes == "half":
                    pieces.append(np.vstack([centre(phrases), centre(liked)]))
                else:
                    pieces.append(np.vstack([phrases, liked]))
            mixed = (1 - a) * mixed + a * scaled(profile_similarity(pieces, vectors, how))
        lists = ranked_ids(weights.relevance * mixed + weights.author_boost * followed, later_ids)
        return [relevance.ndcg_at(lists[n], later_labels[n], K) for n in range(len(eligible))]

    variants: list[tuple[str, str | None, float, str]] = [("paperboy", None, 0.0, "pieces")]
    variants += [(f"paperboy + emb ({h}) a={a}", h, a, "pieces") for h in ("mean", "max") for a in WEIGHTS]
    variants += [(f"paperboy + emb (mean, likes half) a={a}", "mean", a, "half") for a in WEIGHTS]
    before = {name: ndcgs(how, a, likes, voted=False) for name, how, a, likes in variants}
    for i in eligible:
        votes = profiles[i]["votes"]
        relevance.record_votes(readers[i], [pk[x] for x in votes["more"]], [pk[x] for x in votes["less"]])
    lines = [f"feedback lift, {len(eligible)} profiles, {len(later_ids)} later papers (nDCG@10 before -> after):"]
    for name, how, a, likes in variants:
        after = ndcgs(how, a, likes, voted=True)
        gained = sum(x > y + 1e-9 for x, y in zip(after, before[name], strict=True))
        lost = sum(x < y - 1e-9 for x, y in zip(after, before[name], strict=True))
        mean_before, mean_after = relevance.mean(before[name]), relevance.mean(after)
        lines.append(
            f"  {name:40} {mean_before:.3f} -> {mean_after:.3f} ({mean_after - mean_before:+.3f}; "
            f"{gained} better, {lost} worse)"
        )
    relevance.forget([later.pk])
    return lines


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    print("\n".join(run()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
