"""Read API latency on a large ledger: summary from the aggregates vs a raw scan, events pages at depth.

    python -m bench.read [--rows 10000000] [--tenant-rows 1000000] [--samples 200]
    DATABASE_URL=<a server that preloads timescaledb> python -m bench.read ...   # the TimescaleDB variant

Seeds --rows ledger rows with COPY (--tenant-rows of them for one tenant over 30 days, the rest spread
over 2,000 other tenants), fills the aggregates, then prints, in the same run:
  - summary p50/p95 through HTTP (30 days, from the aggregates as the service reads them: on TimescaleDB
    with the raw rows after the materialization watermark) and the same summary computed by a raw scan of
    the ledger rows (SQL, no HTTP), checked equal, and their ratio;
  - events-page p95 through HTTP at page 1 and at page 1000 (keyset cursor, 50 rows a page).
Goals: summary p95 <= 10 ms and >= 20x faster than the raw scan; both page depths <= 10 ms.
Writes bench/results/read.json.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import httpx

from bench.harness import bench_database, ledger_process, write_results
from ledger_service.read.days import day_starts, today_in
from ledger_service.read.days import load_zone as zone_named
from ledger_service.settings import Settings
from ledger_service.storage.ledger import LedgerRepository
from ledger_service.storage.migrations import recorded_variant
from ledger_service.storage.usage_read import SummaryWindow, UsageReadRepository
from ledger_service.tokens import mint_read_token
from usage_ledger_contract.catalog import CATALOG

TENANT = "t_bench"
_COLUMNS = [
    "id",
    "tenant_id",
    "source",
    "event_type",
    "units",
    "metadata",
    "occurred_at",
    "created_at",
    "idempotency_key",
    "trace_id",
    "span_id",
]
_CHUNK = 200_000
_PAGE = 50


def seed_rows(count: int, tenant_rows: int, now: datetime) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of COPY records: the bench tenant's rows first, then everyone else's, over 30 days."""
    rng = random.Random(42)
    types = [(e.source, e.name) for e in CATALOG]
    span = 30 * 86_400 - 60
    for start in range(0, count, _CHUNK):
        chunk: list[tuple[Any, ...]] = []
        for n in range(start, min(start + _CHUNK, count)):
            tenant = TENANT if n < tenant_rows else f"t_{n % 2000}"
            source, event_type = types[n % len(types)]
            at = now - timedelta(seconds=60 + rng.random() * span)
            chunk.append(
                (
                    uuid.UUID(int=rng.getrandbits(128)),
                    tenant,
                    source,
                    event_type,
                    1 + n % 40,
                    '{"status": "delivered", "model": "gpt-4o-mini"}',
                    at,
                    now,
                    f"seed-{n}",
                    None,
                    None,
                )
            )
        yield chunk


async def seed(dsn: str, rows: int, tenant_rows: int) -> float:
    now = datetime.now(UTC)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            variant = await recorded_variant(conn) or "postgres"
        await LedgerRepository(pool, variant).ensure_partitions([now - timedelta(days=31), now])
        started = time.perf_counter()
        async with pool.acquire() as conn:
            for chunk in seed_rows(rows, tenant_rows, now):
                await conn.copy_records_to_table("usage_ledger", records=chunk, columns=_COLUMNS)
        copy_seconds = time.perf_counter() - started
        reads = UsageReadRepository(pool, variant)
        await reads.refresh_aggregates()  # COPY went around ingest, so the aggregates are filled here
        await reads.vacuum_analyze()
        return copy_seconds
    finally:
        await pool.close()


async def storage_of(dsn: str) -> str:
    """The storage variant the ledger picked for this database (figures differ by variant)."""
    conn = await asyncpg.connect(dsn)
    try:
        return await recorded_variant(conn) or "postgres"
    finally:
        await conn.close()


def timed(call: Callable[[], object], samples: int) -> list[float]:
    call()  # warm-up: connection, prepared statements, caches
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def percentiles(ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2)}


