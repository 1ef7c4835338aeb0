"""A migrated database's schema as plain text, one committed file per storage variant (procrastinate's idea).

tests/test_ledger_service/test_schema.py migrates a fresh database and compares it with the committed
description of its variant, and compares the two descriptions' relations, so the twins cannot drift and no
change to the schema goes unreviewed. After changing a migration on purpose, regenerate both files:

    python -m tests.support.schema            # needs TimescaleDB too (see tests/support/clusters.py)

The description covers the `public` schema minus what extensions own: tables, views and continuous
aggregates with their columns, constraints, indexes, row-level security, policies, grants, triggers, and the
functions and procedures with their bodies, and who may connect to the database. Names that depend on the
server or the database (the migrating role, this database's own roles, the numbers TimescaleDB gives its
internal tables) are normalised. The catalogs print some things differently in each PostgreSQL major
version, so a description names the major it was made on: CI's (the embedded PostgreSQL for plain
PostgreSQL, Debian's PostgreSQL 15 for TimescaleDB).
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import asyncpg

from ledger_service.storage.migrations import VARIANTS, migrate

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "test_ledger_service" / "schema"

_NOT_EXTENSION_OWNED = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
_RELATIONS = f"""
SELECT c.oid, c.relname, c.relkind::text AS kind, c.relrowsecurity, c.relforcerowsecurity,
       coalesce(c.reloptions::text, '') AS options, coalesce(c.relacl::text, '') AS acl
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
  AND {_NOT_EXTENSION_OWNED.format(oid="c.oid")}
ORDER BY c.relname
"""
_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
       coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default_value
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_DETAILS = """
SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1
UNION ALL
SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = $1
UNION ALL
SELECT 'policy ' || polname || ' ' || polcmd::text || ' to ' || array_to_string(ARRAY(
           SELECT CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END FROM unnest(polroles) r ORDER BY 1), ',')
       || ' using ' || coalesce(pg_get_expr(polqual, polrelid), '-')
       || ' check ' || coalesce(pg_get_expr(polwithcheck, polrelid), '-')
FROM pg_policy WHERE polrelid = $1
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal
UNION ALL
SELECT 'definition ' || regexp_replace(pg_get_viewdef($1, true), '\\s+', ' ', 'g')
FROM pg_class WHERE oid = $1 AND relkind IN ('v', 'm')
ORDER BY 1
"""
_ROUTINES = f"""
SELECT p.oid::regprocedure::text AS signature, pg_get_functiondef(p.oid) AS body,
       coalesce(p.proacl::text, '') AS acl
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace AND {_NOT_EXTENSION_OWNED.format(oid="p.oid")}
ORDER BY 1
"""
_ROLES = "SELECT key, value FROM ledger_meta WHERE key IN ('reader_role', 'writer_role', 'analyst_role')"
# TimescaleDB only: how the ledger's tables are hypertables and continuous aggregates, and the indexes that
# live on the aggregates' materialization tables (in TimescaleDB's own schema).
_TIMESCALEDB = """
SELECT 'hypertable ' || hypertable_name || ' by ' || column_name || ' every ' || coalesce(time_interval::text, '-')
FROM timescaledb_information.dimensions
UNION ALL
SELECT 'compression ' || hypertable::text || ' segmentby ' || coalesce(segmentby, '-') || ' orderby '
       || coalesce(orderby, '-')
FROM timescaledb_information.hypertable_compression_settings
UNION ALL
SELECT 'continuous aggregate ' || view_name || ' materialized_only=' || materialized_only || ' '
       || regexp_replace(view_definition, '\\s+', ' ', 'g')
FROM timescaledb_information.continuous_aggregates
UNION ALL
SELECT 'aggregate index ' || ca.view_name || ' ' || pg_get_indexdef(i.indexrelid)
FROM timescaledb_information.continuous_aggregates ca
JOIN pg_index i ON i.indrelid = format('%I.%I', ca.materialization_hypertable_schema,
                                       ca.materialization_hypertable_name)::regclass
