from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from subscribers import services
from subscribers.forms import PreferencesForm, SignupForm
from subscribers.limits import signup_limited
from subscribers.models import Subscriber, ip_hash
from subscribers.tokens import Purpose, TokenExpired, TokenInvalid, make_token, read_token

P = ParamSpec("P")


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get(settings.RATELIMIT_IP_META_KEY) or request.META.get("REMOTE_ADDR")


def rate_limited(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "subscribers/rate_limited.html", status=429)


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        valid = form.is_valid()
        # Every POST counts for its client address; a valid one for its mailbox too, so Victim+1@
        # and "victim"@ share victim@'s limit. Bots count for their address only.
        mailbox = form.mailbox if valid and not form.is_bot else None
        if signup_limited(request, client_ip(request) or "", mailbox):
            return rate_limited(request)
        if valid:
            if form.is_bot:
                return redirect("subscribers:check_inbox")  # bots see success and achieve nothing
            # The same work for every address, whatever its state: no query, one task published
            # (services.subscriber_signup_request); the worker finds out what the address is.
            services.subscriber_signup_request(
                email=form.cleaned_data["email"],
                interests=form.cleaned_data["interests"],
                time_zone=form.cleaned_data["time_zone"],
                source=f"signup form at {request.POST.get('origin', '/subscribe/')[:100]}",
                signup_ip_hash=ip_hash(client_ip(request)),
            )
            return redirect("subscribers:check_inbox")
    status = 400 if form.is_bound else 200
    return render(request, "subscribers/subscribe.html", {"signup_form": form}, status=status)


def check_inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/check_inbox.html")


# A view that takes the token's subscriber, becoming one that takes the URL's token (as Django passes it, by name).
TokenView = Callable[Concatenate[HttpRequest, Subscriber, str, P], HttpResponse]
URLView = Callable[..., HttpResponse]


def with_token(purpose: Purpose) -> Callable[[TokenView[P]], URLView]:
    """Resolve the URL's token to a subscriber, or answer with a friendly 4xx page."""

    def decorator(view: TokenView[P]) -> URLView:
        @wraps(view)
        def wrapper(request: HttpRequest, token: str, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            try:
                subscriber = read_token(token, purpose)
            except TokenExpired:
                return render(request, "subscribers/link_expired.html", {"token": token}, status=410)
            except TokenInvalid:
                return render(request, "subscribers/link_invalid.html", status=400)
            return view(request, subscriber, token, *args, **kwargs)

        return wrapper

    return decorator


@require_http_methods(["GET", "POST"])
@with_token(Purpose.CONFIRM)
def confirm(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """GET shows a button; only the POST confirms, so mail scanners that open links confirm nobody."""
    just_confirmed = False
    if request.method == "POST":
        just_confirmed = services.subscriber_confirm(subscriber=subscriber, ip=client_ip(request))
        subscriber.refresh_from_db()
    context = {
        "subscriber": subscriber,
        "preferences_token": make_token(subscriber, Purpose.PREFERENCES),
        # A second visit (or click) must not promise another welcome email: only one was sent.
        "just_confirmed": just_confirmed,
    }
    if subscriber.status in services.SUBSCRIBED:
        return render(request, "subscribers/confirmed.html", context)
    if subscriber.status in services.CONFIRMABLE:
        return render(request, "subscribers/confirm.html", context)
    return render(request, "subscribers/link_invalid.html", status=400)


@require_POST
def confirm_resend(request: HttpRequest, token: str) -> HttpResponse:
    """A new confirmation email for the owner of an expired (but authentic) confirmation link."""
    try:
        subscriber = read_token(token, Purpose.CONFIRM)
    except TokenExpired as expired:
        subscriber = expired.subscriber
    except TokenInvalid:
        return render(request, "subscribers/link_invalid.html", status=400)
    services.subscriber_resend_confirmation(subscriber=subscriber)
    return redirect("subscribers:check_inbox")


@require_http_methods(["GET", "POST"])
@with_token(Purpose.PREFERENCES)
def preferences(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    form = PreferencesForm(request.POST or None, instance=subscriber)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved. Your next digest follows these preferences.")
        return redirect("subscribers:preferences", token=token)
    context = {
        "subscriber": subscriber,
        "form": form,
        "token": token,
        "unsubscribe_token": make_token(subscriber, Purpose.UNSUBSCRIBE),
        "feedback": subscriber.feedback.select_related("paper").order_by("-created_at")[:20],
    }
    return render(request, "subscribers/preferences.html", context, status=400 if form.is_bound else 200)


@require_POST
@with_token(Purpose.PREFERENCES)
def preferences_status(request: HttpRequest, subscriber: Subscriber, token: str, action: str) -> HttpResponse:
    if action == "pause" and services.subscriber_pause(subscriber=subscriber):
        messages.success(request, "Paused. No digests until you resume.")
    elif action == "resume" and services.subscriber_resume(subscriber=subscriber):
        messages.success(request, "Resumed. Your next digest arrives at your usual hour.")
    elif action == "resubscribe" and services.subscriber_resend_confirmation(subscriber=subscriber):
        messages.success(request, "Check your inbox: we sent a link to confirm your subscription.")
    return redirect("subscribers:preferences", token=token)


@require_http_methods(["GET"])
@with_token(Purpose.PREFERENCES)
def preferences_data(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(services.subscriber_export(subscriber=subscriber), indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = 'attachment; filename="paperboy-my-data.json"'
    return response


@require_http_methods(["GET", "POST"])
@with_token(Purpose.PREFERENCES)
def preferences_delete(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    if request.method == "POST":
        services.subscriber_erase(subscriber=subscriber)
        return render(request, "subscribers/erased.html")
    return render(request, "subscribers/delete_confirm.html", {"subscriber": subscriber, "token": token})


@csrf_exempt  # RFC 8058: mailbox providers POST without cookies or a CSRF token; the token is the secret
@require_http_methods(["GET", "POST"])
@with_token(Purpose.UNSUBSCRIBE)
def unsubscribe(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """GET shows one button (link scanners unsubscribe nobody); any POST unsubscribes at once.

    A one-click POST (body ``List-Unsubscribe=One-Click``) gets a plain 200, never a redirect."""
    if request.method == "GET":
        return render(request, "subscribers/unsubscribe.html", {"subscriber": subscriber, "token": token})
    services.subscriber_unsubscribe(subscriber=subscriber)
    if request.POST.get("List-Unsubscribe") == "One-Click":
        return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")
    context = {"subscriber": subscriber, "preferences_token": make_token(subscriber, Purpose.PREFERENCES)}
    return render(request, "subscribers/unsubscribed.html", context)
