"""DigestEmail writes its MIME form directly: a mail reader must see exactly what Django's own
EmailMultiAlternatives would have produced (headers, parts, encodings, decoded content)."""

from __future__ import annotations

import email
import re
from email import policy
from email.utils import formataddr

import pytest
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.mime import DigestEmail

HEADERS = {
    "Message-ID": "<d42.1700000000.1@paperboy.example>",
    "List-Unsubscribe": "<https://paperboy.example/unsubscribe/" + "x" * 120 + "/>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    "List-Id": "Paperboy daily digest <daily.digest.paperboy.example>",
    "Date": "Wed, 02 Dec 2026 05:00:00 -0000",
}


def both(subject, text, html=None, *, sender="Paperboy <digest@paperboy.example>", to="reader@example.org", **extra):
    """(Django's message, ours), parsed back from the bytes each would put on the wire."""
    parsed = []
    for cls in (EmailMultiAlternatives, DigestEmail):
        message = cls(subject, text, sender, [to], headers={**HEADERS, **extra})
        if html is not None:
            message.attach_alternative(html, "text/html")
        wire = message.message().as_bytes(linesep="\r\n")
        assert b"\r\n\r\n" in wire and b"\n" not in wire.replace(b"\r\n", b"")
        parsed.append(email.message_from_bytes(wire, policy=policy.default))
    return parsed


def both_with(headers: dict[str, str], **fields) -> list:
    """(Django's message, ours) for a digest with ``headers`` and EmailMessage ``fields`` (cc,
    reply_to, ...), parsed back; their address header lines must be byte for byte the same."""
    wires = []
    for cls in (EmailMultiAlternatives, DigestEmail):
        message = cls("Today's papers", "text\n", "Paperboy <digest@paperboy.example>", ["r@example.org"], **fields)
        message.extra_headers = {**HEADERS, **headers}
        message.attach_alternative("<p>html</p>", "text/html")
        wires.append(message.message().as_bytes(linesep="\r\n"))
    django_wire, our_wire = wires
    assert address_lines(our_wire) == address_lines(django_wire)
    return [email.message_from_bytes(wire, policy=policy.default) for wire in wires]


def address_lines(wire: bytes) -> dict[bytes, bytes]:
    """Every From/To/Cc/Reply-To header of ``wire`` as sent, folded lines included."""
    unfolded = re.sub(rb"\r\n(?=[ \t])", b"<fold>", wire.split(b"\r\n\r\n", 1)[0])
    lines = [line.partition(b":") for line in unfolded.split(b"\r\n")]
    return {name.lower(): value for name, _, value in lines if name.lower() in (b"from", b"to", b"cc", b"reply-to")}


def parts(message) -> list[tuple[str, str, str, str]]:
    """(content type, charset, transfer encoding, decoded content) of every leaf part."""
    return [
        (p.get_content_type(), p.get_content_charset(), p.get("Content-Transfer-Encoding"), p.get_content())
        for p in message.walk()
        if not p.is_multipart()
    ]


def same_message(django_message, ours) -> None:
    names = {name.lower() for name in django_message}
    assert {name.lower() for name in ours} == names
    for name in names - {"content-type"}:
        # Django folds a long header right after its colon, which reads back with a leading space.
        assert str(ours[name]).strip() == str(django_message[name]).strip(), name
    assert ours.get_content_type() == django_message.get_content_type()
    assert parts(ours) == parts(django_message)
    assert not ours.defects and all(not p.defects for p in ours.walk())


def test_an_ascii_digest_is_what_django_would_send():
    django_message, ours = both("Trending papers for Wednesday", "Hello\n\n1. A paper\n", "<p>Hello</p>")
    same_message(django_message, ours)
    assert ours.get_content_type() == "multipart/alternative"
    assert [(p[0], p[2]) for p in parts(ours)] == [("text/plain", "7bit"), ("text/html", "7bit")]


def test_unicode_subject_sender_and_body_are_encoded_like_django():
    django_message, ours = both(
        "Trending papers — Überblick für Mittwoch, 12月2日",
        "Résumé: naïve Bayes → 🤖\n",
        "<p>Résumé — ü</p>",
        sender="Paperbøy Digest <digest@paperboy.example>",
        to="Zoë Reader <zoe@example.org>",
    )
    same_message(django_message, ours)
    assert [p[2] for p in parts(ours)] == ["8bit", "8bit"]
    assert ours["Subject"] == "Trending papers — Überblick für Mittwoch, 12月2日"
    assert "=?utf-8?" in ours.as_string().split("\n\n")[0]  # encoded words on the wire, not raw UTF-8


def test_a_line_over_998_bytes_is_quoted_printable_and_decodes_to_the_same_html():
    html = "<table>" + "<td style='padding:4px'>cell é</td>" * 200 + "</table>"
    django_message, ours = both("Long lines", "text\n", html)
    same_message(django_message, ours)
    assert parts(ours)[1][2] == "quoted-printable"
    wire = DigestEmail("Long lines", "text\n", "a@example.org", ["b@example.org"], headers=HEADERS)
    wire.attach_alternative(html, "text/html")
    assert max(len(line) for line in wire.message().as_bytes(linesep="\r\n").split(b"\r\n")) <= 998


def test_a_text_only_digest_has_one_part():
    django_message, ours = both("Plain", "Just text\r\nwith CRLF\rand CR\n")
    same_message(django_message, ours)
    assert ours.get_content_type() == "text/plain" and not ours.is_multipart()


