"""Readiness: can we reach the database, and is its schema fully migrated?"""

from __future__ import annotations

import asyncio

from ledger_service.errors import MigrationError
from ledger_service.storage import migrations
from ledger_service.storage.database import Database


async def readiness(database: Database, limit_seconds: float = 2.0) -> dict[str, object]:
    try:
        async with asyncio.timeout(limit_seconds), database.pool.acquire() as conn:
            missing = await migrations.pending(conn, database.variant)
    except MigrationError as exc:
        return {"ready": False, "reason": exc.message}
    except (OSError, TimeoutError) as exc:
        return {"ready": False, "reason": f"database unreachable: {exc!r}"}
    except Exception as exc:  # asyncpg raises many types for a dead server; any of them means "not ready"
        return {"ready": False, "reason": f"database error: {exc!r}"}
    if missing:
        return {"ready": False, "reason": f"pending migrations: {', '.join(missing)}"}
    return {"ready": True, "storage": database.variant}
