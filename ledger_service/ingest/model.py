"""Wire shapes of POST /api/usage/events (camelCase JSON), decoded with msgspec for speed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from otel.event_types import MAX_UNITS

# Printable characters only is checked in validation.py (str.isprintable is far cheaper than a regex).
TenantId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Units = Annotated[int, msgspec.Meta(ge=0, le=MAX_UNITS)]  # see otel/event_types.py
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
TraceId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
SpanId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]


class EventIn(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """One usage event as sent by a client. Unknown fields are refused so a typo is never ignored."""

    tenant_id: TenantId
    source: Name
    event_type: Name
    units: Units
    idempotency_key: IdempotencyKey | None = None
    # Kept raw: its size is checked on the bytes, and the JSON text goes to PostgreSQL as it came.
    metadata: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"{}"))
    occurred_at: AwareDatetime | None = None
    id: UUID | None = None
    trace_id: TraceId | None = None
    span_id: SpanId | None = None


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    # Raw: each event is decoded on its own, so one bad event rejects only itself.
    events: list[msgspec.Raw]


class EventError(msgspec.Struct, frozen=True):
    index: int
    field: str
    message: str


class IngestResult(msgspec.Struct, frozen=True):
    accepted: int
    duplicates: int
    rejected: int
    errors: list[EventError]
