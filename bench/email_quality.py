"""Email quality of a rendered digest: HTML size against Gmail's clipping limit, and the
SpamAssassin score with local rules only (``spamassassin -L -t``).

The digest is rendered in a child process (``python -m bench.email_quality OUT_DIR N...``) on a
throwaway SQLite database, so the run neither touches nor depends on whatever database or
Django setup the rest of the benchmark run uses. The papers are real: the Hugging Face daily
papers fixtures, listed on one day, topped up with a few generated papers to reach 50."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.results import Result
from bench.tools import ensure

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path("/work/shared/fixtures/real/hf_api")
MAIN_FIXTURE = FIXTURES / "daily_papers_date_2026-08-21.json"
DAY = dt.date(2026, 8, 21)
FROM_EMAIL = "Paperboy <digest@paperboy.example>"
SITE_URL = "https://paperboy.example"
READER = "reader@university.example"
POSTAL_ADDRESS = "Paperboy, 123 Example Street, Springfield, IL 62701, USA"  # the footer a real send has
GMAIL_CLIP_BYTES = 102_000  # Gmail clips HTML over "102 KB"; 1 KB = 1000 bytes is the stricter reading
SPAM_TARGET = 1.0


# --- Child process: render the digests ---------------------------------------------------------


def _records():
    """The main fixture's papers, then the other real fixtures', then generated ones: all on DAY."""
    from papers.sources import hf_api

    files = [MAIN_FIXTURE, *sorted(p for p in FIXTURES.glob("daily_papers_date_*.json") if p != MAIN_FIXTURE)]
    records, seen = [], set()
    for path in files:
        for record in hf_api.parse(path.read_bytes(), listed_on=DAY).records:
            if record.arxiv_id not in seen:
                seen.add(record.arxiv_id)
                records.append(dataclasses.replace(record, listed_on=DAY, rank=len(records) + 1))
    real = list(records)
    topics = ["Long-Context Retrieval", "Multimodal Reasoning", "Speculative Decoding", "Video Diffusion"]
    methods = ["Sparse Mixture-of-Experts", "Preference Optimization", "Test-Time Scaling", "Token Pruning"]
    number = 0
    while len(records) < 50:
        base = real[number % len(real)]
        topic, method = topics[number % len(topics)], methods[(number // len(topics)) % len(methods)]
        sentences = re.split(r"(?<=\.)\s+", base.abstract)
        abstract = " ".join(sentences[1:] + sentences[:1]) if len(sentences) > 1 else base.abstract
        records.append(
            dataclasses.replace(
                base,
                arxiv_id=f"2608.{21000 + number:05d}",
                title=f"{method} for {topic}: A Systematic Study",
                abstract=abstract,
                authors=tuple(reversed(base.authors)),
                upvotes=max((base.upvotes or 0) // 2, 1),
                rank=len(records) + 1,
                pdf_url=f"https://arxiv.org/pdf/2608.{21000 + number:05d}",
                listed_on=DAY,
            )
        )
        number += 1
    return records, len(real)


def _render(out_dir: Path, sizes: list[int]) -> None:
    import django

    django.setup()
    from django.core.mail import EmailMessage
    from django.core.management import call_command
    from django.utils import timezone

    from newsletter import digest_email, rendering
    from newsletter.models import Delivery
    from newsletter.planning import plan_deliveries
    from newsletter.services import edition_publish
    from papers.ingest import upsert_records
    from papers.models import DailyEntry, Paper
    from subscribers.models import Subscriber

    call_command("migrate", verbosity=0, interactive=False)
    records, real = _records()
    outcome = upsert_records(records, source="hf", default_day=DAY)
    if outcome.failed:
        raise RuntimeError(f"ingest failed: {outcome.errors[:3]}")
    DailyEntry.objects.filter(day=DAY).update(status=DailyEntry.Status.APPROVED)
    edition = edition_publish(kind="daily", day=DAY)
    if edition is None:
        raise RuntimeError("no approved papers to publish")
    subscriber = Subscriber.objects.create(
        email=READER, status=Subscriber.Status.ACTIVE, confirmed_at=timezone.now() - dt.timedelta(days=3)
    )
    info: dict = {"papers": len(edition.paper_ids), "real_papers": real, "digests": {}}
    for n in sizes:
        Delivery.objects.filter(edition=edition, subscriber=subscriber).delete()
        Subscriber.objects.filter(pk=subscriber.pk).update(papers_per_digest=n)
        subscriber.refresh_from_db()
        plan_deliveries(edition, [(subscriber.pk, DAY)])
        row = Delivery.objects.select_related("edition").get(edition=edition, subscriber=subscriber)
        message = digest_email.build_message(row, subscriber, rendering.rendered_edition(edition))
        html = str(next(content for content, mimetype in message.alternatives if mimetype == "text/html"))
        mime = message.message().as_bytes()
        (out_dir / f"digest-{n}.eml").write_bytes(mime)
        shown = Paper.objects.in_bulk(row.paper_ids)
        info["digests"][n] = {
            # What the digest shows of each paper, to say which one a content rule fired on.
            "shown": [[shown[pk].title, rendering.paper_summary(shown[pk])] for pk in row.paper_ids if pk in shown],
            "papers": len(row.paper_ids),
            "html_bytes": len(html.encode("utf-8")),
            "text_bytes": len(message.body.encode("utf-8")),
            "mime_bytes": len(mime),
            "subject": message.subject,
        }
    plain = EmailMessage("Hello", "Hello", FROM_EMAIL, [READER]).message().as_bytes()
    (out_dir / "plain.eml").write_bytes(plain)
    (out_dir / "info.json").write_text(json.dumps(info))


# --- Parent: score and report ------------------------------------------------------------------

_STATUS = re.compile(r"^X-Spam-Status:\s*(\w+),\s*score=(-?[\d.]+)", re.MULTILINE)
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z][A-Z0-9_]+)\s+(.*)$")


def spam_score(spamassassin: str, mime: bytes) -> tuple[float, list[tuple[float, str, str]]]:
    """(score, [(points, rule, description)]) from ``spamassassin -L -t`` (local tests only)."""
    result = subprocess.run([spamassassin, "-L", "-t"], input=mime, capture_output=True, timeout=300, check=False)
    output = result.stdout.decode("utf-8", "replace")
    status = _STATUS.search(output)
    if not status:
        raise RuntimeError(f"spamassassin gave no X-Spam-Status (exit {result.returncode}): {result.stderr[-500:]!r}")
    rules: list[tuple[float, str, str]] = []
    _, _, table = output.partition("Content analysis details:")
    in_table = False
    for line in table.splitlines():
        if line.startswith("----"):
            in_table = True
            continue
        if not in_table:
            continue
        match = _RULE.match(line)
        if match:
            rules.append((float(match[1]), match[2], " ".join(match[3].split())))
        elif line.strip() and rules:  # a wrapped description
            points, name, text = rules[-1]
            rules[-1] = (points, name, f"{text} {' '.join(line.split())}")
        elif not line.strip() and rules:
            break
    return float(status[2]) + 0.0, rules  # + 0.0: no "-0.0"


RULE_FILES = Path("/usr/share/spamassassin")
_BODY_RULE = re.compile(r"^body\s+(__\w+)\s+/(.*)/(\w*)\s*$")


def content_causes(rules: list[tuple[float, str, str]], shown: list[list[str]]) -> str:
    """For each scoring rule built from body patterns (``__RULE_*`` in SpamAssassin's own rule
    files), the papers whose shown title or summary matches one of those patterns on its own."""
    causes = []
    for points, rule, _ in rules:
        if points <= 0:
            continue
        patterns = {}
        for path in sorted(RULE_FILES.glob("*.cf")):
            for line in path.read_text(errors="replace").splitlines():
                match = _BODY_RULE.match(line)
                if match and match[1].startswith(f"__{rule}"):
                    flags = re.IGNORECASE if "i" in match[3] else 0
                    with contextlib.suppress(re.error):  # a Perl-only construct: not explained here
                        patterns[match[1]] = re.compile(match[2], flags)
        hits = []
        for title, summary in shown:
            matched = [name for name, pattern in patterns.items() if pattern.search(f"{title} {summary}")]
            if matched:
                hits.append(f"«{title[:70]}» ({', '.join(matched)})")
        if hits:
            causes.append(f"{rule} matches the wording of {len(hits)} paper(s): {'; '.join(hits)}")
    return "; ".join(causes)


def _fired(rules: list[tuple[float, str, str]]) -> str:
    return ", ".join(f"{name} {points + 0.0:+.1f}" for points, name, _ in rules) or "none"


def run(*, quick: bool) -> list[Result]:
    spamassassin = ensure("spamassassin", "spamassassin")
    sizes = [10] if quick else [10, 50]
    with tempfile.TemporaryDirectory(prefix="paperboy-bench-email-") as tmp:
        out = Path(tmp)
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DJANGO_ENV"}
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            PAPERBOY_VAR_DIR=str(out / "var"),
            DEFAULT_FROM_EMAIL=FROM_EMAIL,
            SITE_URL=SITE_URL,
            POSTAL_ADDRESS=POSTAL_ADDRESS,
            LOG_LEVEL="warning",
        )
        subprocess.run(
            [sys.executable, "-m", "bench.email_quality", str(out), *map(str, sizes)],
            cwd=ROOT,
            env=env,
            check=True,
        )
        info = json.loads((out / "info.json").read_text())
        plain_score, plain_rules = spam_score(spamassassin, (out / "plain.eml").read_bytes())
        results: list[Result] = []
        setup = (
            f"From {FROM_EMAIL}, SITE_URL {SITE_URL}, a POSTAL_ADDRESS (set for the run); "
            f"{info['real_papers']} real HF papers + {info['papers'] - info['real_papers']} generated"
        )
        for n in sizes:
            digest = info["digests"][str(n)]
            size = digest["html_bytes"]
            results.append(
                Result(
                    benchmark="email_quality",
                    metric=f"digest HTML size, {n} papers",
                    value=size / 1000,
                    unit="KB",
                    baseline=GMAIL_CLIP_BYTES / 1000,
                    target="< 102 KB",
                    met=None if quick else size < GMAIL_CLIP_BYTES,
                    notes=(
                        f"baseline: Gmail clip limit (1 KB = 1000 B); text part {digest['text_bytes'] / 1000:.1f} KB, "
                        f"whole MIME {digest['mime_bytes'] / 1000:.1f} KB; {digest['papers']} papers in the digest"
                    ),
                )
            )
            score, rules = spam_score(spamassassin, (out / f"digest-{n}.eml").read_bytes())
            results.append(
                Result(
                    benchmark="email_quality",
                    metric=f"SpamAssassin score, {n} papers",
                    value=score,
                    unit="pts",
                    baseline=plain_score,
                    target="≤ 1.0",
                    met=None if quick else score <= SPAM_TARGET,
                    notes=(
                        f"`spamassassin -L -t` (local rules only); fired: {_fired(rules)}; "
                        + (f"{causes}; " if (causes := content_causes(rules, digest["shown"])) else "")
                        + f"baseline: plain 'Hello' message, fired: {_fired(plain_rules)}; {setup}"
                    ),
                )
            )
    return results


if __name__ == "__main__":
    _render(Path(sys.argv[1]), [int(n) for n in sys.argv[2:]])
