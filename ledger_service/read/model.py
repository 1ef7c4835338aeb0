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
    """One (source, eventType) with its unit: units are only ever summed within a series.

    `label` and `unitPlural` are the catalog's words, the ones the usage page shows ("Outbound SMS",
    "segments"), so an API client can show the same.
    """

    source: str
    event_type: str
    unit: str
    totals: Totals
    days: list[DayUsage]
    label: str
    unit_plural: str


class UsageSummary(msgspec.Struct, rename="camel", frozen=True):
    tenant_id: str
    timezone: str
    from_: date = msgspec.field(name="from")
    to: date
    series: list[UsageSeries]
    # Ledger rows in the window: /events lists exactly this many for the same window and filters (the
    # local days as instants). Counting rows is adding like to like, unlike adding the series' units.
    total_events: int


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
    label: str  # the catalog's words, as in UsageSeries
    unit_plural: str


class EventsPage(msgspec.Struct, rename="camel", frozen=True):
    events: list[UsageEvent]
    next_cursor: str | None  # null on the last page
