"""Databases for tests on the run's server (tests/support/clusters.py picks it per storage variant).

Each test that asks gets a fresh database created on that server, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from ledger_service.storage import roles
from tests.support import clusters

# A server that went away answers in one of these ways; then no later test can pass either.
_SERVER_GONE = (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError)


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


async def drop_roles(dsn: str, names: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        stmt = await conn.fetchval(
            "SELECT 'DROP ROLE IF EXISTS ' || string_agg(quote_ident(n), ', ') FROM unnest($1::text[]) AS n", names
        )
        await conn.execute(stmt)
    finally:
        await conn.close()


def fresh_database(admin_dsn: str) -> Generator[str, None, None]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(admin_dsn, "CREATE DATABASE %I", name))
    except Exception as exc:
        if isinstance(exc, _SERVER_GONE) or (clusters.current and clusters.server_gone(clusters.current)):
            stop_run_server_gone(exc)
        raise
    try:
        yield with_database(admin_dsn, name)
    finally:
        asyncio.run(_admin(admin_dsn, "DROP DATABASE %I WITH (FORCE)", name))
        # Roles are cluster-wide: the ledger's own roles (named after the database) go with it.
        asyncio.run(drop_roles(admin_dsn, roles.derived(name).names()))


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


def stop_run_server_gone(exc: BaseException) -> None:
    """End the whole run with one message: every later test would fail the same way."""
    server = clusters.current
    where = server.description if server else "the test server"
    why = (clusters.server_gone(server) if server else None) or f"connecting failed: {exc!r}"
    pytest.exit(f"the test database server is gone ({where}): {why}; stopping the run", returncode=3)
