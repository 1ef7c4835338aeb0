"""Forward-only migrations: numbered .sql files, each applied in its own transaction and recorded with
its checksum, so a migration edited after it was applied is refused rather than silently diverging.

File names: `NNNN_name.sql` applies to every storage variant; `NNNN_name.<variant>.sql` only to that
variant ("postgres" or "timescaledb"). The variant a database was created with is recorded in
`ledger_meta` and never changes under it.

Migrations name the roles ledger_reader / ledger_writer / ledger_analyst; each is applied with this
database's own role names written in their place (storage/roles.py), which exist before the first one runs.
The checksum is that of the file as written, so the names are no part of it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ledger_service.errors import MigrationError
from ledger_service.storage import roles as db_roles
from ledger_service.storage.roles import ConfiguredRoles
from ledger_service.storage.sql import query

log = logging.getLogger(__name__)

VARIANTS = ("postgres", "timescaledb")
_FILE_NAME = re.compile(r"^(\d{4})_(\w+?)(?:\.(postgres|timescaledb))?\.sql$")
# Any fixed number works; it only has to be the same for every ledger process migrating this database.
_MIGRATION_LOCK_KEY = 0x75736167

Connection = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str


def discover(variant: str) -> list[Migration]:
    """The migrations that apply to `variant`, in version order; one file per version."""
    if variant not in VARIANTS:
        raise MigrationError(f"unknown storage variant {variant!r}")
    found: dict[int, Migration] = {}
    for entry in resources.files("ledger_service.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None or match.group(3) not in (None, variant):
            continue
        data = entry.read_bytes()
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations numbered {version:04d} apply to {variant}")
        found[version] = Migration(version, entry.name, data.decode("utf-8"), hashlib.sha256(data).hexdigest())
    return [found[v] for v in sorted(found)]


async def migrate(conn: Connection, variant: str, configured: ConfiguredRoles | None = None) -> list[str]:
    """Apply pending migrations for `variant`; return the names applied. Safe to run concurrently.
    `configured`: role names from the settings (default: recorded, else derived from the database name)."""
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
    try:
        await conn.execute(query("bootstrap_migrations"))
        await _check_variant(conn, variant)
        roles = await db_roles.resolve(conn, configured or ConfiguredRoles())
        await db_roles.ensure(conn, roles)
        applied = {r["version"]: r for r in await conn.fetch(query("applied_migrations"))}
        done: list[str] = []
        for migration in discover(variant):
            if migration.version in applied:
                _check_unchanged(migration, applied[migration.version])
                continue
            async with conn.transaction():
                await conn.execute(roles.substitute(migration.sql))
                await conn.execute(query("record_migration"), migration.version, migration.name, migration.checksum)
            log.info("applied migration %s", migration.name)
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)


async def pending(conn: Connection, variant: str) -> list[str]:
    """Names of migrations not applied yet (for /readyz); raises MigrationError on an edited one."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NULL"):
        return [m.name for m in discover(variant)]
    applied = {r["version"]: r for r in await conn.fetch(query("applied_migrations"))}
    missing = []
    for migration in discover(variant):
        if migration.version in applied:
            _check_unchanged(migration, applied[migration.version])
        else:
            missing.append(migration.name)
    return missing


async def recorded_variant(conn: Connection) -> str | None:
    if await conn.fetchval("SELECT to_regclass('ledger_meta') IS NULL"):
        return None
    value: str | None = await conn.fetchval(query("get_meta"), "storage_variant")
    return value


async def _check_variant(conn: Connection, variant: str) -> None:
    recorded = await recorded_variant(conn)
    if recorded is None:
        await conn.execute(query("set_meta"), "storage_variant", variant)
    elif recorded != variant:
        raise MigrationError(
            f"this database was created for the {recorded!r} storage variant; refusing to migrate it as {variant!r}"
        )


def _check_unchanged(migration: Migration, row: asyncpg.Record) -> None:
    if row["checksum"] != migration.checksum or row["name"] != migration.name:
        raise MigrationError(
            f"migration {migration.version:04d} was applied as {row['name']} (checksum {row['checksum'][:12]}) "
            f"but the file is now {migration.name} (checksum {migration.checksum[:12]}); "
            "applied migrations are never edited: add a new one instead"
        )
