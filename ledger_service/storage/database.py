"""Opening the database: embedded or DATABASE_URL, storage-variant detection, migrations, the pool."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ledger_service.errors import MigrationError
from ledger_service.settings import Settings
from ledger_service.storage import migrations
from ledger_service.storage.embedded import embedded_database_url
from ledger_service.storage.roles import ConfiguredRoles
from ledger_service.storage.sql import query

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Database:
    pool: asyncpg.Pool
    variant: str
    dsn: str

    async def close(self) -> None:
        await self.pool.close()


def resolve_dsn(settings: Settings) -> str:
    """DATABASE_URL when set, otherwise the embedded server under LEDGER_DATA_DIR (started here)."""
    if settings.database_url:
        return settings.database_url
    return embedded_database_url(settings.data_dir)


async def ensure_database_exists(dsn: str) -> None:
    """Create the DSN's database when missing (the embedded server starts with only `postgres`)."""
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        parts = urlsplit(dsn)
        name = parts.path.lstrip("/")
        admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
        try:
            # Identifiers cannot be $n parameters; quote_ident on the server makes the name safe.
            stmt = await admin.fetchval("SELECT 'CREATE DATABASE ' || quote_ident($1)", name)
            await admin.execute(stmt)
        except asyncpg.DuplicateDatabaseError:
            pass
        finally:
            await admin.close()
    else:
        await conn.close()


async def detect_variant(conn: asyncpg.Connection, wanted: str) -> str:
    """The storage variant for this server: recorded one, else TimescaleDB if usable, else postgres.

    Usable: installed in this database, or available and preloaded. Whether it is preloaded only a login
    with pg_read_all_settings can tell: for any other login (the service's own, owning only its database)
    an operator installs the extension first (README), and `auto` without it means plain PostgreSQL.
    """
    recorded = await migrations.recorded_variant(conn)
    row = await conn.fetchrow(query("timescaledb_status"))
    assert row is not None  # an aggregate-free SELECT of constants always returns one row
    if recorded is not None:
        if wanted not in ("auto", recorded):
            raise MigrationError(f"LEDGER_STORAGE={wanted} but this database uses the {recorded} variant")
        return recorded
    if row["installed"]:
        return "timescaledb" if wanted in ("auto", "timescaledb") else wanted
    if wanted == "timescaledb" and not (row["available"] and row["preloaded"] is not False):
        raise MigrationError("LEDGER_STORAGE=timescaledb but the server has no usable timescaledb extension")
    if wanted == "auto":
        if row["available"] and row["preloaded"] is None:
            log.info(
                "timescaledb is not installed in this database and this login cannot tell whether the server "
                "preloads it: using plain PostgreSQL (for TimescaleDB, a superuser runs CREATE EXTENSION "
                "timescaledb in this database first; see README)"
            )
        return "timescaledb" if row["available"] and row["preloaded"] else "postgres"
    return wanted


def configured_roles(settings: Settings) -> ConfiguredRoles:
    return ConfiguredRoles(settings.reader_role, settings.writer_role, settings.analyst_role)


async def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """Connect, pick the storage variant, apply migrations and partitions, and open the pool."""
    dsn = resolve_dsn(settings)
    await ensure_database_exists(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        variant = await detect_variant(conn, settings.storage)
        if migrate:
            await migrations.migrate(conn, variant, configured_roles(settings))
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=settings.pool_min_size, max_size=settings.pool_max_size)
    log.info("database ready (%s storage)", variant)
    return Database(pool=pool, variant=variant, dsn=dsn)
