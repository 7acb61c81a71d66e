from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST

from newsletter import steering
from newsletter.digest_email import build_message
from newsletter.links import read_view_token, way_back, web_view_links
from newsletter.models import Delivery, Edition, Feedback
from newsletter.rendering import listing_path, paper_facts, paper_views, rendered_edition, withdrawn_papers
from newsletter.steering import mute_candidates
from papers.models import Paper
from subscribers import services as subscriber_services
from subscribers.models import Subscriber
from subscribers.muting import normalized_topic, topic_key
from subscribers.tokens import Purpose, make_token
from subscribers.views import with_token


# The email's own inline styles; still no scripts. (django-csp 4.0 types a view as taking only the request.)
@csp_update({"style-src": ["'unsafe-inline'"]})  # type: ignore[arg-type]
def view_digest(request: HttpRequest, token: str) -> HttpResponse:
    """The reader's own digest, exactly as emailed ("view in browser")."""
    found = read_view_token(token)
    rows = Delivery.objects.select_related("edition", "subscriber")
    row = None if found is None else rows.filter(pk=found[0], subscriber__link_key=found[1]).first()
    if row is None:  # forged, or the reader's link key changed (erasure, rotation): the link is dead
        return render(request, "subscribers/link_invalid.html", status=400)
    links = web_view_links(row, row.subscriber)  # no account access for whoever the link was forwarded to
    message = build_message(row, row.subscriber, rendered_edition(row.edition), shown_links=links)
    html = message.alternatives[0][0] if message.alternatives else format_html("<pre>{}</pre>", message.body)
    return HttpResponse(html)


def archive(request: HttpRequest) -> HttpResponse:
    editions = list(Edition.objects.published().order_by("-period_start", "kind")[:200])
    # What each edition's page shows: its papers that have a page here (an arXiv id), in one query.
    ids = {pk for edition in editions for pk in edition.paper_ids}
    public = set(Paper.objects.filter(pk__in=ids, arxiv_id__isnull=False).values_list("pk", flat=True))
    for edition in editions:
        edition.public_papers = sum(1 for pk in edition.paper_ids if pk in public)  # type: ignore[attr-defined]
    return render(request, "newsletter/archive.html", {"editions": editions})


def archive_edition(request: HttpRequest, pk: int) -> HttpResponse:
    """The edition as its digest shows it (the same facts of each paper), without the personal parts."""
    edition = get_object_or_404(Edition.objects.published(), pk=pk)
    withdrawn = withdrawn_papers(edition)  # hidden or deleted since publishing: not shown publicly
    # A paper without an arXiv id (a pasted text dump) has no page here, so no public page lists it.
    papers = [
        {**paper_facts(view.paper, view.upvotes), "note": view.note}
        for view in paper_views(edition, withdrawn)
        if view.paper.arxiv_id
    ]
    return render(
        request,
        "newsletter/archive_edition.html",
        {"edition": edition, "papers": papers, "listing_url": listing_path(edition)},
    )


VOTES = {"more": Feedback.Vote.MORE, "less": Feedback.Vote.LESS}
VOTE_NAMES: dict[int | None, str] = {Feedback.Vote.MORE: "more", Feedback.Vote.LESS: "less", None: "none"}


def _keywords(paper: Paper) -> list[str]:
    """The paper's HF keywords; an editor may have typed any JSON into them in admin."""
    keywords = paper.ai_keywords if isinstance(paper.ai_keywords, list) else []
    return [keyword for keyword in keywords if isinstance(keyword, str)]


