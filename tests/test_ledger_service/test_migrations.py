"""Migrations: all apply to an empty database, re-running is a no-op, edited ones are refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ledger_service.errors import MigrationError
from ledger_service.storage import migrations
from tests.support.postgres import SQL
from tests.support.server import RunningLedger


async def _migrate(dsn: str, variant: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrations.migrate(conn, variant)
    finally:
        await conn.close()


def test_all_migrations_apply_to_an_empty_database_once(database_url: str, sql: SQL, storage: str) -> None:
    expected = [m.name for m in migrations.discover(storage)]
    assert asyncio.run(_migrate(database_url, storage)) == expected
    assert asyncio.run(_migrate(database_url, storage)) == []
    recorded = sql.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    assert [r["name"] for r in recorded] == expected
    assert all(len(r["checksum"]) == 64 for r in recorded)
    assert sql.fetchval("SELECT value FROM ledger_meta WHERE key = 'storage_variant'") == storage
    # Partitioned by month on plain PostgreSQL; a hypertable (an ordinary table to the catalog) on TimescaleDB.
    relkind = {"postgres": b"p", "timescaledb": b"r"}[storage]
    assert sql.fetchval("SELECT relkind FROM pg_class WHERE relname = 'usage_ledger'") == relkind


def test_concurrent_migrators_apply_each_migration_once(database_url: str, sql: SQL, storage: str) -> None:
    async def both() -> list[list[str]]:
        return list(await asyncio.gather(_migrate(database_url, storage), _migrate(database_url, storage)))

    first, second = asyncio.run(both())
    assert sorted([len(first), len(second)]) == [0, len(migrations.discover(storage))]


def test_an_edited_applied_migration_is_refused(database_url: str, sql: SQL, storage: str) -> None:
    asyncio.run(_migrate(database_url, storage))
    sql.execute("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 2")
    with pytest.raises(MigrationError, match="applied migrations are never edited"):
        asyncio.run(_migrate(database_url, storage))


def test_the_storage_variant_cannot_change_under_a_database(database_url: str, storage: str) -> None:
    asyncio.run(_migrate(database_url, storage))
    other = next(v for v in migrations.VARIANTS if v != storage)
    with pytest.raises(MigrationError, match=f"created for the '{storage}' storage variant"):
        asyncio.run(_migrate(database_url, other))


def test_each_variant_has_one_file_per_version() -> None:
    for variant in migrations.VARIANTS:
        versions = [m.version for m in migrations.discover(variant)]
        assert versions == sorted(set(versions))
        assert versions[0] == 1


def test_a_migration_that_resets_the_watermark_holds_the_refresh_jobs_lock() -> None:
    """A refresh run that started before such a migration would set W again when it finishes (migration 0008,
    refresh step 3), trusting aggregates the migration has just emptied. Holding the job's lock makes a run in
    progress finish first and the next wait for the commit. (0010 predates the rule: it was applied before.)"""
    resets = [
        m
        for m in migrations.discover("timescaledb")
        if m.version > 10 and "SET materialized_until = '-infinity'" in m.sql
    ]
    assert resets, "migration 0012 resets W"
    for migration in resets:
        assert "SELECT pg_advisory_xact_lock(1970496873);" in migration.sql, migration.name


@pytest.mark.storage("postgres")
def test_partition_function_creates_exact_month_bounds(database_url: str, sql: SQL) -> None:
    asyncio.run(_migrate(database_url, "postgres"))
    name = sql.fetchval("SELECT ledger_ensure_partition('2031-02-17T23:30:00-05:00')")
    assert name == "usage_ledger_p2031_02"
    bounds = sql.fetchval("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = $1", name)
    assert bounds == "FOR VALUES FROM ('2031-02-01 00:00:00+00') TO ('2031-03-01 00:00:00+00')"
    # 23:30 at -05:00 on Feb 28 is already March in UTC.
    assert sql.fetchval("SELECT ledger_ensure_partition('2031-02-28T23:30:00-05:00')") == "usage_ledger_p2031_03"


@pytest.mark.storage("postgres")
def test_service_start_creates_partitions_from_the_late_window_to_months_ahead(ledger: RunningLedger, sql: SQL) -> None:
    names = {
        r["relname"]
        for r in sql.fetch("SELECT relname FROM pg_class WHERE relname LIKE 'usage_ledger_p%' AND relkind = 'r'")
    }
    now = datetime.now(UTC)
    expected = set()
    month = (now - timedelta(days=ledger.settings.late_window_days)).replace(day=1)
    for _ in range(6):
        expected.add(f"usage_ledger_p{month:%Y_%m}")
        if month.year * 12 + month.month >= now.year * 12 + now.month + ledger.settings.partitions_ahead_months:
            break
        month = (month + timedelta(days=32)).replace(day=1)
    assert names == expected
