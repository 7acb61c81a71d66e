"""ESP batch sending: one API call carries up to DIGEST_ESP_BATCH_SIZE HTML readers' digests.

The ESP's stored template DIGEST_ESP_BATCH_TEMPLATE is a shell that shows each reader's own
rendering, passed as merge data (``subject``, ``html_body``, ``text_body``); headers and
metadata go per reader. With DIGEST_ESP_BATCH_TEXT_TEMPLATE (a text-only shell: ``subject``,
``text_body``) plain-text readers go in batches of their own; without, one call each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from anymail.message import AnymailMessage
from django.conf import settings

from newsletter.models import Delivery
from newsletter.provider import AccountError, classify, wait_for_send_slot

if TYPE_CHECKING:
    from newsletter.sending import ChunkSender


def build_batch(
    sender: ChunkSender, rows: list[Delivery], template: str = ""
) -> tuple[AnymailMessage | None, list[Delivery]]:
    """One batch call for ``rows`` (readers of one format) through the stored ``template``
    (DIGEST_ESP_BATCH_TEMPLATE unless given), and the rows it carries (a row whose rendering
    fails is failed and left out)."""
    merge_data, merge_headers, merge_metadata, built = {}, {}, {}, []
    for row in rows:
        message = sender.build(row)
        if message is None:
            continue
        email = row.subscriber.email
        model: dict[str, Any] = {"subject": message.subject, "text_body": message.body}
        if message.alternatives:  # an HTML reader's
            model["html_body"] = message.alternatives[0][0]
        merge_data[email] = model
        merge_headers[email] = message.extra_headers
        merge_metadata[email] = message.metadata  # type: ignore[attr-defined]
        built.append(row)
    if not built:
        return None, []
    batch = AnymailMessage(
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.subscriber.email for row in built],
        tags=[f"digest-{built[0].kind}"],
    )
    batch.template_id = template or settings.DIGEST_ESP_BATCH_TEMPLATE
    batch.merge_data, batch.merge_headers, batch.merge_metadata = merge_data, merge_headers, merge_metadata
    return batch, built


def record_statuses(sender: ChunkSender, batch: AnymailMessage, built: list[Delivery]) -> None:
    """Each recipient's fate as the ESP reported it; what it did not report is 'unknown', never guessed."""
    statuses = {address.lower(): status for address, status in batch.anymail_status.recipients.items()}
    # A call's outcomes arrive together: one ledger UPDATE for them, not one per 100 rows.
    ledger = sender.ledger
    limit, ledger.max_rows = ledger.max_rows, max(ledger.max_rows, len(built))
    try:
        for row in built:
            status = statuses.get(row.subscriber.email.lower())
            if status is not None and status.status in ("sent", "queued"):
                sender.sent(row, esp_message_id=status.message_id or "", send_seconds=0.0)
            elif status is not None and status.status in ("rejected", "invalid"):
                sender.fail(row, f"the provider refused this recipient ({status.status})")
            else:
                sender.fail(row, "the provider did not say whether it sent this", status=Delivery.Status.UNKNOWN)
    finally:
        ledger.max_rows = limit
    ledger.flush()


def answered_200(batch: AnymailMessage, exc: Exception) -> bool:
    """The call failed after the provider answered it with a 200: an Anymail error saying so, or
    anything raised while reading that answer (Anymail keeps the response before reading it)."""
    if isinstance(exc, AnymailAPIError) and getattr(exc, "status_code", None) == 200:
        return True
    response = getattr(getattr(batch, "anymail_status", None), "esp_response", None)
    return getattr(response, "status_code", None) == 200


def send_in_batches(sender: ChunkSender, rows: list[Delivery], template: str = "") -> None:
    """``rows`` (readers of one format) through ``template`` (see build_batch). Stops the sender
    (rows not taken, and why) when a call fails."""
    size = settings.DIGEST_ESP_BATCH_SIZE
    for start in range(0, len(rows), size):
        batch, built = build_batch(sender, rows[start : start + size], template)
        if batch is None:
            continue
        wait_for_send_slot(len(built))
        sender.handing_over(built)
        try:
            sender.mail.send_messages([batch])
        except AnymailRecipientsRefused:
            pass  # every recipient refused: their statuses say how
        except Exception as exc:
            later, problem = rows[start + size :], classify(exc)
            if isinstance(problem, AccountError):  # every message refused for the account: none was taken
                sender.stop(built + later, problem)
            elif answered_200(batch, exc):
                # The provider took the call but answered in a way we cannot read: some messages
                # may have gone. Never guess: the rows become 'unknown' (an editor may resend).
                for row in built:
                    sender.fail(row, f"unreadable provider answer: {exc}", status=Delivery.Status.UNKNOWN)
                sender.stop(later, problem)
            else:
                sender.stop(built + later, problem)  # nothing of this call was taken
            return
        record_statuses(sender, batch, built)
