"""Conflicts kept for inspection (usage_conflicts): what the admin API and `usage-ledger conflicts` list."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from ledger_service.storage.corrections import ConflictRow, CorrectionsRepository


class ConflictList(msgspec.Struct, frozen=True, rename="camel"):
    """An event sent with a stored key but other content. The stored event stands; this changed nothing."""

    id: int
    tenant_id: str
    idempotency_key: str
    event_id: UUID | None  # the stored event holding the key
    fields: list[str]  # what differs, by wire name
    message: str
    sent: msgspec.Raw  # what was sent: source, eventType, units, occurredAt (null: none sent), metadata
    via: str  # api, otlp, webhook or import
    first_seen: datetime
    last_seen: datetime
    times: int  # how often this same content was sent with the key


class ConflictService:
    def __init__(self, repository: CorrectionsRepository) -> None:
        self._repository = repository

    async def page(self, tenant_id: str | None, limit: int, before: int | None) -> list[ConflictList]:
        """Newest first, with ids below `before` (the previous page's last id)."""
        return [_listed(r) for r in await self._repository.conflicts(tenant_id, limit, before)]


def _listed(row: ConflictRow) -> ConflictList:
    return ConflictList(
        row.id,
        row.tenant_id,
        row.idempotency_key,
        row.event_id,
        row.fields,
        row.message,
        msgspec.Raw(row.sent.encode()),
        row.via,
        row.first_seen,
        row.last_seen,
        row.times,
    )