def get_ok(http: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
    response = http.get(path, params=params)
    response.raise_for_status()
    return response


def cursor_at_page(http: httpx.Client, page: int) -> str:
    cursor = ""
    for _ in range(page - 1):
        params = {"limit": str(_PAGE), **({"cursor": cursor} if cursor else {})}
        cursor = get_ok(http, "/api/billing/usage/events", params).json()["nextCursor"]
        if cursor is None:
            raise SystemExit(f"{TENANT} has fewer than {page} pages of {_PAGE} rows: raise --tenant-rows")
    return cursor


async def raw_scan_times(dsn: str, samples: int, zone: str, variant: str) -> tuple[list[float], list[float]]:
    """The 30-day summary as SQL only: from the aggregates, and by scanning the raw rows."""
    tz = zone_named(zone)
    last = today_in(tz)
    starts, end = day_starts(last - timedelta(days=29), last, tz)
    window = SummaryWindow(starts, end)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        repository = UsageReadRepository(pool, variant)
        results = {}
        for raw in (False, True):
            await repository.summary(TENANT, window, raw_scan=raw)
            durations = []
            for _ in range(samples):
                started = time.perf_counter()
                rows = await repository.summary(TENANT, window, raw_scan=raw)
                durations.append((time.perf_counter() - started) * 1000)
            results[raw] = (durations, rows)
        if results[False][1] != results[True][1]:
            raise RuntimeError("the aggregates and the raw scan disagree")
        return results[False][0], results[True][0]
    finally:
        await pool.close()


def measure(url: str, dsn: str, samples: int, variant: str) -> dict[str, object]:
    token = mint_read_token(Settings().secret_key.get_secret_value(), TENANT, timedelta(hours=2))
    out: dict[str, object] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        for zone in ("UTC", "Asia/Kathmandu"):
            summary = partial(get_ok, http, "/api/billing/usage/summary", {"tz": zone})
            out[f"summary_http_{zone}"] = percentiles(timed(summary, samples))
        first = partial(get_ok, http, "/api/billing/usage/events", {"limit": str(_PAGE)})
        out["events_page_1"] = percentiles(timed(first, samples))
        deep_cursor = cursor_at_page(http, 1000)
        deep = partial(get_ok, http, "/api/billing/usage/events", {"limit": str(_PAGE), "cursor": deep_cursor})
        out["events_page_1000"] = percentiles(timed(deep, samples))
    aggregate_sql, raw_sql = asyncio.run(raw_scan_times(dsn, max(5, samples // 20), "UTC", variant))
    out["summary_sql_aggregates"] = percentiles(aggregate_sql)
    out["summary_sql_raw_scan"] = percentiles(raw_sql)
    return out


def report(results: dict[str, object]) -> None:
    def line(label: str, key: str) -> None:
        p = results[key]
        assert isinstance(p, dict)
        print(f"{label:<44} p50 {p['p50_ms']:>8.2f} ms   p95 {p['p95_ms']:>8.2f} ms")

    line("summary, 30 days UTC, HTTP (aggregates)", "summary_http_UTC")
    line("summary, 30 days Asia/Kathmandu, HTTP", "summary_http_Asia/Kathmandu")
    line("summary, 30 days UTC, SQL on aggregates", "summary_sql_aggregates")
    line("summary, 30 days UTC, SQL raw scan", "summary_sql_raw_scan")
    line("events page 1 (50 rows), HTTP", "events_page_1")
    line("events page 1000 (50 rows), HTTP", "events_page_1000")
    print(f"raw scan p50 / summary HTTP p95: {results['raw_scan_vs_summary']}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="ledger rows to seed (all tenants)")
    parser.add_argument("--tenant-rows", type=int, default=None, help="rows of the measured tenant (default rows/10)")
    parser.add_argument("--samples", type=int, default=200, help="timed requests per figure")
    args = parser.parse_args()
    tenant_rows = args.tenant_rows if args.tenant_rows is not None else args.rows // 10
    results: dict[str, object] = {"rows": args.rows, "tenant_rows": tenant_rows, "days": 30, "page_size": _PAGE}
    with bench_database() as dsn, ledger_process(dsn) as url:
        copy_seconds = asyncio.run(seed(dsn, args.rows, tenant_rows))
        results["storage"] = asyncio.run(storage_of(dsn))
        results["seed_copy_rows_per_s"] = round(args.rows / copy_seconds)
        print(
            f"{results['storage']} storage: seeded {args.rows:,} rows ({tenant_rows:,} for {TENANT}) "
            f"at {args.rows / copy_seconds:,.0f} rows/s"
        )
        results.update(measure(url, dsn, args.samples, str(results["storage"])))
    summary_p95 = results["summary_http_UTC"]["p95_ms"]  # type: ignore[index]
    raw_p50 = results["summary_sql_raw_scan"]["p50_ms"]  # type: ignore[index]
    results["raw_scan_vs_summary"] = round(raw_p50 / summary_p95, 1)
    report(results)
    print(f"results: {write_results('read', results)}")


if __name__ == "__main__":
    main()
