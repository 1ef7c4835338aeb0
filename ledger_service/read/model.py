"""Response shapes of the read API (camelCase JSON)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import msgspec


class DayUsage(msgspec.Struct, frozen=True):
    date: date
    units: int
    events: int


class Totals(msgspec.Struct, frozen=True):
    units: int
    events: int


class UsageSeries(msgspec.Struct, rename="camel", frozen=True):
    """One (source, eventType) with its unit: units are only ever summed within a series."""

    source: str
    event_type: str
    unit: str
    totals: Totals
    days: list[DayUsage]


class UsageSummary(msgspec.Struct, rename="camel", frozen=True):
    tenant_id: str
    timezone: str
    from_: date = msgspec.field(name="from")
    to: date
    series: list[UsageSeries]


class UsageEvent(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    source: str
    event_type: str
    unit: str
    units: int
    occurred_at: datetime
    created_at: datetime
    metadata: msgspec.Raw  # the stored JSON object, as stored
    trace_id: str | None


class EventsPage(msgspec.Struct, rename="camel", frozen=True):
    events: list[UsageEvent]
    next_cursor: str | None  # null on the last page
