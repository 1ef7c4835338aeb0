"""A real PostgreSQL for tests: DATABASE_URL's server when set, else an embedded one in a temp dir.

Each test that asks gets a fresh database created on that server, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ledger_service.storage.embedded import embedded_database_url


def server_admin_dsn(tmp_root: Path) -> str:
    """DSN of a database we may run CREATE DATABASE from."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return embedded_database_url(tmp_root, database="postgres", delete_on_exit=True)


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def _admin(dsn: str, statement_template: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        # Identifiers cannot be parameters: the server quotes the generated name.
        stmt = await conn.fetchval(f"SELECT format('{statement_template}', $1::text)", name)
        await conn.execute(stmt)
    finally:
        await conn.close()


def fresh_database(admin_dsn: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin_dsn, "CREATE DATABASE %I", name))
    try:
        yield with_database(admin_dsn, name)
    finally:
        asyncio.run(_admin(admin_dsn, "DROP DATABASE %I WITH (FORCE)", name))


class SQL:
    """Synchronous one-shot queries for assertions in plain (non-async) tests."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = asyncio.run(self._run("fetch", sql, *args))
        return rows

    def fetchval(self, sql: str, *args: Any) -> Any:
        return asyncio.run(self._run("fetchval", sql, *args))

    def execute(self, sql: str, *args: Any) -> str:
        status: str = asyncio.run(self._run("execute", sql, *args))
        return status

    async def _run(self, method: str, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await getattr(conn, method)(sql, *args)
        finally:
            await conn.close()
