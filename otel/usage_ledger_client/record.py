"""record_usage_event: validate at the call site, mark the current span, queue the event, return at once.

Everything that can be wrong with a call is checked before anything happens (so a bad call raises and
records nothing); after that the function never raises and never does I/O on the caller's thread in
memory mode (durable mode writes the event to the local spool, which is the point of it).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import msgspec

from usage_ledger_client import _runtime, spans
from usage_ledger_client.encoding import UsageRecord
from usage_ledger_client.errors import UsageValidationError
from usage_ledger_client.tenant import check_tenant, current_tenant
from usage_ledger_contract import attributes as attr
from usage_ledger_contract import fields
from usage_ledger_contract.catalog import CATALOG, DECLARABLE_SOURCES, UnknownEventTypeError
from usage_ledger_contract.limits import MAX_UNITS
from usage_ledger_contract.rules import idempotency_key_problem, name_problem, units_problem

log = logging.getLogger(__name__)

UNATTRIBUTED_WARN_INTERVAL = 60.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_encode = msgspec.json.encode
_last_unattributed_warning = -UNATTRIBUTED_WARN_INTERVAL
_KNOWN = frozenset((t.source, t.name) for t in CATALOG)  # the fast path of check_event_type


def record_usage_event(
    tenant_id: str | None,
    source: str,
    event_type: str,
    units: int,
    metadata: Mapping[str, object] | None = None,
    *,
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> str:
    """Record one billable event; returns its idempotency key (minted here when not given).

    tenant_id=None takes the tenant from `usage_tenant(...)` / baggage; with none in scope the event is
    recorded under UNATTRIBUTED_TENANT, counted and warned about. Raises a ValueError naming the field
    for a bad call.
    """
    if (source, event_type) not in _KNOWN:
        check_event_type(source, event_type)
    if type(units) is not int or not 0 <= units <= MAX_UNITS:
        _check_units(units)
    meta = b"{}" if metadata is None else _encode_metadata(metadata)
    tenant = current_tenant() if tenant_id is None else check_tenant(tenant_id)
    at_ns = time.time_ns() if occurred_at is None else _epoch_ns(occurred_at)
    key = _new_key() if idempotency_key is None else _check_key(idempotency_key)
    if tenant is None:
        tenant = _unattributed(source, event_type)
    record = UsageRecord(tenant, source, event_type, units, at_ns, key, meta, 0, 0)
    try:
        when = None if occurred_at is None else occurred_at.isoformat()
        trace_id, span_id = spans.mark_current(record, when, _runtime.own_span_now())
    except Exception:  # telemetry must never break the caller; the usage itself still goes out
        log.debug("could not attach the usage event to a span", exc_info=True)
        trace_id = span_id = 0
    _runtime.stats.add("recorded")
    _runtime.submit(UsageRecord(*record[:7], trace_id, span_id) if trace_id else record)  # (_replace is slow)
    return key


def check_event_type(source: str, event_type: str) -> None:
    """A catalog type, or any well-formed name of a source whose types the ledger declares per use
    (`system`: the ledger's LEDGER_EVENT_TYPES says which exist, and refuses the others)."""
    if source in DECLARABLE_SOURCES and name_problem(event_type) is None:
        return
    try:
        CATALOG.lookup(source, event_type)
    except UnknownEventTypeError as exc:
        raise UsageValidationError(exc.field.name, exc.reason) from None


def _check_units(units: object) -> None:
    problem = units_problem(units)
    if problem is not None:
        raise UsageValidationError(fields.UNITS.name, problem)


def _encode_metadata(metadata: Mapping[str, object] | None) -> bytes:
    if metadata is None:
        return b"{}"
    if not isinstance(metadata, Mapping):
        raise UsageValidationError("metadata", f"must be a mapping (a JSON object), got {type(metadata).__name__}")
    try:
        data = _encode(metadata if isinstance(metadata, dict) else dict(metadata))
    except (TypeError, msgspec.EncodeError) as exc:
        raise UsageValidationError("metadata", f"must be JSON-serialisable: {exc}") from None
    limit = _runtime.max_metadata_bytes
    if len(data) > limit:
        raise UsageValidationError("metadata", f"is {len(data)} bytes as JSON; the limit is {limit}")
    if b"\\u0000" in data:
        raise UsageValidationError("metadata", "contains a NUL character, which the ledger cannot store")
    return data


def _epoch_ns(occurred_at: object) -> int:
    if not isinstance(occurred_at, datetime):
        raise UsageValidationError("occurred_at", f"must be a datetime, got {type(occurred_at).__name__}")
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise UsageValidationError("occurred_at", "must be timezone-aware (e.g. datetime.now(UTC))")
    return (occurred_at - _EPOCH) // timedelta(microseconds=1) * 1000


def _check_key(key: object) -> str:
    problem = idempotency_key_problem(key)
    if problem is not None:
        raise UsageValidationError(fields.IDEMPOTENCY_KEY.name, problem)
    return str(key)


def _new_key() -> str:
    # A random (version 4) UUID in its usual text form; formatted by hand because uuid.uuid4() costs ~4 µs.
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _unattributed(source: str, event_type: str) -> str:
    global _last_unattributed_warning
    _runtime.stats.add("unattributed")
    now = time.monotonic()
    if now - _last_unattributed_warning >= UNATTRIBUTED_WARN_INTERVAL:
        _last_unattributed_warning = now
        message = "usage %s/%s recorded with no tenant in scope; stored under %r (wrap the work in usage_tenant(...))"
        log.warning(
            f"{message}; further warnings suppressed for %.0fs",
            source,
            event_type,
            attr.UNATTRIBUTED_TENANT,
            UNATTRIBUTED_WARN_INTERVAL,
        )
    return attr.UNATTRIBUTED_TENANT
