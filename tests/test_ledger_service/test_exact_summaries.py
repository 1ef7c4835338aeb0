"""Exact the moment it is acknowledged (DESIGN.md invariant 7), on both storage variants: late events written
below the materialization watermark, into compressed chunks, with the refresh policy running or unable to
run, are in /summary, the usage page and the analyst views as soon as the ingest request is answered."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from ledger_service.settings import Settings
from tests.support import aggregates
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.read import Daily, ingest, raw_reference, reader, summary_as_daily, token_for
from tests.support.roles import begin_tenant_read, database_roles, set_local_role
from tests.support.server import RunningLedger
from tests.test_ledger_service.test_read_summary import last_dst_change
from tests.test_web.html import start_tags

ZONES = ("UTC", "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu")
TYPES = (("twilio", "sms_outbound"), ("twilio", "call_minutes"), ("sendgrid", "email_sent"), ("openai", "ai_message"))
LATE_DAYS = (1, 10, 34)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A late window that reaches back to Los Angeles' last DST change whenever the test runs; chunks are
    # compressed by hand below (a compression policy may not be shorter than the late window).
    return settings.model_copy(update={"late_window_days": 400, "dedup_retention_days": 401, "compress_after_days": 0})


def usage(rng: random.Random, tenant: str, instants: list[datetime]) -> list[dict[str, Any]]:
    events = []
    for at in instants:
        source, event_type = rng.choice(TYPES)
        events.append(
            event(
                tenantId=tenant,
                source=source,
                eventType=event_type,
                units=rng.randint(0, 900),
                occurredAt=at.isoformat(),
                idempotencyKey=str(uuid.uuid4()),
            )
        )
    return events


def around(rng: random.Random, center: datetime, hours: float, count: int, now: datetime) -> list[datetime]:
    instants = [center + timedelta(hours=rng.uniform(-hours, hours)) for _ in range(count)]
    return [min(at, now) for at in instants]


def test_late_events_count_the_moment_they_are_acknowledged(
    ledger: RunningLedger, client: httpx.Client, sql: SQL, storage: str
) -> None:
    rng = random.Random(15)
    now = datetime.now(UTC) - timedelta(minutes=1)
    change = last_dst_change(ZoneInfo("America/Los_Angeles"), now - timedelta(days=2))
    late = [now - timedelta(days=n) for n in LATE_DAYS]
    # 1. Recent usage, usage around the DST change, and some in the days the late events will land in.
    early = [now - timedelta(hours=rng.uniform(0, 30)) for _ in range(300)]
    early += around(rng, change, 48, 200, now) + [at for day in late for at in around(rng, day, 12, 60, now)]
    ingest(client, usage(rng, "t_a", early) + usage(rng, "t_b", early[:100]))
    # 2. The refresh policy runs; on TimescaleDB the chunks 10 and 34 days back are then compressed.
    aggregates.run_refresh_policy(sql)
    chunks = aggregates.compress_chunks_holding(sql, late[1:]) if storage == "timescaledb" else []
    # 3. Late events 1, 10 and 34 days back (and next to the DST change), below the watermark.
    late_events = usage(rng, "t_a", [at for day in [*late, change] for at in around(rng, day, 6, 40, now)])
    assert ingest(client, late_events) == len(late_events)
    # 4. Immediately: every zone, every day, equals a raw scan; so do the page and the analyst views.
    first, last = (change - timedelta(days=3)).date(), now.date()
    for zone in ZONES:
        with reader(ledger, "t_a") as http:
            body = http.get("/api/billing/usage/summary", params={"tz": zone, "from": str(first), "to": str(last)})
        expected = raw_reference(sql, "t_a", zone, first, last)
        assert summary_as_daily(body.json()) == expected, zone
        assert page_daily(ledger, "t_a", zone, first, last) == expected, zone
    assert analyst_daily_utc(sql) == raw_daily_utc(sql)
    if storage == "timescaledb":
        # The case is the hard one: the late rows are below the watermark, some in compressed chunks, and
        # the aggregates on their own do not have them yet.
        assert aggregates.materialized_until(sql) > max(late)
        assert chunks and all(aggregates.compressed(sql, chunks))
        assert aggregates.materialized_totals(sql, "t_a")[1] < aggregates.raw_totals(sql, "t_a")[1]
    # 5. The refresh policy runs again: the late hours are trusted again, read from the aggregates (their
    # 6-hour buckets too, on TimescaleDB), and every day still equals the raw scan.
    aggregates.run_refresh_policy(sql)
    assert not aggregates.marked_hours(sql, "t_a")
    for zone in ZONES:
        with reader(ledger, "t_a") as http:
            body = http.get("/api/billing/usage/summary", params={"tz": zone, "from": str(first), "to": str(last)})
        assert summary_as_daily(body.json()) == raw_reference(sql, "t_a", zone, first, last), zone


@pytest.mark.storage("timescaledb")
def test_still_exact_when_no_refresh_job_can_start(ledger: RunningLedger, client: httpx.Client, sql: SQL) -> None:
    aggregates.pause_refresh_job(sql)  # the scheduler starts it no more (a run in progress finishes)
    aggregates.run_refresh_policy(sql)  # the last run, after any in progress (runs are serialised)
    watermark = aggregates.materialized_until(sql)
    rng = random.Random(16)
    now = datetime.now(UTC) - timedelta(minutes=1)
    instants = [now - timedelta(days=d, hours=rng.uniform(0, 5)) for d in (0, 0, 1, 3, 20, 33) for _ in range(30)]
    for batch in (instants[:90], instants[90:]):
        ingest(client, usage(rng, "t_a", batch))
        for zone in ("UTC", "Asia/Kathmandu"):
            assert_summary_exact(ledger, sql, "t_a", zone, days=35)
    assert aggregates.materialized_until(sql) == watermark  # no refresh ran meanwhile
    assert aggregates.marked_hours(sql, "t_a")  # the late hours are read raw
    assert analyst_daily_utc(sql) == raw_daily_utc(sql)


# The 6-hour level as the reader sees it, and the hourly level's hours added up into the same buckets.
SIX_HOURS = "SELECT bucket, source, event_type, units, events, entries FROM usage_rollup_6h_tenant"
HOURS_BY_SIX = (
    "SELECT date_bin('6 hours', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'), source, event_type, "
    "sum(units)::bigint, sum(events)::bigint, sum(entries)::bigint FROM usage_rollup_1h_tenant GROUP BY 1, 2, 3"
)


def test_the_six_hour_level_sums_the_hourly_one(client: httpx.Client, sql: SQL) -> None:
    """On TimescaleDB a continuous aggregate, on plain PostgreSQL a view that summaries do not read (migration
    0012): either way, as the reader sees them, its buckets are the hourly level's hours added up."""
    rng = random.Random(17)
    now = datetime.now(UTC) - timedelta(minutes=10)
    ingest(client, usage(rng, "t_a", [now - timedelta(hours=rng.uniform(0, 72)) for _ in range(300)]))
    ingest(client, usage(rng, "t_b", [now - timedelta(hours=rng.uniform(0, 72)) for _ in range(50)]))
    aggregates.run_refresh_policy(sql)
    read = asyncio.run(read_as_tenant(sql.dsn, "t_a", [SIX_HOURS, HOURS_BY_SIX]))
    assert len(read[0]) >= 10 and read[0] == read[1]


