from __future__ import annotations

from csp.decorators import csp_update
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from newsletter.digest_email import build_message
from newsletter.links import read_view_token, web_view_links
from newsletter.models import Delivery, Edition, Feedback
from newsletter.rendering import rendered_edition, withdrawn_papers
from papers.models import Paper, PaperAuthor
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, TokenInvalid, read_token


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
    editions = Edition.objects.published().order_by("-period_start", "kind")[:200]
    return render(request, "newsletter/archive.html", {"editions": editions})


def archive_edition(request: HttpRequest, pk: int) -> HttpResponse:
    edition = get_object_or_404(Edition.objects.published(), pk=pk)
    authors = Prefetch("author_links", queryset=PaperAuthor.objects.select_related("author"))
    # django-stubs 5.2 rejects any Prefetch on a manager made by as_manager() (typeddjango/django-stubs#3263).
    papers = Paper.objects.prefetch_related(authors).in_bulk(edition.paper_ids)  # type: ignore[arg-type]
    withdrawn = withdrawn_papers(edition)  # hidden or deleted since publishing: not shown publicly
    ordered = [papers[pk] for pk in edition.paper_ids if pk in papers and pk not in withdrawn]
    return render(request, "newsletter/archive_edition.html", {"edition": edition, "papers": ordered})


@require_http_methods(["GET", "POST"])
def feedback(request: HttpRequest, token: str, paper_id: int, vote: str) -> HttpResponse:
    """A "more / less like this" link: GET asks (scanners vote for nobody), POST records."""
    if vote not in ("more", "less"):
        raise Http404
    try:
        subscriber: Subscriber = read_token(token, Purpose.FEEDBACK)
    except TokenInvalid:
        return render(request, "subscribers/link_invalid.html", status=400)
    paper = get_object_or_404(Paper, pk=paper_id)
    value = Feedback.Vote.MORE if vote == "more" else Feedback.Vote.LESS
    recorded = False
    if request.method == "POST":
        Feedback.objects.update_or_create(subscriber=subscriber, paper=paper, defaults={"vote": value})
        recorded = True
    context = {"paper": paper, "vote": vote, "recorded": recorded}
    return render(request, "newsletter/feedback.html", context)
