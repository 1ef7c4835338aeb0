"""Per-event validation of typed events: the contract's rules, the catalog, the time window, metadata.

Every adapter's events pass here, so no path skips a rule; each problem is an EventRejected naming the
contract's Field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from ledger_service.ingest.model import EventRejected
from ledger_service.settings import Settings
from usage_ledger_contract import fields
from usage_ledger_contract.catalog import Catalog, UnknownEventTypeError
from usage_ledger_contract.rules import idempotency_key_problem, tenant_id_problem
from usage_ledger_contract.wire import UsageEvent

# A number with an exponent of 5+ digits may be outside PostgreSQL's numeric range (jsonb stores numbers
# as numeric), which would fail the whole batch's insert; such metadata gets a closer look.
_BIG_EXPONENT = re.compile(rb"[0-9][eE][+-]?[0-9]{5,}")
_NUMERIC_MAX_INTEGER_DIGITS = 131_072
_NUMERIC_MAX_SCALE = 16_383


@dataclass(frozen=True, slots=True)
class Limits:
    late_window: timedelta
    future_skew: timedelta
    max_metadata_bytes: int
    max_metadata_depth: int
    raw_retention: timedelta | None = None  # TimescaleDB drops raw chunks older than this (None: never)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            late_window=timedelta(days=settings.late_window_days),
            future_skew=timedelta(seconds=settings.future_skew_seconds),
            max_metadata_bytes=settings.max_metadata_bytes,
            max_metadata_depth=settings.max_metadata_depth,
            raw_retention=timedelta(days=settings.raw_retention_days) if settings.raw_retention_days else None,
        )

    def oldest_writable(self, now: datetime) -> datetime:
        """The oldest instant a row may be written at, late window aside: with raw retention on, rows that old
        are dropped, and a refresh over their marked hours would erase the aggregates kept for them. A day of
        margin keeps clear of a retention job about to run."""
        if self.raw_retention is None:
            return datetime.min.replace(tzinfo=UTC)
        return now - self.raw_retention + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Window:
    """The occurredAt range accepted for one batch, computed once per batch."""

    now: datetime
    oldest: datetime
    newest: datetime
    backfill: bool = False

    @classmethod
    def around(cls, now: datetime, limits: Limits, *, backfill: bool = False) -> Window:
        oldest = limits.oldest_writable(now) if backfill else now - limits.late_window
        return cls(now, oldest, now + limits.future_skew, backfill)


def check_event(event: UsageEvent, window: Window, limits: Limits, catalog: Catalog) -> tuple[datetime, str]:
    """Every rule of the contract and the ledger; returns (occurred_at, metadata JSON text) or raises."""
    _check_ids(event)
    try:
        catalog.lookup(event.source, event.event_type)
    except UnknownEventTypeError as exc:
        raise EventRejected(exc.field, exc.reason) from None
    occurred_at = event.occurred_at or window.now
    if occurred_at < window.oldest:
        raise EventRejected(fields.OCCURRED_AT, _too_old(window, limits))
    if occurred_at > window.newest:
        raise EventRejected(
            fields.OCCURRED_AT, f"is more than {int(limits.future_skew.total_seconds())} seconds in the future"
        )
    return occurred_at, check_metadata(event.metadata, limits)


def _too_old(window: Window, limits: Limits) -> str:
    if not window.backfill:
        return (
            f"is more than {limits.late_window.days} days in the past (the late-event window; older events "
            "are imported with `usage-ledger import --backfill`)"
        )
    days = limits.raw_retention.days if limits.raw_retention else 0
    return f"is older than the raw retention allows (LEDGER_RAW_RETENTION_DAYS = {days}, less a day of margin)"


def _check_ids(event: UsageEvent) -> None:
    # Lengths, ranges and patterns were checked when the event was decoded or built (msgspec, wire.py);
    # printable characters are the part of the contract's rule msgspec cannot express.
    if not event.tenant_id.isprintable():
        raise EventRejected(fields.TENANT_ID, tenant_id_problem(event.tenant_id) or "")
    key = event.idempotency_key
    if key is not None and not key.isprintable():
        raise EventRejected(fields.IDEMPOTENCY_KEY, idempotency_key_problem(key) or "")


def check_metadata(raw: msgspec.Raw, limits: Limits) -> str:
    """Return the metadata as JSON text after checking it is a small, shallow object PostgreSQL accepts."""
    data = bytes(raw)  # a Raw holds exactly the value's bytes, no surrounding whitespace
    if len(data) > limits.max_metadata_bytes:
        raise EventRejected(fields.METADATA, f"is {len(data)} bytes; the limit is {limits.max_metadata_bytes}")
    if not data.startswith(b"{"):
        if data == b"null":
            return "{}"
        raise EventRejected(fields.METADATA, "must be a JSON object")
    # Fast path: without a NUL escape and with fewer brackets than the depth limit, nothing can be wrong.
    if b"\\u0000" in data or data.count(b"{") + data.count(b"[") > limits.max_metadata_depth:
        _check_metadata_tree(_decode_metadata(data), limits.max_metadata_depth)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventRejected(fields.METADATA, f"is not valid UTF-8: {exc.reason}") from None
    if _BIG_EXPONENT.search(data):
        try:
            json.loads(text, parse_float=_check_numeric_range)
        except (ValueError, RecursionError):
            raise EventRejected(fields.METADATA, "is not valid JSON") from None
    return text


def _decode_metadata(data: bytes) -> object:
    try:
        return msgspec.json.decode(data)
    except RecursionError:
        raise EventRejected(fields.METADATA, "is nested too deeply") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise EventRejected(fields.METADATA, f"is not valid JSON: {exc}") from None


def _check_numeric_range(text: str) -> Decimal:
    number = Decimal(text)
    if number.is_finite():
        integer_digits = number.adjusted() + 1
        scale = -int(number.as_tuple().exponent)
        if integer_digits > _NUMERIC_MAX_INTEGER_DIGITS or scale > _NUMERIC_MAX_SCALE:
            raise EventRejected(
                fields.METADATA, f"holds the number {text[:40]}, outside the range PostgreSQL can store"
            )
    return number


def _check_metadata_tree(value: object, max_depth: int, depth: int = 1) -> None:
    if depth > max_depth:
        raise EventRejected(fields.METADATA, f"is nested deeper than {max_depth} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise EventRejected(fields.METADATA, "contains a NUL character (\\u0000), which PostgreSQL cannot store")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_metadata_tree(key, max_depth, depth)
            _check_metadata_tree(item, max_depth, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_metadata_tree(item, max_depth, depth + 1)