@pytest.mark.storage("timescaledb")
def test_the_six_hour_level_sums_the_hours_of_dropped_raw_chunks(client: httpx.Client, sql: SQL) -> None:
    """With raw retention the hourly level keeps the hours of raw chunks already dropped. A 6-hour level that
    never saw them (as just after migration 0012) gets them on the first refresh run with nothing trusted."""
    rng = random.Random(18)
    now = datetime.now(UTC) - timedelta(minutes=10)
    ingest(
        client,
        usage(rng, "t_a", [now - timedelta(days=d, hours=rng.uniform(0, 30)) for d in (0, 3, 60) for _ in range(60)]),
    )
    aggregates.run_refresh_policy(sql)
    dropped = sql.fetch("SELECT drop_chunks('usage_ledger', older_than => now() - INTERVAL '30 days')")
    materialized = sql.fetchval(
        "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) "
        "FROM timescaledb_information.continuous_aggregates WHERE view_name = 'usage_rollup_6h'"
    )
    sql.execute(f"DELETE FROM {materialized}")  # as if the level had just been created
    sql.execute("CALL ledger_rebuild_aggregates()")  # W = -infinity, then one run
    read = asyncio.run(read_as_tenant(sql.dsn, "t_a", [SIX_HOURS, HOURS_BY_SIX]))
    assert dropped and read[0] == read[1]
    assert any(bucket < now - timedelta(days=30) for bucket, *_ in read[0])


