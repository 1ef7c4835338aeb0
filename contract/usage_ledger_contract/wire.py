"""The JSON shapes of POST /api/usage/events: what the client encodes and the ledger decodes.

`UsageEvent` is also the typed event the ledger's ingest service takes from every adapter (JSON, OTLP,
webhooks, the demo). Its constraints (lengths, ranges, patterns: the limits of limits.py) are checked by
msgspec when JSON is decoded, and by `build_event` for an adapter that builds one from Python values, so
no path skips them. What msgspec cannot express (printable ids, the catalog) the ledger checks after.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from usage_ledger_contract.fields import WIRE_NAMES
from usage_ledger_contract.limits import MAX_IDEMPOTENCY_KEY_LENGTH, MAX_NAME_LENGTH, MAX_TENANT_ID_LENGTH, MAX_UNITS

TenantId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TENANT_ID_LENGTH)]
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH)]
Units = Annotated[int, msgspec.Meta(ge=0, le=MAX_UNITS)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
TRACE_ID_PATTERN = r"^[0-9a-f]{32}$"
SPAN_ID_PATTERN = r"^[0-9a-f]{16}$"
TraceId = Annotated[str, msgspec.Meta(pattern=TRACE_ID_PATTERN)]
SpanId = Annotated[str, msgspec.Meta(pattern=SPAN_ID_PATTERN)]
EMPTY_METADATA = msgspec.Raw(b"{}")
# Corrections are an administrator's work, a few at a time; a reason is a sentence or two for the audit trail.
MAX_CORRECTIONS = 1000
MAX_REASON_LENGTH = 1000


def _no_metadata() -> msgspec.Raw:
    # A factory, not a default value: JSON Schema generation (the ledger's OpenAPI) cannot show a Raw default.
    return EMPTY_METADATA


class UsageEvent(msgspec.Struct, rename=WIRE_NAMES, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """One usage event. Unknown fields are refused, so a typo such as `occuredAt` is never ignored."""

    tenant_id: TenantId
    source: Name
    event_type: Name
    units: Units
    # Required unless `id` is given: a retried event with the same key counts once.
    idempotency_key: IdempotencyKey | None = None
    # A small JSON object, kept as its bytes: its size is checked on them and it is stored as written.
    metadata: msgspec.Raw = msgspec.field(default_factory=_no_metadata)
    occurred_at: AwareDatetime | None = None  # absent: when the ledger receives it
    id: UUID | None = None
    trace_id: TraceId | None = None
    span_id: SpanId | None = None


_UNSET_FIELDS = {"idempotency_key": None, "occurred_at": None, "id": None, "trace_id": None, "span_id": None}


def build_event(**values: Any) -> UsageEvent:
    """A UsageEvent from Python values (by field name), its constraints checked as decoding JSON checks them.

    Raises msgspec.ValidationError naming the field (`$.units`) like the decoder does.
    """
    source = SimpleNamespace(**{"metadata": EMPTY_METADATA, **_UNSET_FIELDS, **values})
    return msgspec.convert(source, UsageEvent, from_attributes=True)


class EventBatch(msgspec.Struct, forbid_unknown_fields=True):
    """`{"events": [...]}`. Each event stays raw until it is decoded on its own, so one bad event rejects
    only itself."""

    events: list[msgspec.Raw]


class EventError(msgspec.Struct, frozen=True):
    index: int  # position in the batch
    field: str  # the wire name, or "event" for the event as a whole
    message: str


class EventConflict(msgspec.Struct, frozen=True, rename="camel"):
    """An event sent with the key of a stored event but other content: it changed nothing (the stored event
    stands), and the ledger keeps it for inspection. Resending it changes nothing either."""

    index: int  # position in the batch
    idempotency_key: str
    fields: list[str]  # what differs, by wire name: units, eventType, occurredAt, metadata, source
    message: str


class IngestReport(msgspec.Struct, frozen=True, rename={"conflict_details": "conflictDetails"}):
    """The ledger's 200 answer: every event of the batch is exactly one of accepted, duplicate (its key holds
    the same event), conflict (its key holds another event) or rejected."""

    accepted: int
    duplicates: int
    rejected: int
    errors: list[EventError] = []
    conflicts: int = 0
    conflict_details: list[EventConflict] = []


CorrectionAction = Literal["void", "amend"]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON_LENGTH)]


class Correction(msgspec.Struct, forbid_unknown_fields=True, frozen=True, rename="camel"):
    """One correction of a stored event, named by its tenant and idempotency key.

    `void` takes the event out of every sum (its units and its count); `amend` sets its units to `units`.
    Either is a new ledger row: the event's own row never changes. `correctionKey` makes the correction
    exactly-once like an event's key: sent again, it is a duplicate. `occurredAt` (the event's, as listed)
    is needed only to find an event whose key is older than the ledger keeps keys for (and very large).
    """

    tenant_id: TenantId
    idempotency_key: IdempotencyKey
    action: CorrectionAction
    reason: Reason
    correction_key: IdempotencyKey
    units: Units | None = None  # amend: the event's units from now on; void: not given
    occurred_at: AwareDatetime | None = None


class CorrectionBatch(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`{"corrections": [...]}`."""

    corrections: Annotated[list[Correction], msgspec.Meta(min_length=1, max_length=MAX_CORRECTIONS)]


class CorrectionOutcome(msgspec.Struct, frozen=True, rename="camel"):
    index: int
    correction_key: str
    outcome: Literal["applied", "duplicate", "rejected"]
    id: UUID | None = None  # the correction's ledger row
    event_id: UUID | None = None  # the corrected event's row
    units: int | None = None  # the event's units once corrected (0 once voided)


class CorrectionReport(msgspec.Struct, frozen=True):
    """Every correction of the batch is exactly one of applied, duplicate (its correctionKey was applied
    before, to the same effect) or rejected (named in `errors`)."""

    applied: int
    duplicates: int
    rejected: int
    errors: list[EventError] = []
    corrections: list[CorrectionOutcome] = []


def encode_batch(events: Sequence[bytes]) -> bytes:
    """A batch body from events already encoded one by one (as the client's spool keeps them)."""
    return b'{"events":[' + b",".join(events) + b"]}"
