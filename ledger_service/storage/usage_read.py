"""Tenant-scoped reads: summary buckets and event pages, each in a transaction run as this database's
reader role (storage/roles.py).

The tenant comes from the caller (the verified token) and is used twice: in each query's WHERE clause
and as ledger.tenant_id with the proof the service's login makes for it (migration 0009), which row-level
security / the tenant views enforce. A query that forgot its tenant filter would still return only that
tenant's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple
from uuid import UUID

import asyncpg

from ledger_service.storage.sql import query
from ledger_service.storage.summary_ranges import plan_ranges

Isolation = Literal["read_committed", "repeatable_read"]


class SummaryRow(NamedTuple):
    """One (source, event_type, day) of a summary. A named tuple: a month's ~300 are built from the query's
    rows by position in a third of the time a frozen dataclass takes."""

    source: str
    event_type: str
    day: int  # 1-based index into the requested days
    units: int  # net of corrections
    events: int  # net: a voided event no longer counts
    entries: int  # rows, corrections included: what the events listing shows


@dataclass(frozen=True, slots=True)
class SummaryWindow:
    """Local days as UTC instants: day i (1-based) is [day_starts[i-1], day_starts[i] or end)."""

    day_starts: list[datetime]
    end: datetime
    source: str | None = None
    event_type: str | None = None

    def raw_scan_args(self) -> tuple[object, ...]:
        return (self.day_starts[0], self.end, self.day_starts, self.source, self.event_type)


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: UUID
    source: str
    event_type: str
    units: int
    occurred_at: datetime
    created_at: datetime
    metadata: str  # JSON text, passed through without re-parsing
    trace_id: str | None
    idempotency_key: str
    events: int  # 1: a usage event; -1: a void; 0: an amend (migration 0010)
    corrects: UUID | None  # a correction: the row it corrects
    backfilled: bool


@dataclass(frozen=True, slots=True)
class CorrectionRecord:
    """The record of one correction (usage_corrections): its row, the row it corrects, what and why."""

    row_id: UUID
    corrects: UUID
    action: str  # void | amend
    units: int  # the event's units once corrected
    delta: int
    reason: str
    correction_key: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventRows:
    """A page of rows and every correction linked to one of them, read in one snapshot."""

    records: list[EventRecord]
    corrections: list[CorrectionRecord]


@dataclass(frozen=True, slots=True)
class EventFilter:
    start: datetime
    end: datetime
    source: str | None = None
    event_type: str | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page starts: strictly after (occurred_at, id) in newest-first order."""

    occurred_at: datetime
    id: UUID


@dataclass(frozen=True, slots=True)
class Policies:
    refresh_window: timedelta
    refresh_every: timedelta
    compress_after: timedelta | None
    drop_after: timedelta | None


async def _summary_args(conn: Any, tenant_id: str, window: SummaryWindow, variant: str) -> tuple[object, ...]:
    """usage_summary's parameters after $1: each level's ranges with their days, the filters, each level's
    bounds. The 6-hour level is TimescaleDB's (migration 0012); plain PostgreSQL reads hourly rows."""
    start, end = window.day_starts[0], window.end
    state = await conn.fetchrow(query("summary_state"), tenant_id, start, end)
    trusted_end = _within(state["materialized_until"], start, end)
    six_hours = variant == "timescaledb"
    ranges = plan_ranges(window.day_starts, end, trusted_end, state["marked_hours"], six_hour_level=six_hours)
    return (*ranges.columns(window.day_starts), window.source, window.event_type, *ranges.bounds())


def _within(instant: datetime, start: datetime, end: datetime) -> datetime:
    """`instant` clamped into [start, end]. asyncpg maps PostgreSQL's ±infinity to the naive datetime.min/max
    (and sends an aware 0001-01-01 00:00 UTC as -infinity), so a naive value here is one of the two ends."""
    if instant.tzinfo is None:
        return start if instant == datetime.min else end
    return min(max(instant, start), end)


class UsageReadRepository:
    def __init__(self, pool: asyncpg.Pool, variant: str) -> None:
        self._pool = pool
        self._variant = variant

    @asynccontextmanager
    async def _as_tenant(self, tenant_id: str, isolation: Isolation = "read_committed") -> AsyncIterator[Any]:
        # Any: asyncpg-stubs types a pooled connection as a proxy class, not as Connection.
        async with self._pool.acquire() as conn, conn.transaction(isolation=isolation, readonly=True):
            await conn.execute(query("begin_tenant_read"), tenant_id)
            yield conn

    async def summary(self, tenant_id: str, window: SummaryWindow, *, raw_scan: bool = False) -> list[SummaryRow]:
        """Daily (units, events) per (source, event_type) from the aggregates, or from raw rows."""
        # REPEATABLE READ: what the aggregates can be trusted with (summary_state) and the aggregates and raw
        # rows themselves must come from one snapshot, or a refresh committing in between could be half seen.
        async with self._as_tenant(tenant_id, isolation="repeatable_read") as conn:
            if raw_scan:
                rows = await conn.fetch(query("usage_summary_raw_scan"), tenant_id, *window.raw_scan_args())
            else:
                args = await _summary_args(conn, tenant_id, window, self._variant)
                rows = await conn.fetch(query("usage_summary"), tenant_id, *args)
        return [SummaryRow(*r) for r in rows]  # both queries select SummaryRow's fields in its order

    async def events_page(self, tenant_id: str, where: EventFilter, after: Position, limit: int) -> EventRows:
        """Up to `limit` rows after `after`, newest first, with the corrections linked to them. One REPEATABLE
        READ snapshot: a correction committed in between is seen both ways or not at all."""
        async with self._as_tenant(tenant_id, isolation="repeatable_read") as conn:
            rows = await conn.fetch(
                query("events_page"),
                tenant_id,
                where.start,
                where.end,
                where.source,
                where.event_type,
                limit,
                after.occurred_at,
                after.id,
            )
            records = [EventRecord(**dict(r)) for r in rows]
            linked = await conn.fetch(query("corrections_of_rows"), tenant_id, [r.id for r in records]) if rows else []
        return EventRows(records, [CorrectionRecord(**dict(r)) for r in linked])

    async def sync_event_types(self, entries: Iterable[tuple[str, str, str, str]]) -> None:
        """Upsert (source, event_type, unit, description) rows for the analyst views."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(query("sync_event_type"), list(entries))

    async def apply_policies(self, policies: Policies) -> str:
        """Install the TimescaleDB background policies (a no-op on plain PostgreSQL); returns a summary."""
        async with self._pool.acquire() as conn:
            args = (policies.refresh_window, policies.refresh_every, policies.compress_after, policies.drop_after)
            result: str = await conn.fetchval(query("apply_policies"), *args)
        return result

    async def refresh_aggregates(self) -> None:
        """Recompute the aggregates from every raw row (rows loaded around ingest, e.g. by COPY)."""
        async with self._pool.acquire() as conn:
            if self._variant == "timescaledb":
                await conn.execute(query("refresh_aggregates_timescaledb"))
            else:
                await conn.fetchval(query("refresh_aggregates_postgres"), None, None)

    async def vacuum_analyze(self) -> None:
        """Vacuum and analyze the database after a bulk load (not needed for rows that came by ingest)."""
        async with self._pool.acquire() as conn:
            await conn.execute(query("vacuum_analyze"))