def _feedback_page(
    request: HttpRequest,
    subscriber: Subscriber,
    token: str,
    paper: Paper,
    state: str,
    *,
    vote: str = "",
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    """The "more / less like this" page in one of its states: ask, voted, undone, muted, unmuted,
    mute_failed, broken. After "less like this", and on the pages muting leads to, it offers to
    mute the paper's topics."""
    candidates = []
    if state in ("muted", "unmuted", "mute_failed") or (state == "voted" and vote == "less"):
        muted = {topic_key(topic) for topic in subscriber.muted_topics}
        just_muted = topic_key(context["topic"]) if state == "muted" else None  # its undo is above
        candidates = [
            {"topic": topic, "muted": topic_key(topic) in muted}
            for topic in mute_candidates(paper.title, _keywords(paper), paper.abstract)
            if topic_key(topic) != just_muted
        ]
    back_url, back_label = way_back(subscriber, paper.pk)
    preferences = reverse("subscribers:preferences", args=[make_token(subscriber, Purpose.PREFERENCES)])
    context = {
        "preferences_url": preferences,
        **context,
        "token": token,
        "paper": paper,
        "state": state,
        "vote": vote,
        "candidates": candidates,
        "back_url": back_url,
        "back_label": back_label,
    }
    return render(request, "newsletter/feedback.html", context, status=status)


@require_http_methods(["GET", "POST"])
@with_token(Purpose.FEEDBACK)
def feedback(request: HttpRequest, subscriber: Subscriber, token: str, paper_id: int, vote: str) -> HttpResponse:
    """A "more / less like this" link: GET asks (scanners vote for nobody), POST records and
    offers an undo (and, after "less", to mute the paper's topic)."""
    if vote not in VOTES:
        raise Http404
    paper = get_object_or_404(Paper, pk=paper_id)
    if request.method == "GET":
        return _feedback_page(request, subscriber, token, paper, "ask", vote=vote)
    earlier = steering.feedback_vote(subscriber=subscriber, paper=paper, vote=VOTES[vote])
    # Undo takes this vote back: to the other vote if there was one, else to none (also when
    # the same vote was pressed again: undoing must never leave it in place).
    restore = "none" if earlier == VOTES[vote] else VOTE_NAMES[earlier]
    return _feedback_page(request, subscriber, token, paper, "voted", vote=vote, earlier=restore)


def _back_to_vote(subscriber: Subscriber, token: str, paper_id: int) -> HttpResponse:
    """A GET of an undo or mute address (a reopened tab, a bookmark): the vote page of the paper,
    asking again, rather than a bare 405."""
    current = Feedback.objects.filter(subscriber=subscriber, paper_id=paper_id).values_list("vote", flat=True).first()
    return redirect("newsletter:feedback", token=token, paper_id=paper_id, vote="more" if current == 1 else "less")


@require_http_methods(["GET", "POST"])
@with_token(Purpose.FEEDBACK)
def feedback_undo(request: HttpRequest, subscriber: Subscriber, token: str, paper_id: int) -> HttpResponse:
    """Undo a vote: the paper's vote back to what it was before (``restore``: more, less or none)."""
    if request.method == "GET":
        return _back_to_vote(subscriber, token, paper_id)
    paper = get_object_or_404(Paper, pk=paper_id)
    restore = request.POST.get("restore", "")
    by_name = {name: vote for vote, name in VOTE_NAMES.items()}
    if restore not in by_name:
        return _feedback_page(request, subscriber, token, paper, "broken", status=400)
    steering.feedback_restore(subscriber=subscriber, paper=paper, vote=by_name[restore])
    return _feedback_page(request, subscriber, token, paper, "undone", restored=restore)


@require_http_methods(["GET", "POST"])
@with_token(Purpose.FEEDBACK)
def feedback_mute(request: HttpRequest, subscriber: Subscriber, token: str, paper_id: int, action: str) -> HttpResponse:
    """One click from a "less like this" page: mute a phrase (or, as its undo, unmute it)."""
    if request.method == "GET":
        return _back_to_vote(subscriber, token, paper_id)
    paper = get_object_or_404(Paper, pk=paper_id)
    topic = normalized_topic(request.POST.get("topic", ""))
    if not topic:
        return _feedback_page(request, subscriber, token, paper, "broken", status=400)
    if action == "unmute":
        subscriber_services.subscriber_unmute(subscriber=subscriber, topic=topic)
        return _feedback_page(request, subscriber, token, paper, "unmuted", topic=topic)
    try:
        subscriber_services.subscriber_mute(subscriber=subscriber, topic=topic)
    except ValidationError as error:
        return _feedback_page(request, subscriber, token, paper, "mute_failed", errors=error.messages, status=400)
    return _feedback_page(request, subscriber, token, paper, "muted", topic=topic)


# --- Cold start: "pick papers you like" -----------------------------------------------------------


@require_http_methods(["GET"])
@with_token(Purpose.PREFERENCES)
def pick_papers(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """The last days' most upvoted papers, one "I like this" button each (no login, no JavaScript)."""
    # Papers the reader muted are not offered (the ranking would never send them either).
    papers = [paper for paper in steering.papers_to_pick() if not steering.is_muted(paper, subscriber.muted_topics)]
    liked = set(
        subscriber.feedback.filter(paper__in=papers, vote=Feedback.Vote.MORE).values_list("paper_id", flat=True)
    )
    context = {
        "subscriber": subscriber,
        "token": token,
        "papers": [(paper, paper.pk in liked) for paper in papers],
        "picked": len(liked),
    }
    return render(request, "newsletter/pick_papers.html", context)


@require_POST
@with_token(Purpose.PREFERENCES)
def pick_paper(request: HttpRequest, subscriber: Subscriber, token: str, paper_id: int) -> HttpResponse:
    """ "I like this" (records a "more like this" vote) or its undo; back to the list, at the paper."""
    paper = steering.pickable(paper_id)
    if paper is None:
        raise Http404("No such paper")
    if request.POST.get("action") == "unpick":
        if steering.pick_remove(subscriber=subscriber, paper=paper):
            messages.success(request, f"Unpicked “{paper.title}”.")
    else:
        steering.feedback_vote(subscriber=subscriber, paper=paper, vote=Feedback.Vote.MORE)
        messages.success(request, f"Picked “{paper.title}”.")
    return redirect(reverse("newsletter:pick_papers", args=[token]) + f"#paper-{paper.pk}")
