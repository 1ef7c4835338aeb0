"""The read side on TimescaleDB: materialized-only continuous aggregates refreshed by the ledger's own job,
policies from settings, tenant views instead of RLS (the timescaledb pass of `make test`)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
import httpx
import pytest

from ledger_service.settings import Settings
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.read import ingest
from tests.support.roles import begin_tenant_read
from tests.support.server import RunningLedger

pytestmark = pytest.mark.storage("timescaledb")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"aggregate_refresh_minutes": 7, "raw_retention_days": 400})


def test_the_aggregates_are_materialized_only_with_the_policies_from_settings(ledger: RunningLedger, sql: SQL) -> None:
    caggs = "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates ORDER BY 1"
    expected = [("usage_rollup_15m", True), ("usage_rollup_1h", True), ("usage_rollup_6h", True)]
    assert [tuple(r) for r in sql.fetch(caggs)] == expected
    # The ledger's refresh job instead of TimescaleDB's refresh policies (those would materialize without
    # moving the horizon first, migration 0008). The extension's own jobs are listed too: ignore them.
    jobs = sql.fetch(
        "SELECT proc_name, schedule_interval, config FROM timescaledb_information.jobs WHERE proc_name IN "
        "('policy_refresh_continuous_aggregate', 'ledger_refresh_aggregates_job', 'policy_compression', "
        "'policy_retention') ORDER BY proc_name"
    )
    assert [r["proc_name"] for r in jobs] == ["ledger_refresh_aggregates_job", "policy_compression", "policy_retention"]
    config = {r["proc_name"]: json.loads(r["config"] or "null") for r in jobs}
    assert jobs[0]["schedule_interval"] == timedelta(minutes=7)
    assert config["policy_compression"]["compress_after"] == "45 days"
    assert config["policy_retention"]["drop_after"] == "400 days"
    settings_view = "timescaledb_information.hypertable_compression_settings"
    segmentby = sql.fetchval(f"SELECT segmentby FROM {settings_view} WHERE hypertable = 'usage_ledger'::regclass")
    assert "tenant_id" in segmentby


def test_the_reader_sees_rows_only_through_the_tenant_views(client: httpx.Client, sql: SQL) -> None:
    ingest(client, [event(tenantId="t_a", units=1), event(tenantId="t_b", units=2)])

    async def as_reader(statement: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(sql.dsn)
        try:
            async with conn.transaction():
                await begin_tenant_read(conn, "t_a")
                return await conn.fetch(statement)
        finally:
            await conn.close()

    sql.execute('CALL ledger_refresh_aggregates_job(0, \'{"lag": "-1 hour"}\')')  # materialize the rows above
    assert [r["units"] for r in asyncio.run(as_reader("SELECT units FROM usage_ledger_tenant"))] == [1]
    assert [r["units"] for r in asyncio.run(as_reader("SELECT units FROM usage_rollup_tenant"))] == [1]
    assert [r["units"] for r in asyncio.run(as_reader("SELECT units FROM usage_rollup_1h_tenant"))] == [1]
    # No raw rows, no aggregate across tenants (materialized-only aggregates need no grant since 0008), no
    # other tenant's marks.
    for table in ("usage_ledger", "usage_rollup_15m", "usage_rollup_1h", "usage_unmaterialized"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            asyncio.run(as_reader(f"SELECT * FROM {table}"))
