"""Response shapes of the read API (camelCase JSON)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
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
    """Series' units and events are net of corrections: a voided event counts neither its units nor itself,
    an amended one its corrected units."""

    tenant_id: str
    timezone: str
    from_: date = msgspec.field(name="from")
    to: date
    series: list[UsageSeries]
    # Ledger rows in the window, corrections included: /events lists exactly this many for the same window
    # and filters (the local days as instants). Counting rows is adding like to like, unlike adding units.
    total_events: int


Kind = Literal["event", "void", "amend"]


class CorrectionLink(msgspec.Struct, rename="camel", frozen=True):
    """One correction, as the rows it links show it: the event's list of corrections, or the correction row's
    own record."""

    id: UUID  # the correction's row
    action: Literal["void", "amend"]
    units: int  # the event's units once corrected (0 once voided)
    reason: str
    correction_key: str
    corrected_at: datetime


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
    idempotency_key: str  # the event's key (a correction row carries its event's): what a correction names
    kind: Kind  # a usage event, or a correction row (its units are the change it made)
    backfilled: bool  # imported with `usage-ledger import --backfill`
    corrects: UUID | None = None  # a correction row: the id of the event it corrects
    correction: CorrectionLink | None = None  # a correction row: what it did, why and when
    corrections: list[CorrectionLink] = []  # an event: its corrections, oldest first (wherever they are listed)
    net_units: int | None = None  # an event: its units once corrected (its units when never corrected)


class EventsPage(msgspec.Struct, rename="camel", frozen=True):
    events: list[UsageEvent]
    next_cursor: str | None  # null on the last page
