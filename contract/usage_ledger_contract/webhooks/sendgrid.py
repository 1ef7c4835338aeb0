"""SendGrid Event Webhook → usage: ECDSA signature and timestamp check, then `email_sent` per processed email.

What is billed from the Event Webhook, and why (see replit.md): an email is billable when SendGrid accepts
it for sending, which the SendGridUsageInstrumentor records at send time (one event, units = recipients). The
instrumentor marks those messages with the custom arg `usage_recorded_at_send=1`, which SendGrid copies
into every event. From the webhook we bill only `processed` events *without* that mark (sends that were
not instrumented: another service, another language, a marketing tool), one recipient each, keyed by
`<sg_message_id>:email_sent`. So an app can use both and is billed once. Other event types (delivered,
open, bounce, ...) are not usage. The tenant comes from the custom arg `usage_tenant_id` when the sender
set one (it is covered by the signature), else from the caller. A problem with one event (no message id,
a timestamp that is not a time) rejects that event alone, never the batch.
"""

from __future__ import annotations

import binascii
import functools
import time
from base64 import b64decode
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from usage_ledger_contract.webhooks._spec import InvalidSignatureError, UsageSpec

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
RECORDED_AT_SEND_ARG = "usage_recorded_at_send"
TENANT_ARG = "usage_tenant_id"
DEFAULT_MAX_AGE_SECONDS = 300
# Unix seconds are 10 digits until the year 2286; 12 covers any time a datetime can hold.
_MAX_TIMESTAMP_DIGITS = 12
_LATEST_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z
# An ECDSA P-256 signature in DER is at most 72 bytes: 96 base64 characters.
_MAX_SIGNATURE_CHARS = 128


@dataclass(frozen=True, slots=True)
class EventProblem:
    index: int  # position in the batch
    reason: str  # starts with the field's name


@dataclass(frozen=True, slots=True)
class EventUsage:
    """What one Event Webhook batch bills, what it skipped as billed at send time, and which events are bad."""

    specs: list[UsageSpec] = field(default_factory=list)
    recorded_at_send: int = 0
    problems: list[EventProblem] = field(default_factory=list)


@functools.lru_cache(maxsize=8)
def _verifier(public_key: str) -> Any:
    from sendgrid.helpers.eventwebhook import EventWebhook

    return EventWebhook(public_key)


def check_request_headers(
    public_key: str,
    signature: str | None,
    timestamp: str | None,
    *,
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
    now: float | None = None,
) -> None:
    """What can be checked before the body is read: a key to check with, a fresh timestamp and a signature
    header of the right shape. Raises InvalidSignatureError (answer 403)."""
    if not public_key:
        raise InvalidSignatureError("no SendGrid verification key is configured, so no event can be verified")
    if not signature or not timestamp:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers are required")
    # ASCII digits, and few of them: int() of thousands of digits is slow, then refused.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
        raise InvalidSignatureError(f"{TIMESTAMP_HEADER} must be Unix seconds, got {timestamp[:32]!r}")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > max_age_seconds:
        raise InvalidSignatureError(f"the signature timestamp is {age:.0f}s from now; the window is {max_age_seconds}s")
    if len(signature) > _MAX_SIGNATURE_CHARS or not _is_base64(signature):
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header is not a signature")


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
    check_request_headers(public_key, signature, timestamp, max_age_seconds=max_age_seconds, now=now)
    try:
        valid = _verifier(public_key).verify_signature(payload.decode("utf-8"), signature, timestamp)
    except (ValueError, TypeError, binascii.Error):  # not base64, not DER, not UTF-8, a bad key: no signature
        valid = False
    if not valid:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header does not match this request")


def parse_events(payload: bytes) -> list[Any]:
    """The batch's events (a JSON array); what each element is, is checked event by event."""
    try:
        events = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise ValueError(f"body: not valid JSON: {exc}") from None
    if not isinstance(events, list):
        raise ValueError("body: must be a JSON array of event objects")
    return events


def event_usage(events: list[Any]) -> EventUsage:
    """`email_sent` for each processed, not-yet-recorded email; how many were skipped as recorded at send;
    and the events that cannot be read, each with its reason."""
    specs: list[UsageSpec] = []
    problems: list[EventProblem] = []
    recorded_at_send = 0
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            problems.append(EventProblem(index, "event: must be a JSON object"))
        elif event.get("event") != "processed":
            continue
        elif _recorded_at_send(event):
            recorded_at_send += 1
        else:
            try:
                specs.append(_email_sent(event))
            except ValueError as exc:
                problems.append(EventProblem(index, str(exc)))
    return EventUsage(specs, recorded_at_send, problems)


def _recorded_at_send(event: dict[str, Any]) -> bool:
    mark = event.get(RECORDED_AT_SEND_ARG)
    return mark == "1" or (type(mark) is int and mark == 1)  # custom args are strings; a 1 is taken too


def _email_sent(event: dict[str, Any]) -> UsageSpec:
    message_id = event.get("sg_message_id") or event.get("sg_event_id")
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("sg_message_id: a processed event has neither sg_message_id nor sg_event_id")
    tenant = event.get(TENANT_ARG)
    event_id = event.get("sg_event_id")
    metadata: dict[str, object] = {
        "sg_message_id": message_id,
        "sg_event_id": event_id if isinstance(event_id, str) else None,
        "x_message_id": message_id.split(".", 1)[0],  # the X-Message-Id SendGrid answered the send with
        "recorded_from": "event_webhook",
    }
    return UsageSpec(
        "sendgrid",
        "email_sent",
        1,
        f"{message_id}:email_sent",
        metadata,
        _occurred_at(event.get("timestamp")),
        tenant if isinstance(tenant, str) and tenant else None,
    )


def _occurred_at(stamp: object) -> datetime | None:
    """The event's `timestamp` (Unix seconds); None when absent (the ledger then uses the time it arrives)."""
    if stamp is None:
        return None
    # bool is an int to Python; NaN and infinities fail the range check.
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not 0 < stamp <= _LATEST_TIMESTAMP:
        raise ValueError(f"timestamp: must be Unix seconds, got {str(stamp)[:32]!r}")
    return datetime.fromtimestamp(stamp, UTC)


def _is_base64(text: str) -> bool:
    try:
        b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
