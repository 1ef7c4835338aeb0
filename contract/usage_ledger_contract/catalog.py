"""The catalog of billable event types: sources, event types, their units and the words people read.

One place: the client library validates record_usage_event against it, the ledger validates ingest
against it (plus the `system` types an operator declares in LEDGER_EVENT_TYPES), and the read API, the
usage page, the analyst views and the docs take units and labels from it. The ledger is the source of
truth for which types exist: see replit.md, "How to add new event types".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from usage_ledger_contract import fields
from usage_ledger_contract.fields import Field
from usage_ledger_contract.rules import name_problem


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    label: str  # what a tenant admin reads, e.g. "SMS & calls"
    provider: str  # who bills it, e.g. "Twilio"


@dataclass(frozen=True, slots=True)
class EventType:
    source: str
    name: str
    unit: str  # singular: "segment"
    label: str  # what a tenant admin reads: "Outbound SMS"
    description: str = ""  # what makes one, in plain words
    unit_plural: str = ""  # "segments"; empty means the unit + "s"

    @property
    def units_label(self) -> str:
        return self.unit_plural or f"{self.unit}s"

    def amount(self, units: int) -> str:
        """`units` in words: "1 segment", "12,480 tokens"."""
        return f"{units:,} {self.unit if units == 1 else self.units_label}"

    @property
    def title(self) -> str:
        """The label with its unit, as charts and menus show it: "Outbound SMS · segments", but "Call minutes"
        where the label already names the unit."""
        if self.label.lower().endswith(self.units_label.lower()):
            return self.label
        return f"{self.label} \N{MIDDLE DOT} {self.units_label}"


SOURCES: Final = (
    Source("twilio", "SMS & calls", "Twilio"),
    Source("sendgrid", "Email", "SendGrid"),
    Source("openai", "AI", "OpenAI"),
    Source("system", "Internal jobs", "your app"),
)
SOURCE_NAMES: Final = tuple(s.name for s in SOURCES)
# Sources whose event types an operator may declare at run time (LEDGER_EVENT_TYPES); the provider
# sources' types change with the integrations that record them, so they change here, in code.
DECLARABLE_SOURCES: Final = ("system",)

BUILTIN_TYPES: Final = (
    EventType("twilio", "sms_outbound", "segment", "Outbound SMS", "Each SMS sent, counted in message segments"),
    EventType("twilio", "mms", "message", "MMS", "Each picture or media message sent or received"),
    EventType("twilio", "sms_inbound", "segment", "Inbound SMS", "Each SMS received, counted in message segments"),
    EventType("twilio", "call_out", "call", "Outbound calls", "Each call placed"),
    EventType("twilio", "call_in", "call", "Inbound calls", "Each call received"),
    EventType("twilio", "call_minutes", "minute", "Call minutes", "Minutes of every finished call, rounded up"),
    EventType("twilio", "ivr", "step", "Phone menu steps", "Each step a caller takes in a phone menu"),
    EventType("sendgrid", "email_sent", "recipient", "Emails sent", "Each email sent, counted per recipient"),
    EventType("openai", "ai_message", "token", "AI replies", "Tokens read and written by AI replies"),
    EventType("openai", "ai_voicemail_summary", "token", "Voicemail summaries", "Tokens used to summarise voicemails"),
)


class UnknownEventTypeError(ValueError):
    """A (source, event type) pair the catalog does not have; `field` says which of the two is wrong."""

    def __init__(self, field: Field, reason: str) -> None:
        super().__init__(f"{field.wire}: {reason}")
        self.field = field
        self.reason = reason


class Catalog:
    """An immutable set of event types, looked up by (source, event type)."""

    def __init__(self, types: Iterable[EventType]) -> None:
        self._types: dict[tuple[str, str], EventType] = {}
        for entry in types:
            _check_new(entry, self._types.get((entry.source, entry.name)))
            self._types[(entry.source, entry.name)] = entry

    def __iter__(self) -> Iterator[EventType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def get(self, source: str, event_type: str) -> EventType | None:
        return self._types.get((source, event_type))

    def lookup(self, source: str, event_type: str) -> EventType:
        """The entry, or UnknownEventTypeError naming the field that is wrong and what would be right."""
        entry = self._types.get((source, event_type))
        if entry is not None:
            return entry
        if source not in SOURCE_NAMES:
            raise UnknownEventTypeError(fields.SOURCE, f"{source!r} is not one of {', '.join(SOURCE_NAMES)}")
        known = ", ".join(sorted(t.name for t in self.types_of(source))) or "none declared"
        raise UnknownEventTypeError(fields.EVENT_TYPE, f"{event_type!r} is not a {source} event type (known: {known})")

    def types_of(self, source: str | None) -> list[EventType]:
        return [t for t in self._types.values() if source is None or t.source == source]

    def with_types(self, extra: Iterable[EventType]) -> Catalog:
        """This catalog plus `extra` (declared by an operator); an existing type may not change its unit."""
        return Catalog([*self._types.values(), *extra])


def source(name: str) -> Source | None:
    return next((s for s in SOURCES if s.name == name), None)


def _check_new(entry: EventType, existing: EventType | None) -> None:
    if entry.source not in SOURCE_NAMES:
        raise ValueError(f"source: {entry.source!r} is not one of {', '.join(SOURCE_NAMES)}")
    problem = name_problem(entry.name) or name_problem(entry.unit.replace(" ", "_"))
    if problem:
        raise ValueError(f"{entry.source}/{entry.name}: event type and unit names {problem}")
    if not entry.label:
        raise ValueError(f"{entry.source}/{entry.name}: needs a label")
    if existing is not None and existing.unit != entry.unit:
        raise ValueError(f"{entry.source}/{entry.name} is already defined with unit {existing.unit!r}")


CATALOG: Final = Catalog(BUILTIN_TYPES)
