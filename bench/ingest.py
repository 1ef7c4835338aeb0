"""HTTP batch ingest (dedup on) vs raw asyncpg COPY into the same table, in the same run.

    python -m bench.ingest [--events 100000] [--batch-sizes 1000,100,1] [--concurrency 4] [--rounds 3]

For each batch size: raw asyncpg COPY of the same rows into usage_ledger in the same batch size and
concurrency (the baseline), and HTTP ingest through the running service with deduplication on, in
alternating rounds, each HTTP round then sent again (every event a duplicate, compared with the stored one:
what a client's retry costs); prints the medians and their ratios and writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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


async def http_ingest(
    url: str, events: list[dict[str, object]], batch: int, concurrency: int, expect: str = "accepted"
) -> float:
    """Events per second through POST /api/usage/events; every event must be answered `expect`."""
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
                stored += response.json()[expect]
            return stored

        started = time.perf_counter()
        stored = sum(await asyncio.gather(*(worker() for _ in range(concurrency))))
        elapsed = time.perf_counter() - started
    if stored != len(events):
        raise RuntimeError(f"{expect}: {stored} of {len(events)} events")
    return len(events) / elapsed


def copy_records(events: list[dict[str, object]]) -> list[tuple[object, ...]]:
    now = datetime.now(UTC)
    return [
        (
            uuid.uuid4(),
            e["tenantId"],
            e["source"],
            e["eventType"],
            e["units"],
            msgspec.json.encode(e["metadata"]).decode(),
            datetime.fromisoformat(str(e["occurredAt"])),
            now,
            f"copy-{e['idempotencyKey']}",
            None,
            None,
        )
        for e in events
    ]


_COPY_COLUMNS = [
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


async def copy_baseline(dsn: str, events: list[dict[str, object]], batch: int, concurrency: int) -> float:
    """Raw binary COPY of the same rows into usage_ledger, in the same batch size and concurrency as the
    HTTP run (one transaction per batch, as there): no HTTP, no validation, no deduplication."""
    records = copy_records(events)
    chunks = [records[i : i + batch] for i in range(0, len(records), batch)]
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    try:
        async with pool.acquire() as conn:
            for month in {month_start(r[6]) for r in records}:  # type: ignore[arg-type]
                await conn.fetchval("SELECT ledger_ensure_partition($1)", month)

        async def worker() -> None:
            async with pool.acquire() as conn:
                while chunks:
                    await conn.copy_records_to_table("usage_ledger", records=chunks.pop(), columns=_COPY_COLUMNS)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(records) / (time.perf_counter() - started)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events per measurement")
    parser.add_argument("--batch-sizes", default="1000,100,1")
    parser.add_argument("--concurrency", type=int, default=4, help="requests (and COPY streams) in flight")
    parser.add_argument("--rounds", type=int, default=3, help="alternating COPY/HTTP rounds; medians reported")
    args = parser.parse_args()
    results: dict[str, object] = {"events": args.events, "concurrency": args.concurrency, "rounds": args.rounds}
    print(f"{args.events:,} events per measurement, {args.concurrency} in flight, median of {args.rounds} rounds")
    with bench_database() as dsn, ledger_process(dsn) as url:
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            # Small batches are slow by nature: measure them on fewer events.
            count = args.events if batch >= 100 else min(args.events, 5_000)
            copy_rates, http_rates, resend_rates = [], [], []
            for r in range(args.rounds):
                # Alternate the two so a noisy moment on the machine hits both alike.
                copy_rates.append(
                    asyncio.run(copy_baseline(dsn, make_events(count, f"c{batch}-{r}"), batch, args.concurrency))
                )
                events = make_events(count, f"h{batch}-{r}")
                http_rates.append(asyncio.run(http_ingest(url, events, batch, args.concurrency)))
                resend_rates.append(asyncio.run(http_ingest(url, events, batch, args.concurrency, "duplicates")))
            copy_rate, rate = statistics.median(copy_rates), statistics.median(http_rates)
            resend = statistics.median(resend_rates)
            results[f"batch_{batch}"] = {
                "copy_events_per_s": round(copy_rate),
                "http_events_per_s": round(rate),
                "http_vs_copy": round(rate / copy_rate, 3),
                "resend_events_per_s": round(resend),
                "resend_vs_http": round(resend / rate, 3),
                "copy_runs": [round(x) for x in copy_rates],
                "http_runs": [round(x) for x in http_rates],
                "resend_runs": [round(x) for x in resend_rates],
            }
            print(
                f"batch {batch:>5}: raw COPY {copy_rate:>9,.0f} ev/s | HTTP ingest (dedup on) {rate:>9,.0f} ev/s"
                f" | {rate / copy_rate:4.2f} x COPY | resent (all duplicates) {resend:>9,.0f} ev/s"
                f" = {resend / rate:4.2f} x ingest"
            )
    print(f"results: {write_results('ingest', results)}")


if __name__ == "__main__":
    main()
