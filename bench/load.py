"""Sustained mixed load: ingest plus summary/events reads from several tenants, for a bounded time.

    python -m bench.load [--seconds 60] [--tenants 5] [--ingest-workers 4] [--read-workers 4] [--batch 100]

Runs `usage-ledger serve` in its own process, seeds a few thousand events, then for --seconds keeps
ingest workers posting batches (new idempotency keys, several tenants) and read workers fetching the
summary and events pages (following cursors) with tenant read tokens minted by ledger_service.tokens.
Reports throughput, p50/p95/p99 per endpoint, errors, and the service process's RSS at start, middle
and end (memory should stay flat). Writes bench/results/load.json. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psutil

from bench.harness import BENCH_INGEST_KEY, bench_database, ledger_process, write_results
from harness.processes import free_port
from ledger_service.settings import Settings
from ledger_service.tokens import mint_read_token

_TYPES = (("twilio", "sms_outbound"), ("sendgrid", "email_sent"), ("openai", "ai_message"), ("twilio", "call_minutes"))


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.error_samples: list[str] = []
        self.events_stored = 0

    async def timed(self, name: str, call: Any) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            response: httpx.Response = await call
        except httpx.HTTPError as exc:
            self._error(name, repr(exc))
            return None
        self.latencies[name].append(time.perf_counter() - start)
        if response.status_code >= 400:
            self._error(name, f"HTTP {response.status_code}: {response.text[:200]}")
        return response

    def _error(self, name: str, text: str) -> None:
        self.errors[name] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{name}: {text}")


def batch(tenants: int, size: int, spread_days: int = 0) -> dict[str, Any]:
    now = datetime.now(UTC)
    events = []
    for _ in range(size):
        source, event_type = random.choice(_TYPES)
        ago = timedelta(seconds=random.randint(0, spread_days * 86_400)) if spread_days else timedelta()
        events.append(
            {
                "tenantId": f"t_load_{random.randrange(tenants)}",
                "source": source,
                "eventType": event_type,
                "units": random.randint(1, 500),
                "occurredAt": (now - ago).isoformat(),
                "idempotencyKey": str(uuid.uuid4()),
                "metadata": {"status": "ok"},
            }
        )
    return {"events": events}


async def ingest_worker(http: httpx.AsyncClient, rec: Recorder, stop: float, tenants: int, size: int) -> None:
    while time.monotonic() < stop:
        response = await rec.timed("POST /api/usage/events", http.post("/api/usage/events", json=batch(tenants, size)))
        if response is not None and response.status_code == 200:
            rec.events_stored += response.json()["accepted"]


async def read_worker(http: httpx.AsyncClient, rec: Recorder, stop: float, tokens: list[str]) -> None:
    while time.monotonic() < stop:
        headers = {"Authorization": f"Bearer {random.choice(tokens)}"}
        if random.random() < 0.5:
            await rec.timed("GET summary", http.get("/api/billing/usage/summary", headers=headers))
            continue
        cursor = None
        for _ in range(random.randint(1, 3)):  # page 1, sometimes 2 and 3
            params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
            name = "GET events (page 1)" if cursor is None else "GET events (next page)"
            response = await rec.timed(name, http.get("/api/billing/usage/events", params=params, headers=headers))
            if response is None or response.status_code != 200 or not (cursor := response.json()["nextCursor"]):
                break


def rss_mb(pid: int) -> float:
    return round(float(psutil.Process(pid).memory_info().rss) / 2**20, 1)


def service_pid(port: int) -> int:
    """The ledger process: the one listening on the port (harness.ledger_process does not expose it)."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return int(conn.pid)
    raise RuntimeError(f"no process listens on port {port}")


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"n": len(values)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "n": len(values),
        "p50_ms": round(cuts[49] * 1e3, 2),
        "p95_ms": round(cuts[94] * 1e3, 2),
        "p99_ms": round(cuts[98] * 1e3, 2),
        "max_ms": round(max(values) * 1e3, 2),
    }


async def run(url: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    secret = Settings().secret_key.get_secret_value()
    tokens = [mint_read_token(secret, f"t_load_{t}", timedelta(hours=2)) for t in range(args.tenants)]
    limits = httpx.Limits(max_connections=args.ingest_workers + args.read_workers)
    headers = {"Authorization": f"Bearer {BENCH_INGEST_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as http:
        for _ in range(args.seed // 1000):  # 30 days of history for the reads
            (await http.post("/api/usage/events", json=batch(args.tenants, 1000, spread_days=30))).raise_for_status()
        rec = Recorder()
        rss = {"start": rss_mb(pid)}
        start = time.monotonic()
        stop = start + args.seconds

        async def sample_rss() -> None:
            await asyncio.sleep(args.seconds / 2)
            rss["middle"] = rss_mb(pid)

        workers = [ingest_worker(http, rec, stop, args.tenants, args.batch) for _ in range(args.ingest_workers)]
        workers += [read_worker(http, rec, stop, tokens) for _ in range(args.read_workers)]
        await asyncio.gather(sample_rss(), *workers)
        elapsed = time.monotonic() - start
        rss["end"] = rss_mb(pid)
    endpoints = {
        name: {**percentiles(v), "per_s": round(len(v) / elapsed, 1), "errors": rec.errors.get(name, 0)}
        for name, v in sorted(rec.latencies.items())
    }
    return {
        "seconds": round(elapsed, 1),
        "config": vars(args),
        "events_per_s": round(rec.events_stored / elapsed),
        "events_stored": rec.events_stored,
        "endpoints": endpoints,
        "errors": sum(rec.errors.values()),
        "error_samples": rec.error_samples,
        "service_rss_mb": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the mixed load runs")
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--ingest-workers", type=int, default=4, help="concurrent ingest requests")
    parser.add_argument("--read-workers", type=int, default=4, help="concurrent read requests")
    parser.add_argument("--batch", type=int, default=100, help="events per ingest request")
    parser.add_argument("--seed", type=int, default=20_000, help="events of history ingested before the clock starts")
    parser.add_argument("--port", type=int, default=0, help="the ledger's port (default: a free one)")
    args = parser.parse_args()
    args.port = args.port or free_port()
    with bench_database() as database_url, ledger_process(database_url, port=args.port) as url:
        results = asyncio.run(run(url, service_pid(args.port), args))
    print(
        f"mixed load for {results['seconds']} s: {results['events_per_s']} events/s ingested, "
        f"{results['errors']} errors, service RSS MB {results['service_rss_mb']}"
    )
    for name, figures in results["endpoints"].items():
        print(f"  {name:26s} {figures}")
    for sample in results["error_samples"]:
        print(f"  error: {sample}")
    print(f"results: {write_results('load', results)}")


if __name__ == "__main__":
    main()
