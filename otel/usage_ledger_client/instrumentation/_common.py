"""What every instrumentor shares: the usage scope an app sets, the error counter, and the safe recording call.

The rule all of them follow: the provider call is the app's, telemetry is ours. Anything our code raises
(a span that cannot start, a response of an unexpected shape, a bad metadata value) is caught here,
counted in `telemetry_errors()` and logged at debug level; the app's call and its result or exception
are untouched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from usage_ledger_client.record import record_usage_event
from usage_ledger_client.tenant import current_tenant
from usage_ledger_contract.catalog import CATALOG

log = logging.getLogger("usage_ledger_client.instrumentation")

CONTENT_LIMIT = 500  # characters of captured content kept per field (metadata must stay small)

_event_type: ContextVar[str | None] = ContextVar("usage_event_type", default=None)
_extra: ContextVar[Mapping[str, object] | None] = ContextVar("usage_metadata", default=None)
_errors_lock = threading.Lock()
_errors = 0


@contextmanager
def usage_event_type(event_type: str) -> Iterator[str]:
    """Record provider calls in this block under `event_type` instead of the default one.

    `with usage_event_type("ai_voicemail_summary"): client.chat.completions.create(...)`. It applies where
    it is a like-for-like substitute: an event type of the call's own source with the same unit as the
    default (tokens for tokens), so an SMS inside the block stays an SMS.
    """
    if not any(entry.name == event_type for entry in CATALOG):
        raise ValueError(f"event_type: {event_type!r} is not a registered event type")
    token = _event_type.set(event_type)
    try:
        yield event_type
    finally:
        _event_type.reset(token)


@contextmanager
def usage_metadata(**metadata: str | int | float | bool | None) -> Iterator[None]:
    """Add these keys to the metadata of usage recorded in this block, e.g. `usage_metadata(sent_by="ai")`."""
    merged = {**(_extra.get() or {}), **metadata}
    token = _extra.set(merged)
    try:
        yield
    finally:
        _extra.reset(token)


def telemetry_errors() -> int:
    """How many times instrumentation code failed (and was swallowed) in this process."""
    return _errors


def count_error(what: str) -> None:
    global _errors
    with _errors_lock:
        _errors += 1
    log.debug("usage instrumentation failed (%s); the provider call is unaffected", what, exc_info=True)


def enabled() -> bool:
    """False inside suppress_instrumentation() (e.g. the usage exporter's own requests)."""
    return is_instrumentation_enabled()


def clip(text: object) -> str:
    value = text if isinstance(text, str) else str(text)
    return value if len(value) <= CONTENT_LIMIT else value[:CONTENT_LIMIT] + "…"


@dataclass(slots=True)
class CallScope:
    """What must be captured when the call starts: a stream may be read later, outside the app's `with` blocks."""

    source: str
    event_type: str
    tenant_id: str | None
    extra: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def capture(cls, source: str, default_event_type: str) -> CallScope:
        override = _event_type.get()
        event_type = default_event_type
        if override is not None:
            chosen = CATALOG.get(source, override)
            if chosen is not None and chosen.unit == CATALOG.lookup(source, default_event_type).unit:
                event_type = override
        return cls(source, event_type, current_tenant(), _extra.get() or {})

    def record(
        self, units: int, metadata: Mapping[str, object], idempotency_key: str | None, event_type: str | None = None
    ) -> None:
        """Record on the current span; errors are the caller's to swallow (see `safely`)."""
        kind = event_type or self.event_type
        merged = {**self.extra, **metadata}
        record_usage_event(self.tenant_id, self.source, kind, units, merged, idempotency_key=idempotency_key)
