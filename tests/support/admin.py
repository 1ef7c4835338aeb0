"""The admin side from a test's point of view: corrections over HTTP, backfills through the ingest service."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import httpx

from ledger_service.ingest.json_batch import decode_event
from ledger_service.ingest.model import IngestOptions, IngestResult
from ledger_service.ingest.service import IngestService
from ledger_service.settings import Settings
from ledger_service.storage.ledger import LedgerRepository
from tests.conftest import TEST_ADMIN_KEY
from tests.support.server import RunningLedger

CORRECTIONS = "/api/usage/corrections"


@contextmanager
def admin(ledger: RunningLedger, key: str = TEST_ADMIN_KEY) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ledger.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        yield http


def correction(
    tenant: str, key: str, action: str, reason: str, units: int | None = None, **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "tenantId": tenant,
        "idempotencyKey": key,
        "action": action,
        "reason": reason,
        "correctionKey": f"fix-{uuid.uuid4()}",
        **extra,
    }
    if units is not None:
        item["units"] = units
    return item


def correct(http: httpx.Client, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = http.post(CORRECTIONS, json={"corrections": items})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def backfill(settings: Settings, variant: str, events: list[dict[str, Any]]) -> IngestResult:
    """Events older than the late window, stored as `usage-ledger import --backfill` stores them: through the
    ingest service and its statement (claims, rollups or marks), marked backfilled."""

    async def run() -> IngestResult:
        assert settings.database_url is not None
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            service = IngestService(LedgerRepository(pool, variant), settings)
            items = [decode_event(json.dumps(e).encode()) for e in events]
            return await service.ingest(items, IngestOptions(via="import", backfill=True))
        finally:
            await pool.close()

    return asyncio.run(run())
