"""The read side on TimescaleDB: continuous aggregate with real-time aggregation, policies from settings,
tenant views instead of RLS. Runs when DATABASE_URL points at a server with the extension."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from ledger_service.settings import Settings
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.read import ingest, raw_reference, reader, summary_as_daily
from tests.support.server import RunningLedger
from tests.support.timescale import require_timescaledb


def refresh(sql: SQL, until: datetime) -> None:
    """What the refresh policies do in the background, now: the 15-minute aggregate, then the hourly, up to
    `until` (an hour boundary). Not NULL: that would materialize the newest, still-filling buckets and move
    the watermark past them, so rows ingested into them later would show only after another refresh."""
    for view in ("usage_rollup_15m", "usage_rollup_1h"):
        # A procedure that commits: simple query protocol, so no $n parameters (the literal is an ISO instant).
        sql.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, '{until.isoformat()}'::timestamptz)")


@pytest.fixture(autouse=True)
def _needs_timescaledb(sql: SQL) -> None:
    require_timescaledb(sql)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"aggregate_refresh_minutes": 7, "raw_retention_days": 400})


def test_the_aggregate_is_real_time_with_policies_from_settings(ledger: RunningLedger, sql: SQL) -> None:
    caggs = "SELECT materialized_only FROM timescaledb_information.continuous_aggregates WHERE view_name = $1"
    assert sql.fetchval(caggs, "usage_rollup_15m") is False
    # Only the ledger's policies: the extension's own jobs (telemetry: config NULL) are listed too.
    jobs = sql.fetch(
        "SELECT proc_name, schedule_interval, config FROM timescaledb_information.jobs WHERE proc_name IN "
        "('policy_refresh_continuous_aggregate', 'policy_compression', 'policy_retention')"
    )
    config = {r["proc_name"]: json.loads(r["config"]) for r in jobs}
    refreshes = [r for r in jobs if r["proc_name"] == "policy_refresh_continuous_aggregate"]
    assert len(refreshes) == 2  # the 15-minute and the hourly aggregate
    for job in refreshes:
        assert job["schedule_interval"] == timedelta(minutes=7)
        assert json.loads(job["config"])["start_offset"] == "36 days"  # late window + 1 day
    assert config["policy_compression"]["compress_after"] == "45 days"
    assert config["policy_retention"]["drop_after"] == "400 days"
    settings_view = "timescaledb_information.hypertable_compression_settings"
    segmentby = sql.fetchval(f"SELECT segmentby FROM {settings_view} WHERE hypertable = 'usage_ledger'::regclass")
    assert "tenant_id" in segmentby


def test_summary_equals_raw_scan_with_real_time_and_refreshed_late_events(
    ledger: RunningLedger, client: httpx.Client, sql: SQL
) -> None:
    rng = random.Random(11)
    now = datetime.now(UTC) - timedelta(minutes=1)
    # The watermark ends up at or before this hour boundary, which lies before every "recent" row below.
    until = (now - timedelta(minutes=15)).replace(minute=0, second=0, microsecond=0)

    def batch(days: float, count: int) -> list[dict[str, Any]]:
        return [
            event(
                tenantId="t_a",
                units=rng.randint(1, 9),
                occurredAt=(now - timedelta(seconds=rng.uniform(0, days * 86_400))).isoformat(),
            )
            for _ in range(count)
        ]

    ingest(client, batch(30, 400))
    refresh(sql, until)
    ingest(client, batch(0.01, 50))  # after the watermark: only real-time aggregation can show these
    assert_summary_matches(ledger, sql, "Asia/Kathmandu")
    ingest(client, batch(30, 100))  # late: land in materialized buckets, picked up by the next refresh
    refresh(sql, until)
    assert_summary_matches(ledger, sql, "America/Los_Angeles")


def test_the_reader_sees_rows_only_through_the_tenant_views(client: httpx.Client, sql: SQL) -> None:
    ingest(client, [event(tenantId="t_a", units=1), event(tenantId="t_b", units=2)])

    async def as_reader(statement: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(sql.dsn)
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('role', 'ledger_reader', true), set_config('ledger.tenant_id', 't_a', true)"
                )
                return await conn.fetch(statement)
        finally:
            await conn.close()

    assert [r["units"] for r in asyncio.run(as_reader("SELECT units FROM usage_ledger_tenant"))] == [1]
    assert [r["units"] for r in asyncio.run(as_reader("SELECT units FROM usage_rollup_tenant"))] == [1]
    assert [r["units"] for r in asyncio.run(as_reader("SELECT units FROM usage_rollup_1h_tenant"))] == [1]
    # No raw rows. The aggregates themselves must be granted (real-time aggregation checks SELECT on them
    # for the calling role, see migration 0006), so only the raw hypertable is refused.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(as_reader("SELECT * FROM usage_ledger"))


def assert_summary_matches(ledger: RunningLedger, sql: SQL, zone: str) -> None:
    with reader(ledger, "t_a") as http:
        body = http.get("/api/billing/usage/summary", params={"tz": zone, "days": "32"}).json()
    first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    assert summary_as_daily(body) == raw_reference(sql, "t_a", zone, first, last)
