"""Per-event validation: shape (msgspec), registry, time window, metadata limits.

Every problem becomes an EventError naming the event's index, the field and the reason; the service
stores the valid events of a batch and reports the rest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import msgspec

from ledger_service.ingest.model import EventError, EventIn
from ledger_service.settings import Settings
from otel.event_types import UnknownEventTypeError, lookup

# A number with an exponent of 5+ digits may be outside PostgreSQL's numeric range (jsonb stores numbers
# as numeric), which would fail the whole batch's insert; such metadata gets a closer look.
_BIG_EXPONENT = re.compile(rb"[0-9][eE][+-]?[0-9]{5,}")
_NUMERIC_MAX_INTEGER_DIGITS = 131_072
_NUMERIC_MAX_SCALE = 16_383
_PATH_FIELD = re.compile(r" - at `\$\.(\w+)")
_MISSING_FIELD = re.compile(r"(?:missing required|unknown) field `(\w+)`")
# msgspec reports a pattern mismatch by quoting the regex; say what the field must look like instead.
_PATTERN_HINTS = {
    "traceId": "must be 32 lowercase hex characters (a W3C trace id)",
    "spanId": "must be 16 lowercase hex characters (a W3C span id)",
}


class EventRejected(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def to_error(self, index: int) -> EventError:
        return EventError(index=index, field=self.field, message=self.message)


@dataclass(frozen=True, slots=True)
class Limits:
    late_window: timedelta
    future_skew: timedelta
    max_metadata_bytes: int
    max_metadata_depth: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            late_window=timedelta(days=settings.late_window_days),
            future_skew=timedelta(seconds=settings.future_skew_seconds),
            max_metadata_bytes=settings.max_metadata_bytes,
            max_metadata_depth=settings.max_metadata_depth,
        )


_event_decoder = msgspec.json.Decoder(EventIn)


def decode_event(raw: bytes | msgspec.Raw) -> EventIn:
    """Decode one event; msgspec's error becomes EventRejected with the field it names."""
    try:
        return _event_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        text = str(exc)
        at = _PATH_FIELD.search(text) or _MISSING_FIELD.search(text)
        field = at.group(1) if at else "event"
        message = _PATH_FIELD.split(text)[0] if _PATH_FIELD.search(text) else text
        if "matching regex" in message:
            message = _PATTERN_HINTS.get(field, message)
        raise EventRejected(field, message) from None
    except msgspec.DecodeError as exc:
        raise EventRejected("event", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise EventRejected("event", "not valid JSON: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise EventRejected("event", f"not valid UTF-8: {exc.reason}") from None


@dataclass(frozen=True, slots=True)
class Window:
    """The occurredAt range accepted for one batch, computed once per batch."""

    now: datetime
    oldest: datetime
    newest: datetime

    @classmethod
    def around(cls, now: datetime, limits: Limits) -> Window:
        return cls(now, now - limits.late_window, now + limits.future_skew)


def check_event(event: EventIn, window: Window, limits: Limits) -> tuple[datetime, str]:
    """Semantic checks; returns (occurred_at, metadata JSON text) or raises EventRejected."""
    # Ids must be printable: PostgreSQL text cannot hold NUL, and no control character belongs in an id.
    if not event.tenant_id.isprintable():
        raise EventRejected("tenantId", "must not contain control characters")
    if event.idempotency_key is not None and not event.idempotency_key.isprintable():
        raise EventRejected("idempotencyKey", "must not contain control characters")
    try:
        lookup(event.source, event.event_type)
    except UnknownEventTypeError as exc:
        field, _, message = str(exc).partition(": ")
        raise EventRejected(field, message) from None
    occurred_at = event.occurred_at or window.now
    if occurred_at < window.oldest:
        raise EventRejected(
            "occurredAt", f"is more than {limits.late_window.days} days in the past (the late-event window)"
        )
    if occurred_at > window.newest:
        raise EventRejected(
            "occurredAt", f"is more than {int(limits.future_skew.total_seconds())} seconds in the future"
        )
    return occurred_at, check_metadata(event.metadata, limits)


def check_metadata(raw: msgspec.Raw, limits: Limits) -> str:
    """Return the metadata as JSON text after checking it is a small, shallow object PostgreSQL accepts."""
    data = bytes(raw)  # a Raw holds exactly the value's bytes, no surrounding whitespace
    if len(data) > limits.max_metadata_bytes:
        raise EventRejected("metadata", f"is {len(data)} bytes; the limit is {limits.max_metadata_bytes}")
    if not data.startswith(b"{"):
        if data == b"null":
            return "{}"
        raise EventRejected("metadata", "must be a JSON object")
    # Fast path: without a NUL escape and with fewer brackets than the depth limit, nothing can be wrong.
    if b"\\u0000" in data or data.count(b"{") + data.count(b"[") > limits.max_metadata_depth:
        _check_metadata_tree(_decode_metadata(data), limits.max_metadata_depth)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventRejected("metadata", f"is not valid UTF-8: {exc.reason}") from None
    if _BIG_EXPONENT.search(data):
        try:
            json.loads(text, parse_float=_check_numeric_range)
        except (ValueError, RecursionError):
            raise EventRejected("metadata", "is not valid JSON") from None
    return text


def _decode_metadata(data: bytes) -> object:
    try:
        return msgspec.json.decode(data)
    except RecursionError:
        raise EventRejected("metadata", "is nested too deeply") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise EventRejected("metadata", f"is not valid JSON: {exc}") from None


def _check_numeric_range(text: str) -> Decimal:
    number = Decimal(text)
    if number.is_finite():
        integer_digits = number.adjusted() + 1
        scale = -int(number.as_tuple().exponent)
        if integer_digits > _NUMERIC_MAX_INTEGER_DIGITS or scale > _NUMERIC_MAX_SCALE:
            raise EventRejected("metadata", f"holds the number {text[:40]}, outside the range PostgreSQL can store")
    return number


def _check_metadata_tree(value: object, max_depth: int, depth: int = 1) -> None:
    if depth > max_depth:
        raise EventRejected("metadata", f"is nested deeper than {max_depth} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise EventRejected("metadata", "contains a NUL character (\\u0000), which PostgreSQL cannot store")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_metadata_tree(key, max_depth, depth)
            _check_metadata_tree(item, max_depth, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_metadata_tree(item, max_depth, depth + 1)
