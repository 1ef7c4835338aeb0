"""Corrections and conflicts in the database: one transaction per correction, the kept conflicts.

A correction's transaction first takes the corrected event's lock (lock_corrected_event), so everything it
reads after (the event, its earlier corrections, its own key) is what the correction builds on, and a
concurrent correction of the same event waits until this one committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ledger_service.errors import StorageUnavailableError
from ledger_service.storage.ledger import DATABASE_UNAVAILABLE
from ledger_service.storage.sql import query

# Finding an event by key alone reads every row of its tenant: bounded, and the caller is told to give the
# event's time instead when it runs out.
KEY_SCAN_TIMEOUT = "10s"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: UUID
    source: str
    event_type: str
    units: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class StoredCorrection:
    correction_key: str
    row_id: UUID
    action: str
    units: int  # the event's units once corrected
    created_at: datetime
    corrects: UUID | None = None
    idempotency_key: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NewCorrection:
    tenant_id: str
    correction_key: str
    event: StoredEvent
    idempotency_key: str
    action: str
    units: int
    delta: int
    reason: str
    requested_by: str

    def args(self) -> tuple[object, ...]:
        event = self.event
        return (
            self.tenant_id,
            self.correction_key,
            event.id,
            self.idempotency_key,
            event.occurred_at,
            event.source,
            event.event_type,
            self.action,
            self.units,
            self.delta,
            self.reason,
            self.requested_by,
        )


class KeyScanTooSlowError(Exception):
    """Finding an event by its key alone took longer than KEY_SCAN_TIMEOUT."""


class AmbiguousKeyError(Exception):
    """More than one event carries the key (its claim was pruned and the key used again)."""


class CorrectionTransaction:
    """The reads and the one write of a correction, inside its transaction and under its event's lock."""

    def __init__(self, conn: Any, insert: str) -> None:
        self._conn = conn
        self._insert = insert

    async def correction(self, tenant_id: str, correction_key: str) -> StoredCorrection | None:
        row = await self._conn.fetchrow(query("correction_by_key"), tenant_id, correction_key)
        if row is None:
            return None
        return StoredCorrection(
            row["correction_key"],
            row["row_id"],
            row["action"],
            row["units"],
            row["created_at"],
            row["corrects"],
            row["idempotency_key"],
            row["reason"],
        )

    async def event(self, tenant_id: str, key: str, occurred_at: datetime | None) -> StoredEvent | None:
        """The event under (tenant, key): through its claim, else at `occurred_at`, else by a bounded scan."""
        row = await self._conn.fetchrow(query("event_by_claim"), tenant_id, key)
        if row is not None:
            return StoredEvent(**dict(row))
        if occurred_at is not None:
            rows = await self._conn.fetch(query("event_at"), tenant_id, key, occurred_at)
        else:
            await self._conn.fetchval(query("limit_statement_time"), KEY_SCAN_TIMEOUT)
            try:
                async with self._conn.transaction():  # a savepoint: a timeout leaves the transaction usable
                    rows = await self._conn.fetch(query("event_by_key"), tenant_id, key)
            except asyncpg.QueryCanceledError:
                raise KeyScanTooSlowError from None
        if len(rows) > 1:
            raise AmbiguousKeyError
        return StoredEvent(**dict(rows[0])) if rows else None

    async def history(self, tenant_id: str, event_id: UUID) -> list[StoredCorrection]:
        rows = await self._conn.fetch(query("corrections_of_event"), tenant_id, event_id)
        return [StoredCorrection(**dict(r)) for r in rows]

    async def append(self, correction: NewCorrection) -> UUID | None:
        """Claim the correction's key and append its row; None when the key was claimed meanwhile."""
        row_id: UUID | None = await self._conn.fetchval(self._insert, *correction.args())
        return row_id


@dataclass(frozen=True, slots=True)
class ConflictRow:
    id: int
    tenant_id: str
    idempotency_key: str
    event_id: UUID | None
    fields: list[str]
    message: str
    sent: str  # JSON text
    via: str
    first_seen: datetime
    last_seen: datetime
    times: int


class CorrectionsRepository:
    def __init__(self, pool: asyncpg.Pool, variant: str) -> None:
        self._pool = pool
        self._insert = query(
            "insert_correction_with_marks" if variant == "timescaledb" else "insert_correction_with_rollups"
        )

    @asynccontextmanager
    async def transaction(self, tenant_id: str, key: str) -> AsyncIterator[CorrectionTransaction]:
        """A transaction holding the lock of the event (tenant_id, key) until it ends."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.fetchval(query("lock_corrected_event"), tenant_id, key)
                yield CorrectionTransaction(conn, self._insert)
        except DATABASE_UNAVAILABLE as exc:
            raise StorageUnavailableError(f"the database is unavailable, retry later: {exc!r}") from None

    async def conflicts(self, tenant_id: str | None, limit: int, before: int | None) -> list[ConflictRow]:
        """Kept conflicts, newest first, with ids below `before`."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query("conflicts_page"), tenant_id, limit, before or 2**63 - 1)
        return [ConflictRow(**dict(r)) for r in rows]
