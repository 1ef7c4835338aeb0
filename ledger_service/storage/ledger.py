"""The ledger repository: set-based, exactly-once inserts and partition upkeep."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from ledger_service.errors import StorageUnavailableError
from ledger_service.storage.sql import query

# The server is down, restarting, or cut the session (admin/crash shutdown, socket gone): a 503 that
# clients retry, rather than a 500 with a traceback per request.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


@dataclass(slots=True)
class NewEvents:
    """A batch of validated events in column form, ready for one unnest() insert. Row ids are minted by the
    statement itself, so they are unique ledger-wide whatever the senders send."""

    tenant_ids: list[str] = field(default_factory=list)
    idempotency_keys: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    units: list[int] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)
    occurred_at: list[datetime] = field(default_factory=list)
    trace_ids: list[str | None] = field(default_factory=list)
    span_ids: list[str | None] = field(default_factory=list)
    time_assigned: list[bool] = field(default_factory=list)  # the sender gave no time: the ledger's clock did
    backfilled: bool = False  # `usage-ledger import --backfill`: older than the late window, marked as such

    def __len__(self) -> int:
        return len(self.tenant_ids)

    def columns(self) -> tuple[Any, ...]:
        return (
            self.tenant_ids,
            self.idempotency_keys,
            self.sources,
            self.event_types,
            self.units,
            self.metadata,
            self.occurred_at,
            self.trace_ids,
            self.span_ids,
            self.time_assigned,
            self.backfilled,
        )


@dataclass(frozen=True, slots=True)
class Inserted:
    """What one insert did: rows stored, and the positions (0-based) of the events whose key was taken."""

    stored: int
    not_stored: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """An event sent with a key that was claimed before: `index` is the caller's tag, returned with the answer."""

    index: int
    tenant_id: str
    idempotency_key: str
    metadata: str  # JSON text, as sent


@dataclass(frozen=True, slots=True)
class StoredContent:
    """What the ledger holds under a key, beside an event sent with it again (the lookup tagged `index`)."""

    index: int
    event_id: UUID
    time_assigned: bool
    source: str
    event_type: str
    units: int
    occurred_at: datetime
    same_metadata: bool


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    """A conflict to keep for inspection (table usage_conflicts)."""

    tenant_id: str
    idempotency_key: str
    event_id: UUID | None
    fields: list[str]
    message: str
    sent: str  # JSON object: what was sent


def month_start(ts: datetime) -> datetime:
    """The first instant of ts's month in UTC: the key of the partition that holds ts."""
    utc = ts.astimezone(UTC)
    return utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def months_between(first: datetime, last: datetime) -> set[datetime]:
    """Every month start (UTC) from first's month to last's, inclusive."""
    month, end = month_start(first), month_start(last)
    months = set()
    while month <= end:
        months.add(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


class LedgerRepository:
    def __init__(self, pool: asyncpg.Pool, variant: str) -> None:
        self._pool = pool
        # Plain PostgreSQL keeps its usage rollups in the ingest statement itself; on TimescaleDB the statement
        # marks the hours its late rows landed in, which reads take raw until a refresh saw them.
        self._insert = query("insert_batch_with_marks" if variant == "timescaledb" else "insert_batch_with_rollups")
        # Partitions are never dropped by the service, so a month seen once needs no second round trip.
        self._known_months: set[datetime] = set()
        self._partition_lock = asyncio.Lock()

    async def ensure_partitions(self, timestamps: Sequence[datetime]) -> None:
        months = months_between(min(timestamps), max(timestamps)) - self._known_months
        if not months:
            return
        async with self._partition_lock, self._pool.acquire() as conn:
            for month in sorted(months - self._known_months):
                await conn.fetchval(query("ensure_partition"), month)
                self._known_months.add(month)

    async def prepare_partitions(self, late_window_days: int, ahead_months: int) -> None:
        """Partitions for every month a new event may fall in, from the late window to `ahead_months` on."""
        now = datetime.now(UTC)
        last = month_start(now)
        for _ in range(ahead_months):
            last = (last + timedelta(days=32)).replace(day=1)
        await self.ensure_partitions([now - timedelta(days=late_window_days), last])

    async def insert_batch(self, events: NewEvents) -> Inserted:
        """Store the events whose idempotency keys are new; say which were not stored."""
        if not events:
            return Inserted(0)
        try:
            await self.ensure_partitions(events.occurred_at)
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(self._insert, *events.columns())
        except DATABASE_UNAVAILABLE as exc:
            # The statement either committed or rolled back whole; a retry is answered "duplicate" if it had.
            raise StorageUnavailableError(f"the database is unavailable, retry later: {exc!r}") from None
        assert row is not None  # an aggregate over the statement's CTEs: always one row
        return Inserted(row["stored"], [ordinal - 1 for ordinal in row["not_stored"]])

    async def stored_content(self, lookups: Sequence[KeyLookup]) -> list[StoredContent]:
        """The stored content under each lookup's (tenant, key), beside the metadata sent with it; a lookup
        whose key holds no row (its claim predates the row's time being kept) is left out."""
        if not lookups:
            return []
        args = (
            [lookup.index for lookup in lookups],
            [lookup.tenant_id for lookup in lookups],
            [lookup.idempotency_key for lookup in lookups],
            [lookup.metadata for lookup in lookups],
        )
        try:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(query("stored_content"), *args)
        except DATABASE_UNAVAILABLE as exc:
            raise StorageUnavailableError(f"the database is unavailable, retry later: {exc!r}") from None
        return [
            StoredContent(
                r["ord"],
                r["event_id"],
                r["time_assigned"],
                r["source"],
                r["event_type"],
                r["units"],
                r["occurred_at"],
                r["same_metadata"],
            )
            for r in rows
        ]

    async def record_conflicts(self, conflicts: Sequence[ConflictRecord], via: str) -> None:
        if not conflicts:
            return
        columns = (
            [c.tenant_id for c in conflicts],
            [c.idempotency_key for c in conflicts],
            [c.event_id for c in conflicts],
            [",".join(c.fields) for c in conflicts],
            [c.message for c in conflicts],
            [c.sent for c in conflicts],
        )
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(query("record_conflicts"), *columns, via)
        except DATABASE_UNAVAILABLE as exc:
            raise StorageUnavailableError(f"the database is unavailable, retry later: {exc!r}") from None

    async def prune_idempotency_keys(self, retention_days: int, batch: int = 10_000) -> int:
        """Forget keys claimed more than retention_days ago, but those kept for good (migration 0010: ledger
        timed or backfilled events); return how many were removed."""
        removed = 0
        async with self._pool.acquire() as conn:
            while True:
                status = await conn.execute(query("prune_idempotency_keys"), retention_days, batch)
                count = int(status.split()[-1])
                removed += count
                if count < batch:
                    return removed
