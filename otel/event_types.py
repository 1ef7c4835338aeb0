"""The registry of billable event types: one place, shared by the client library and the ledger.

The ledger service imports this module (the client library never imports the server), so a new event
type is added here once and both sides agree on its source, name and unit. See replit.md,
"How to add new event types in the future".
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

SOURCES: Final = ("twilio", "sendgrid", "openai", "system")

# The most units one event may carry, checked by the client library and the ledger alike. A billion is
# hundreds of times any real call (a 4-hour call is 240 minutes, a large completion a few million tokens),
# and it keeps every sum the ledger keeps (15-minute rollup buckets, 30-day totals) far inside bigint even
# at full ingest speed, so no batch can ever fail on an overflow. Larger usage is several events.
MAX_UNITS: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class EventType:
    source: str
    event_type: str
    unit: str
    description: str


_BUILTIN: Final = (
    EventType("twilio", "sms_outbound", "segment", "an SMS without media is created (units = segments)"),
    EventType("twilio", "mms", "message", "a message with media is sent or received"),
    EventType("twilio", "sms_inbound", "segment", "the inbound-message webhook arrives (NumSegments)"),
    EventType("twilio", "call_out", "call", "an outbound call is created"),
    EventType("twilio", "call_in", "call", "the inbound-call webhook arrives"),
    EventType("twilio", "call_minutes", "minute", "a completed call's status callback (ceil(CallDuration/60))"),
    EventType("twilio", "ivr", "step", "an IVR step (gather/menu webhook) executes"),
    EventType("sendgrid", "email_sent", "recipient", "an email is sent (units = recipients)"),
    EventType("openai", "ai_message", "token", "a chat completion / response finishes (units = total tokens)"),
    EventType("openai", "ai_voicemail_summary", "token", "a voicemail summary completion finishes"),
)

_registry: dict[tuple[str, str], EventType] = {(e.source, e.event_type): e for e in _BUILTIN}


class UnknownEventTypeError(ValueError):
    """Raised when a (source, event_type) pair is not in the registry."""


def register_event_type(source: str, event_type: str, unit: str, description: str = "") -> EventType:
    """Add an event type (typically a `system` one for an internal job) to this process's registry.

    The ledger validates against its own process's registry, so a type registered only in an app is
    rejected by the ledger until it is added to `_BUILTIN` here as well.
    """
    if source not in SOURCES:
        raise UnknownEventTypeError(f"source: {source!r} is not one of {', '.join(SOURCES)}")
    if not event_type or not unit:
        raise ValueError("event_type and unit must be non-empty")
    entry = EventType(source, event_type, unit, description)
    existing = _registry.get((source, event_type))
    if existing is not None and existing.unit != unit:
        raise ValueError(f"{source}/{event_type} is already registered with unit {existing.unit!r}")
    _registry[(source, event_type)] = entry
    return entry


def lookup(source: str, event_type: str) -> EventType:
    """Return the registry entry, or raise UnknownEventTypeError naming the bad field."""
    entry = _registry.get((source, event_type))
    if entry is not None:
        return entry
    if source not in SOURCES:
        raise UnknownEventTypeError(f"source: {source!r} is not one of {', '.join(SOURCES)}")
    known = sorted(e for (s, e) in _registry if s == source)
    raise UnknownEventTypeError(f"eventType: {event_type!r} is not a {source} event type (known: {', '.join(known)})")


def all_event_types() -> MappingProxyType[tuple[str, str], EventType]:
    """A read-only view of every registered (source, event_type)."""
    return MappingProxyType(_registry)
