"""The refresh protocol of migration 0008, race by race, with real interleavings of real transactions: an
ingest in flight holds a refresh back, an ingest that waited for a refresh marks its rows, and a refresh
removes only the marks its snapshot saw. After every step the summary equals a raw scan."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from ledger_service.storage.ledger import NewEvents
from ledger_service.storage.sql import query
from ledger_service.storage.summary_ranges import floor_hour
from tests.support import aggregates
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.read import ingest, raw_reference, reader, summary_as_daily
from tests.support.roles import begin_tenant_read
from tests.support.server import RunningLedger

pytestmark = pytest.mark.storage("timescaledb")
TENANT = "t_race"


@pytest.fixture
def quiet(ledger: RunningLedger, sql: SQL) -> None:
    """No background run of the job interleaves with the steps a test takes by hand."""
    aggregates.pause_refresh_job(sql)
    aggregates.run_refresh_policy(sql)  # waits for a run in progress, then materializes up to the last hour


def rows(*instants: datetime) -> NewEvents:
    batch = NewEvents()
    for at in instants:
        batch.tenant_ids.append(TENANT)
        batch.idempotency_keys.append(str(uuid.uuid4()))
        batch.sources.append("twilio")
        batch.event_types.append("sms_outbound")
        batch.units.append(3)
        batch.metadata.append("{}")
        batch.occurred_at.append(at)
        batch.trace_ids.append(None)
        batch.span_ids.append(None)
        batch.time_assigned.append(False)
    return batch


@asynccontextmanager
async def connections(dsn: str, count: int) -> AsyncIterator[list[asyncpg.Connection]]:
    opened = [await asyncpg.connect(dsn) for _ in range(count)]
    try:
        yield opened
    finally:
        for conn in opened:
            await conn.close()


async def wait_for_the_horizon_lock(observer: asyncpg.Connection, pid: int) -> None:
    """Until backend `pid` waits on an advisory lock (the horizon lock is the only one on this path)."""
    for _ in range(400):
        wait = await observer.fetchval("SELECT wait_event FROM pg_stat_activity WHERE pid = $1", pid)
        if wait == "advisory":
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"backend {pid} never waited on the horizon lock")


def test_a_refresh_waits_for_the_ingest_transactions_in_flight(quiet: None, sql: SQL, ledger: RunningLedger) -> None:
    now = datetime.now(UTC)

    async def interleave() -> None:
        async with connections(sql.dsn, 3) as (ingesting, refreshing, observer):
            insert = ingesting.transaction()
            await insert.start()
            assert await ingesting.fetchval(query("insert_batch_with_marks"), *rows(now).columns()) == 1
            begin = asyncio.create_task(refreshing.fetchrow("SELECT * FROM ledger_refresh_begin('-1 hour')"))
            await wait_for_the_horizon_lock(observer, refreshing.get_server_pid())
            assert not begin.done()
            await insert.commit()  # only now can the horizon move: this row is committed before it
            moved = await asyncio.wait_for(begin, 30)
            assert moved is not None and moved["target"] > now

    asyncio.run(interleave())
    assert aggregates.marked_hours(sql, TENANT) == []  # read the old horizon: above it, nothing to mark
    sql.execute("""CALL ledger_refresh_aggregates_job(0, '{"lag": "-1 hour"}')""")  # the rest of that refresh
    assert aggregates.materialized_until(sql) > now
    assert aggregates.materialized_totals(sql, TENANT) == aggregates.raw_totals(sql, TENANT)
    assert_exact(ledger, sql)


def test_an_ingest_that_waited_for_a_horizon_move_marks_its_rows(quiet: None, sql: SQL, ledger: RunningLedger) -> None:
    now = datetime.now(UTC)

    async def interleave() -> None:
        async with connections(sql.dsn, 3) as (ingesting, refreshing, observer):
            async with refreshing.transaction():
                await refreshing.fetchrow("SELECT * FROM ledger_refresh_begin('-1 hour')")  # past this hour
                insert = asyncio.create_task(ingesting.fetchval(query("insert_batch_with_marks"), *rows(now).columns()))
                await wait_for_the_horizon_lock(observer, ingesting.get_server_pid())
                assert not insert.done()
            assert await asyncio.wait_for(insert, 30) == 1

    asyncio.run(interleave())
    # The row is below the horizon it read after the wait: its hour is marked, in its own transaction.
    assert aggregates.marked_hours(sql, TENANT) == [floor_hour(now)]
    assert_exact(ledger, sql)
    sql.execute("""CALL ledger_refresh_aggregates_job(0, '{"lag": "-1 hour"}')""")
    assert aggregates.marked_hours(sql, TENANT) == []
    assert aggregates.materialized_totals(sql, TENANT) == aggregates.raw_totals(sql, TENANT)
    assert_exact(ledger, sql)


def test_a_refresh_removes_only_the_marks_its_snapshot_saw(
    quiet: None, sql: SQL, ledger: RunningLedger, client: httpx.Client
) -> None:
    hour = floor_hour(datetime.now(UTC))
    h0, h1, h2, h3 = (hour - timedelta(days=d, minutes=-20) for d in (5, 6, 7, 8))

    def late(at: datetime) -> None:
        ingest(client, [event(tenantId=TENANT, units=7, occurredAt=at.isoformat())])
        assert_exact(ledger, sql)

    late(h3)
    late(h0)
    previous, target = sql.fetch("SELECT * FROM ledger_refresh_begin('0 minutes')")[0]
    seen = sql.fetchval("SELECT pg_current_snapshot()::text")
    late(h0 + timedelta(minutes=5))  # marks h0's hour again, after the snapshot
    late(h1)  # a new mark after the snapshot
    ranges = sql.fetch("SELECT * FROM ledger_refresh_ranges($1, $2)", previous, target)
    assert {floor_hour(h) for h in (h0, h1, h3)} <= {lo for lo, _ in ranges}
    for lo, hi in ranges:  # a procedure that commits: literals, simple query protocol
        sql.execute(f"CALL ledger_refresh_range('{lo}'::timestamptz, '{hi}'::timestamptz)")
    late(h2)  # after the refreshes: not in the aggregates
    assert sql.fetchval("SELECT ledger_refresh_finish($1, $2::text::pg_snapshot)", target, seen) == 1
    # Only h3's mark went: h0 and h1 were (re)marked after the snapshot, h2 after the refresh.
    assert aggregates.marked_hours(sql, TENANT) == sorted(floor_hour(h) for h in (h0, h1, h2))
    assert aggregates.materialized_totals(sql, TENANT)[1] == aggregates.raw_totals(sql, TENANT)[1] - 1  # h2's row
    assert_exact(ledger, sql)
    aggregates.run_refresh_policy(sql)
    assert aggregates.marked_hours(sql, TENANT) == []
    assert aggregates.materialized_totals(sql, TENANT) == aggregates.raw_totals(sql, TENANT)
    assert_exact(ledger, sql)


def test_the_reader_sees_only_its_tenants_marks(quiet: None, sql: SQL, client: httpx.Client) -> None:
    day_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    ingest(client, [event(tenantId=t, occurredAt=day_ago) for t in ("t_a", "t_b")])

    async def marks_as_reader(tenant: str) -> list[str]:
        async with connections(sql.dsn, 1) as (conn,), conn.transaction():
            await begin_tenant_read(conn, tenant)
            return [r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM usage_unmaterialized_tenant")]

    assert asyncio.run(marks_as_reader("t_a")) == ["t_a"]
    assert asyncio.run(marks_as_reader("t_b")) == ["t_b"]


def assert_exact(ledger: RunningLedger, sql: SQL) -> None:
    for zone in ("UTC", "Asia/Kathmandu"):
        with reader(ledger, TENANT) as http:
            body = http.get("/api/billing/usage/summary", params={"tz": zone, "days": "10"}).json()
        first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
        assert summary_as_daily(body) == raw_reference(sql, TENANT, zone, first, last), zone