ORDER BY 1
"""


async def describe(dsn: str) -> str:
    """The schema of the database at `dsn`, as the committed files hold it."""
    conn = await asyncpg.connect(dsn)
    try:
        lines = [server_line(await conn.fetchval("SELECT current_setting('server_version_num')::int / 10000"))]
        names = await _placeholders(conn)
        lines += [line for part in await _parts(conn, names) for line in part]
    finally:
        await conn.close()
    text = re.sub(r"_materialized_hypertable_\d+", "_materialized_hypertable_N", "\n".join(lines) + "\n")
    for name, placeholder in names.items():  # the roles in policies and function bodies (never the owner's)
        if placeholder != "OWNER":
            text = re.sub(rf"(?<![\w$]){re.escape(name)}(?![\w$])", placeholder, text)
    return text


async def _placeholders(conn: asyncpg.Connection) -> dict[str, str]:
    """Names that depend on the server and the database -> what the description says: the migrating role
    (the owner, who grants) is OWNER, this database's own roles (storage/roles.py) READER, WRITER, ANALYST."""
    names = {await conn.fetchval("SELECT current_user"): "OWNER"}
    if await conn.fetchval("SELECT to_regclass('ledger_meta') IS NOT NULL"):
        for row in await conn.fetch(_ROLES):
            names[row["value"]] = row["key"].removesuffix("_role").upper()
    return names


def server_line(major: int) -> str:
    """The first line: catalogs print differently across PostgreSQL majors (grants, NOT NULL, view text)."""
    return f"server PostgreSQL {major}"


async def _parts(conn: asyncpg.Connection, names: dict[str, str]) -> list[list[str]]:
    database_acl = await conn.fetchval(
        "SELECT coalesce(datacl::text, '') FROM pg_database WHERE datname = current_database()"
    )
    parts = [[f"database grants {_acl(database_acl, names)}"]]
    for rel in await conn.fetch(_RELATIONS):
        head = f"relation {rel['relname']} kind={rel['kind']} rls={rel['relrowsecurity']}/{rel['relforcerowsecurity']}"
        lines = [head, f"  options {rel['options'] or '-'}", f"  grants {_acl(rel['acl'], names)}"]
        for col in await conn.fetch(_COLUMNS, rel["oid"]):
            null = "not null" if col["attnotnull"] else "null"
            lines.append(f"  column {col['attname']} {col['type']} {null} {col['default_value']}".rstrip())
        lines += [f"  {row[0]}" for row in await conn.fetch(_DETAILS, rel["oid"])]
        parts.append(lines)
    for routine in await conn.fetch(_ROUTINES):
        head = f"routine {routine['signature']} grants {_acl(routine['acl'], names)}"
        parts.append([head, *(f"  {line}" for line in routine["body"].splitlines())])
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"):
        parts.append([row[0] for row in await conn.fetch(_TIMESCALEDB)])
    return parts


def _acl(acl: str, names: dict[str, str]) -> str:
    """Grants in a stable order (aclitem arrays keep the order in which grants were made), with the names
    that depend on the server and the database as placeholders (_placeholders)."""
    items = acl.strip("{}").split(",")
    for name, placeholder in names.items():
        items = [re.sub(rf"(^|/){re.escape(name)}(=|$)", rf"\g<1>{placeholder}\g<2>", item) for item in items]
    return ",".join(sorted(items)) if acl else "-"


async def migrate_and_describe(dsn: str, variant: str) -> str:
    """Migrate the (empty) database at `dsn` to `variant` and describe it."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, variant)
    finally:
        await conn.close()
    return await describe(dsn)


def migrated_description(admin_dsn: str, variant: str) -> str:
    """The description of a throwaway database on the server at admin_dsn, migrated to `variant`."""
    from tests.support.postgres import fresh_database  # imports pytest: only when a database is needed

    databases = fresh_database(admin_dsn)
    try:
        return asyncio.run(migrate_and_describe(next(databases), variant))
    finally:
        databases.close()


def committed(variant: str) -> Path:
    return SCHEMA_DIR / f"{variant}.txt"


def main() -> None:
    from tests.support import clusters

    SCHEMA_DIR.mkdir(exist_ok=True)
    for variant in VARIANTS:
        server = clusters.postgres_server() if variant == "postgres" else clusters.timescaledb_server()
        try:
            text = migrated_description(server.admin_dsn, variant)
        finally:
            server.stop()
        committed(variant).write_text(text)
        print(f"wrote {committed(variant)} ({len(text.splitlines())} lines)", file=sys.stderr)


if __name__ == "__main__":
    main()