async def read_as_tenant(dsn: str, tenant: str, statements: list[str]) -> list[list[tuple[Any, ...]]]:
    """Each statement's rows, sorted, read as the service reads: the reader role with the tenant's proof."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await begin_tenant_read(conn, tenant)
            return [sorted(tuple(r) for r in await conn.fetch(statement)) for statement in statements]
    finally:
        await conn.close()


def assert_summary_exact(ledger: RunningLedger, sql: SQL, tenant: str, zone: str, days: int) -> None:
    with reader(ledger, tenant) as http:
        body = http.get("/api/billing/usage/summary", params={"tz": zone, "days": str(days)}).json()
    first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    assert summary_as_daily(body) == raw_reference(sql, tenant, zone, first, last), zone


def page_daily(ledger: RunningLedger, tenant: str, zone: str, first: date, last: date) -> Daily:
    """The usage page's bars (one per day and event type), in the raw reference's shape."""
    params = {"tz": zone, "from": str(first), "to": str(last)}
    with httpx.Client(base_url=ledger.url, timeout=60) as http:
        signed_in = http.get("/settings/billing/usage", params={"token": token_for(ledger.settings, tenant)})
        assert signed_in.status_code == 200, signed_in.text  # the token is now the page's cookie
        response = http.get("/settings/billing/usage", params=params)
    assert response.status_code == 200, response.text
    days: Daily = defaultdict(dict)
    chart: tuple[str, str] | None = None
    for tag, attrs in start_tags(response.text):
        if tag == "figure" and "data-event-type" in attrs:
            chart = (attrs["data-source"], attrs["data-event-type"])
        elif tag == "g" and "data-date" in attrs and chart and int(attrs["data-events"]):
            days[chart][date.fromisoformat(attrs["data-date"])] = (int(attrs["data-units"]), int(attrs["data-events"]))
    return dict(days)


def analyst_daily_utc(sql: SQL) -> dict[tuple[str, date, str, str], tuple[int, int]]:
    """analyst_usage_daily_utc as the analyst role reads it."""
    analyst = database_roles(sql).analyst

    async def read() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(sql.dsn)
        try:
            async with conn.transaction():
                await set_local_role(conn, analyst)
                return await conn.fetch("SELECT * FROM analyst_usage_daily_utc")
        finally:
            await conn.close()

    rows = asyncio.run(read())
    return {(r["tenant_id"], r["day"], r["source"], r["event_type"]): (r["units"], r["events"]) for r in rows}


def raw_daily_utc(sql: SQL) -> dict[tuple[str, date, str, str], tuple[int, int]]:
    rows = sql.fetch(
        "SELECT tenant_id, (occurred_at AT TIME ZONE 'UTC')::date AS day, source, event_type, "
        "sum(units)::bigint AS units, sum(events)::bigint AS events FROM usage_ledger GROUP BY 1, 2, 3, 4"
    )
    return {(r["tenant_id"], r["day"], r["source"], r["event_type"]): (r["units"], r["events"]) for r in rows}
