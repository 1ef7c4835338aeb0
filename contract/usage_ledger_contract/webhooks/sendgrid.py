"""SendGrid Event Webhook → usage: ECDSA signature and timestamp check, then `email_sent` per processed email.

What is billed from the Event Webhook, and why (see replit.md): an email is billable when SendGrid accepts
it for sending, which the SendGridUsageInstrumentor records at send time (one event, units = recipients). The
instrumentor marks those messages with the custom arg `usage_recorded_at_send=1`, which SendGrid copies
into every event. From the webhook we bill only `processed` events *without* that mark (sends that were
not instrumented: another service, another language, a marketing tool), one recipient each, keyed by
`<sg_message_id>:email_sent`. So an app can use both and is billed once. Other event types (delivered,
open, bounce, ...) are not usage. The tenant comes from the custom arg `usage_tenant_id` when the sender
set one (it is covered by the signature), else from the caller.
"""

from __future__ import annotations

import binascii
import functools
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from usage_ledger_contract.webhooks._spec import InvalidSignatureError, UsageSpec

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
RECORDED_AT_SEND_ARG = "usage_recorded_at_send"
TENANT_ARG = "usage_tenant_id"
DEFAULT_MAX_AGE_SECONDS = 300


@functools.lru_cache(maxsize=8)
def _verifier(public_key: str) -> Any:
    from sendgrid.helpers.eventwebhook import EventWebhook

    return EventWebhook(public_key)


def verify_signature(
    public_key: str,
    payload: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise InvalidSignatureError unless SendGrid signed `timestamp + payload` within `max_age_seconds` of now.

    The freshness window stops a captured, genuinely signed request from being replayed later; retried
    deliveries of the same events are still recognised by their keys.
    """
    if not public_key:
        raise InvalidSignatureError("no SendGrid verification key is configured, so no event can be verified")
    if not signature or not timestamp:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers are required")
    if not timestamp.isdigit():
        raise InvalidSignatureError(f"{TIMESTAMP_HEADER} must be Unix seconds, got {timestamp[:32]!r}")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > max_age_seconds:
        raise InvalidSignatureError(f"the signature timestamp is {age:.0f}s from now; the window is {max_age_seconds}s")
    try:
        valid = _verifier(public_key).verify_signature(payload.decode("utf-8"), signature, timestamp)
    except (ValueError, TypeError, binascii.Error):  # not base64, not DER, not UTF-8: not a signature
        valid = False
    if not valid:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header does not match this request")


def parse_events(payload: bytes) -> list[dict[str, Any]]:
    try:
        events = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise ValueError(f"body: not valid JSON: {exc}") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValueError("body: must be a JSON array of event objects")
    return events


def event_usage(events: list[dict[str, Any]]) -> tuple[list[UsageSpec], int]:
    """`email_sent` for each processed, not-yet-recorded email; also how many were skipped as recorded at send."""
    specs: list[UsageSpec] = []
    recorded_at_send = 0
    for event in events:
        if event.get("event") != "processed":
            continue
        if str(event.get(RECORDED_AT_SEND_ARG, "")) == "1":
            recorded_at_send += 1
            continue
        specs.append(_email_sent(event))
    return specs, recorded_at_send


def _email_sent(event: dict[str, Any]) -> UsageSpec:
    message_id = event.get("sg_message_id") or event.get("sg_event_id")
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("sg_message_id: a processed event has neither sg_message_id nor sg_event_id")
    stamp = event.get("timestamp")
    occurred = datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) and stamp > 0 else None
    tenant = event.get(TENANT_ARG)
    metadata: dict[str, object] = {
        "sg_message_id": message_id,
        "sg_event_id": event.get("sg_event_id"),
        "x_message_id": message_id.split(".", 1)[0],  # the X-Message-Id SendGrid answered the send with
        "recorded_from": "event_webhook",
    }
    return UsageSpec(
        "sendgrid",
        "email_sent",
        1,
        f"{message_id}:email_sent",
        metadata,
        occurred,
        tenant if isinstance(tenant, str) and tenant else None,
    )
