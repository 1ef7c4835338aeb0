"""Tenant-scoped reads: summary buckets and event pages, each in a transaction run as ledger_reader.

The tenant comes from the caller (the verified token) and is used twice: in each query's WHERE clause
and as ledger.tenant_id, which row-level security / the tenant views enforce. A query that forgot its
tenant filter would still return only that tenant's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from ledger_service.storage.sql import query


@dataclass(frozen=True, slots=True)
class SummaryRow:
    source: str
    event_type: str
    day: int  # 1-based index into the requested days
    units: int
    events: int


@dataclass(frozen=True, slots=True)
class SummaryWindow:
    """Local days as UTC instants: day i (1-based) is [day_starts[i-1], day_starts[i] or end)."""

    day_starts: list[datetime]
    end: datetime
    source: str | None = None
    event_type: str | None = None

    def args(self) -> tuple[object, ...]:
        day_ends = [*self.day_starts[1:], self.end]
        # Each day's whole UTC hours: read from the hourly rollup, the quarter hours outside them from the
        # 15-minute one.
        hours_starts = [_ceil_hour(t) for t in self.day_starts]
        hours_ends = [_floor_hour(t) for t in day_ends]
        return (
            self.day_starts[0],
            self.end,
            self.day_starts,
            self.source,
            self.event_type,
            day_ends,
            hours_starts,
            hours_ends,
        )


def _floor_hour(t: datetime) -> datetime:
    return t - timedelta(seconds=t.timestamp() % 3600)


def _ceil_hour(t: datetime) -> datetime:
    return t + timedelta(seconds=-t.timestamp() % 3600)


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


class UsageReadRepository:
    def __init__(self, pool: asyncpg.Pool, variant: str) -> None:
        self._pool = pool
        self._variant = variant

    @asynccontextmanager
    async def _as_tenant(self, tenant_id: str) -> AsyncIterator[Any]:
        # Any: asyncpg-stubs types a pooled connection as a proxy class, not as Connection.
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            await conn.execute(query("begin_tenant_read"), tenant_id)
            yield conn

    async def summary(self, tenant_id: str, window: SummaryWindow, *, raw_scan: bool = False) -> list[SummaryRow]:
        """Daily (units, events) per (source, event_type) from the aggregates, or from raw rows."""
        args = window.args()
        name, args = ("usage_summary_raw_scan", args[:5]) if raw_scan else ("usage_summary", args)
        async with self._as_tenant(tenant_id) as conn:
            rows = await conn.fetch(query(name), tenant_id, *args)
        return [SummaryRow(r["source"], r["event_type"], r["day"], r["units"], r["events"]) for r in rows]

    async def events_page(self, tenant_id: str, where: EventFilter, after: Position, limit: int) -> list[EventRecord]:
        async with self._as_tenant(tenant_id) as conn:
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
        return [EventRecord(**dict(r)) for r in rows]

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
        """Bring the aggregates up to date with every raw row (rows loaded around ingest, e.g. by COPY)."""
        async with self._pool.acquire() as conn:
            if self._variant == "timescaledb":
                await conn.execute(query("refresh_aggregates_timescaledb_15m"))
                await conn.execute(query("refresh_aggregates_timescaledb_1h"))
            else:
                await conn.fetchval(query("refresh_aggregates_postgres"), None, None)

    async def vacuum_analyze(self) -> None:
        """Vacuum and analyze the database after a bulk load (not needed for rows that came by ingest)."""
        async with self._pool.acquire() as conn:
            await conn.execute(query("vacuum_analyze"))