def test_a_header_with_a_line_break_is_refused_like_django():
    for cls in (EmailMultiAlternatives, DigestEmail):
        message = cls("Subject\nBcc: victim@example.org", "text", "a@example.org", ["b@example.org"], headers=HEADERS)
        with pytest.raises(BadHeaderError):
            message.message()


@pytest.mark.parametrize(
    "headers",
    [
        {"To": "Everyone <list@example.org>"},
        {"Cc": "Editor <editor@example.org>, second@example.org"},
        {"Reply-To": "Paperboy editors <editors@paperboy.example>"},
        {"Reply-To": "Zoë Éditrice <zoe@example.org>, Ørsted <o@example.org>"},
        {"To": "Ünïcode Everyone <list@example.org>", "Cc": "cc@example.org", "Reply-To": "r@example.org"},
        {"Reply-To": ", ".join(f"Editor number {n} <editor{n}@paperboy.example>" for n in range(8))},
        {"From": "Another Sender <other@paperboy.example>"},
        {"reply-to": "lowercase@example.org", "cc": "lowercase@example.org"},  # Django shows neither
    ],
)
def test_to_cc_and_reply_to_in_headers_are_shown_as_django_shows_them(headers):
    django_message, ours = both_with(headers)
    same_message(django_message, ours)
    for name in ("To", "Cc", "Reply-To"):
        if name in headers:
            assert ours[name] == headers[name]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Cc": "Shown instead <shown@example.org>", "Reply-To": "Shown too <too@example.org>"}],
)
def test_cc_and_reply_to_lists_are_shown_unless_headers_override_them(headers):
    fields = {"cc": ["Zoë <cc@example.org>", "cc2@example.org"], "reply_to": ["Editors <editors@example.org>"]}
    django_message, ours = both_with(headers, **fields)
    same_message(django_message, ours)
    assert ours["Cc"] == headers.get("Cc", "Zoë <cc@example.org>, cc2@example.org")


def test_headers_change_what_is_shown_not_who_receives_it():
    fields = {"cc": ["cc@example.org"], "bcc": ["bcc@example.org"]}
    headers = {**HEADERS, "To": "list@example.org", "Cc": "shown@example.org"}
    ours = DigestEmail("s", "t", "a@example.org", ["b@example.org"], headers=headers, **fields)
    theirs = EmailMultiAlternatives("s", "t", "a@example.org", ["b@example.org"], headers=headers, **fields)
    assert ours.recipients() == theirs.recipients() == ["b@example.org", "cc@example.org", "bcc@example.org"]
    assert "Bcc" not in ours.message() and "Bcc" not in theirs.message()


def test_a_line_break_in_an_address_header_is_refused_like_django():
    headers = {**HEADERS, "Reply-To": "a@example.org\nBcc: victim@example.org"}
    for cls in (EmailMultiAlternatives, DigestEmail):
        message = cls("s", "t", "a@example.org", ["b@example.org"], headers=headers)
        with pytest.raises(BadHeaderError):
            message.message()


def test_only_the_digest_shape_is_accepted():
    message = DigestEmail("s", "t", "a@example.org", ["b@example.org"], headers=HEADERS)
    message.attach("notes.txt", "x", "text/plain")
    with pytest.raises(ValueError, match="at most one HTML alternative"):
        message.message()
    without_id = DigestEmail("s", "t", "a@example.org", ["b@example.org"], headers={"List-Id": "x"})
    with pytest.raises(ValueError, match="Message-ID"):
        without_id.message()


safe_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=300)


@settings(max_examples=150, deadline=None)
@given(subject=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=120), body=safe_text)
def test_any_subject_and_body_read_back_as_django_s(subject, body):
    django_message, ours = both(subject, body + "\n", f"<p>{body}</p>")
    same_message(django_message, ours)


display_name = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=60)
plain_name = st.text(st.characters(whitelist_categories=("L", "N", "Zs")), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(quoted=display_name, plain=plain_name)
def test_any_reply_to_display_name_is_sent_as_django_sends_it(quoted, plain):
    reply_to = f"{formataddr((quoted, 'editors@paperboy.example'))}, {plain.strip() or 'x'} <desk@paperboy.example>"
    django_message, ours = both_with({"Reply-To": reply_to})
    same_message(django_message, ours)


@pytest.mark.django_db
def test_personal_links_are_what_reverse_gives():
    from django.conf import settings
    from django.urls import reverse

    from newsletter.links import personal_links, view_token
    from newsletter.models import Delivery
    from subscribers.tokens import Purpose, make_token
    from tests.factories import SubscriberFactory

    subscriber = SubscriberFactory(status="active")
    row = Delivery(pk=987, subscriber=subscriber)
    links, feedback = personal_links(row, subscriber)
    for name, url_name, token in [
        ("view_url", "newsletter:view_digest", view_token(987, subscriber.link_key)),
        ("preferences_url", "subscribers:preferences", make_token(subscriber, Purpose.PREFERENCES)),
        ("unsubscribe_url", "subscribers:unsubscribe", make_token(subscriber, Purpose.UNSUBSCRIBE)),
    ]:
        assert links[name] == settings.SITE_URL + reverse(url_name, args=[token]), name
    feedback_token = make_token(subscriber, Purpose.FEEDBACK)
    assert feedback + "12/less/" == settings.SITE_URL + reverse(
        "newsletter:feedback", args=[feedback_token, 12, "less"]
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2100), min_size=1, max_size=8))
def test_the_long_line_check_measures_every_line(lengths):
    from newsletter.mime import MAX_LINE, has_long_line

    raw = b"\n".join(b"x" * n for n in lengths)
    assert has_long_line(raw) == (max(lengths) > MAX_LINE)
