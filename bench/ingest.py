"""HTTP batch ingest (dedup on) vs raw asyncpg COPY into the same table, in the same run.

    python -m bench.ingest [--events 200000] [--batch-sizes 1000,100,1] [--concurrency 4]

Prints events/s for each batch size and for COPY, and the ratio; writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import msgspec

from bench.harness import BENCH_INGEST_KEY, bench_database, ledger_process, write_results
from ledger_service.storage.ledger import month_start

_SOURCES = (("twilio", "sms_outbound"), ("sendgrid", "email_sent"), ("openai", "ai_message"))


def make_events(count: int, run: str) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [
        {
            "tenantId": f"t_{n % 50}",
            "source": _SOURCES[n % 3][0],
            "eventType": _SOURCES[n % 3][1],
            "units": 1 + n % 7,
            "occurredAt": (now - timedelta(seconds=n % 86_400)).isoformat(),
            "idempotencyKey": f"{run}-{n}",
            "metadata": {"model": "gpt-4o-mini", "status": "ok"},
        }
        for n in range(count)
    ]


async def http_ingest(url: str, events: list[dict[str, object]], batch: int, concurrency: int) -> float:
    bodies = [msgspec.json.encode({"events": events[i : i + batch]}) for i in range(0, len(events), batch)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {BENCH_INGEST_KEY}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as client:

        async def worker() -> int:
            stored = 0
            while not queue.empty():
                response = await client.post("/api/usage/events", content=queue.get_nowait())
                response.raise_for_status()
                stored += response.json()["accepted"]
            return stored

        started = time.perf_counter()
        stored = sum(await asyncio.gather(*(worker() for _ in range(concurrency))))
        elapsed = time.perf_counter() - started
    if stored != len(events):
        raise RuntimeError(f"stored {stored} of {len(events)} events")
    return len(events) / elapsed


async def copy_baseline(dsn: str, events: list[dict[str, object]], chunk: int = 10_000) -> float:
    """Raw COPY of the same rows into usage_ledger: no validation, no HTTP, no dedup."""
    now = datetime.now(UTC)
    records = [
        (uuid.uuid4(), e["tenantId"], e["source"], e["eventType"], e["units"], msgspec.json.encode(e["metadata"]).decode(),
         datetime.fromisoformat(str(e["occurredAt"])), now, f"copy-{e['idempotencyKey']}", None, None)
        for e in events
    ]  # fmt: skip
    columns = ["id", "tenant_id", "source", "event_type", "units", "metadata", "occurred_at", "created_at",
               "idempotency_key", "trace_id", "span_id"]  # fmt: skip
    conn = await asyncpg.connect(dsn)
    try:
        for month in {month_start(r[6]) for r in records}:
            await conn.fetchval("SELECT ledger_ensure_partition($1)", month)
        started = time.perf_counter()
        for i in range(0, len(records), chunk):
            await conn.copy_records_to_table("usage_ledger", records=records[i : i + chunk], columns=columns)
        return len(records) / (time.perf_counter() - started)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-sizes", default="1000,100,1")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    results: dict[str, object] = {"events": args.events, "concurrency": args.concurrency}
    with bench_database() as dsn, ledger_process(dsn) as url:
        copy_rate = asyncio.run(copy_baseline(dsn, make_events(args.events, "copy")))
        results["copy_events_per_s"] = round(copy_rate)
        print(f"raw asyncpg COPY:            {copy_rate:>10,.0f} events/s")
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            # Small batches are slow by nature: measure them on fewer events.
            count = args.events if batch >= 100 else min(args.events, 5_000)
            rate = asyncio.run(http_ingest(url, make_events(count, f"b{batch}"), batch, args.concurrency))
            results[f"http_batch_{batch}_events_per_s"] = round(rate)
            results[f"http_batch_{batch}_vs_copy"] = round(rate / copy_rate, 3)
            print(f"HTTP ingest, batch {batch:>5}:    {rate:>10,.0f} events/s   {rate / copy_rate:5.2f} x COPY")
    print(f"results: {write_results('ingest', results)}")


if __name__ == "__main__":
    main()
