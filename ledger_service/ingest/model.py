"""What the ingest service takes and answers: typed events in, a per-event outcome out.

Adapters (JSON, OTLP, webhooks, the demo) build the contract's UsageEvent directly. An item an adapter
could not turn into an event is passed on as an EventRejected in its place, so every outcome keeps the
index of the item it answers. Rejections name the contract's Field; each adapter words it in its
caller's vocabulary (camelCase JSON, `usage.*` attributes for OTLP).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

import msgspec

from usage_ledger_contract import fields
from usage_ledger_contract.fields import Field
from usage_ledger_contract.wire import UsageEvent


class EventRejected(Exception):
    """One event cannot be stored: `field` is what is wrong, `message` why.

    `field` is the contract's Field; a plain string is a name the caller used that the contract does not
    know (an unknown JSON field); None means `message` says everything (an adapter's own wording).
    """

    def __init__(self, field: Field | str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def field_name(self, name_of: Callable[[Field], str]) -> str:
        if isinstance(self.field, Field):
            return name_of(self.field)
        return self.field or name_of(fields.EVENT)

    def text(self, name_of: Callable[[Field], str]) -> str:
        return self.message if self.field is None else f"{self.field_name(name_of)}: {self.message}"


IngestItem = UsageEvent | EventRejected

_PATH_FIELD = re.compile(r" - at `\$\.(\w+)")
_MISSING_FIELD = re.compile(r"(?:missing required|unknown) field `(\w+)`")
# msgspec reports a pattern mismatch by quoting the regex; say what the field must look like instead.
_PATTERN_HINTS = {
    fields.TRACE_ID: "must be 32 lowercase hex characters (a W3C trace id)",
    fields.SPAN_ID: "must be 16 lowercase hex characters (a W3C span id)",
}


def rejected_by_msgspec(error: msgspec.ValidationError, names: Mapping[str, Field]) -> EventRejected:
    """msgspec's message names the field as the caller spelt it (`names` maps that spelling to the Field).

    An unknown field is not in the contract: it is named as the caller wrote it.
    """
    text = str(error)
    at = _PATH_FIELD.search(text) or _MISSING_FIELD.search(text)
    if at is None:
        return EventRejected(fields.EVENT, text)
    field = names.get(at.group(1), at.group(1))
    message = _PATH_FIELD.split(text)[0]
    if "matching regex" in message and isinstance(field, Field):
        message = _PATTERN_HINTS.get(field, message)
    return EventRejected(field, message)


def wire_name(field: Field) -> str:
    """A field as JSON callers spell it."""
    return field.wire


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: EventRejected


Via = Literal["api", "otlp", "webhook", "import"]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """Where a batch came from (kept with its conflicts) and whether it is a backfill: events older than the
    late window, allowed only to `usage-ledger import --backfill` with an admin key, and marked as such."""

    via: Via = "api"
    backfill: bool = False


@dataclass(frozen=True, slots=True)
class Difference:
    """One field in which an event sent again differs from the event stored under its key."""

    field: Field
    sent: str
    stored: str

    def text(self, name_of: Callable[[Field], str]) -> str:
        if self.field is fields.METADATA:
            return f"{name_of(self.field)}: differs from the stored event's"
        return f"{name_of(self.field)}: {self.sent}, but the stored event has {self.stored}"


@dataclass(frozen=True, slots=True)
class Conflict:
    """Item `index` carries the key of a stored event with other content: it changed nothing."""

    index: int
    tenant_id: str
    idempotency_key: str
    event_id: UUID | None
    differences: list[Difference]

    def field_names(self, name_of: Callable[[Field], str]) -> list[str]:
        return [name_of(d.field) for d in self.differences]

    def text(self, name_of: Callable[[Field], str]) -> str:
        what = "; ".join(d.text(name_of) for d in self.differences)
        return f"conflict: idempotency key {self.idempotency_key!r} holds an event with other content ({what})"


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    rejections: list[Rejection] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)


NOTHING = IngestResult(0, 0)
