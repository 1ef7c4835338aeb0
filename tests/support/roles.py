"""This ledger database's roles from a test's side (ledger_service/storage/roles.py, migration 0009)."""

from __future__ import annotations

from typing import Any

from ledger_service.storage.migrations import discover
from ledger_service.storage.roles import KINDS, Roles
from ledger_service.storage.sql import query
from tests.support.postgres import SQL

_RECORDED = "SELECT key, value FROM ledger_meta WHERE key = ANY($1::text[])"


def database_roles(sql: SQL) -> Roles:
    """The role names the database was migrated with (recorded in ledger_meta)."""
    return _roles(sql.fetch(_RECORDED, [f"{k}_role" for k in KINDS]))


async def fetch_roles(conn: Any) -> Roles:
    return _roles(await conn.fetch(_RECORDED, [f"{k}_role" for k in KINDS]))


def _roles(rows: list[Any]) -> Roles:
    return Roles(**{r["key"].removesuffix("_role"): r["value"] for r in rows})


async def begin_tenant_read(conn: Any, tenant: str) -> None:
    """Start a tenant read as the service does (inside a transaction, as the service's login): the tenant,
    its proof, then the reader role."""
    await conn.execute(query("begin_tenant_read"), tenant)


async def set_local_role(conn: Any, role: str) -> None:
    """SET LOCAL ROLE for a role name held in a variable (inside a transaction)."""
    await conn.execute("SELECT set_config('role', $1, true)", role)


# The last migration the runner applied before databases had roles of their own (issue 12).
LAST_WITH_CLUSTER_WIDE_ROLES = 8


async def migrate_as_before_own_roles(conn: Any, variant: str) -> list[str]:
    """What the migration runner did before issue 12, to a new database: migrations 0001-0008 applied as
    written, so they create and grant the cluster-wide roles ledger_reader / ledger_writer / ledger_analyst,
    and recorded with their checksums; no role names in ledger_meta."""
    await conn.execute(query("bootstrap_migrations"))
    await conn.execute(query("set_meta"), "storage_variant", variant)
    applied = []
    for migration in discover(variant):
        if migration.version > LAST_WITH_CLUSTER_WIDE_ROLES:
            break
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(query("record_migration"), migration.version, migration.name, migration.checksum)
        applied.append(migration.name)
    return applied
