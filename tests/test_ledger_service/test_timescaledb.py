"""The TimescaleDB storage variant (the timescaledb pass of `make test`)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.events import event
from tests.support.postgres import SQL

pytestmark = pytest.mark.storage("timescaledb")


def test_ledger_is_a_hypertable_with_the_read_index(client: httpx.Client, sql: SQL) -> None:
    assert sql.fetchval("SELECT value FROM ledger_meta WHERE key = 'storage_variant'") == "timescaledb"
    dims = sql.fetch(
        "SELECT column_name, time_interval FROM timescaledb_information.dimensions "
        "WHERE hypertable_name = 'usage_ledger'"
    )
    assert [(d["column_name"], str(d["time_interval"])) for d in dims] == [("occurred_at", "1 day, 0:00:00")]
    indexes = sql.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'usage_ledger'")
    assert [i["indexname"] for i in indexes] == ["usage_ledger_tenant_time_idx"]


def test_ingest_and_dedup_on_the_hypertable(client: httpx.Client, sql: SQL) -> None:
    events = [event(units=n) for n in range(1, 4)]
    assert client.post("/api/usage/events", json={"events": events}).json()["accepted"] == 3
    assert client.post("/api/usage/events", json={"events": events}).json()["duplicates"] == 3
    assert sql.fetchval("SELECT sum(units) FROM usage_ledger") == 6
    assert (
        sql.fetchval("SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'usage_ledger'") >= 1
    )
