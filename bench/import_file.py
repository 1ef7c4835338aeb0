"""`usage-ledger import FILE` (JSON Lines) vs HTTP batch ingest and vs raw COPY, in the same run.

    python -m bench.import_file [--events 1000000] [--batch 10000] [--http-batch 1000] [--verify-kill]

Writes the events to a JSON Lines file, then into one fresh database: raw asyncpg COPY of as many rows of
the same shape (the baseline: no validation, no deduplication, no rollups) and HTTP batch ingest through
`usage-ledger serve` (batches of --http-batch, 4 in flight, as bench.ingest), each in two halves, one
before and one after `usage-ledger import FILE` run as a user runs it (a process of its own; its rate as it
reports it, from the database open to the last batch, and from process start to exit). Halves around the
import weigh a machine getting busier or quieter on all three alike. Prints the rates and their ratios and
writes bench/results/import_file.json.

--verify-kill then imports the file again into a second fresh database, SIGKILLs the import once half of
it is acknowledged, runs the same command again and checks the ledger holds exactly --events rows, one
per key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import msgspec

from bench.harness import bench_database, ledger_process, write_results
from bench.ingest import copy_baseline, http_ingest, make_events


def write_file(path: Path, events: list[dict[str, object]]) -> None:
    encoder = msgspec.json.Encoder()
    with path.open("wb") as out:
        for event in events:
            out.write(encoder.encode(event) + b"\n")


def import_command(path: Path, batch: int) -> list[str]:
    return [sys.executable, "-m", "ledger_service.cli", "import", str(path), "--batch", str(batch)]


_OWN_SECONDS = re.compile(r" lines in ([\d,.]+) s ")


def own_seconds(summary: str) -> float:
    """The import's time as the command reports it: from the database open to the last batch."""
    found = _OWN_SECONDS.search(summary)
    if found is None:
        raise RuntimeError(f"no time in the summary: {summary!r}")
    return float(found.group(1).replace(",", ""))


def run_import(dsn: str, path: Path, batch: int) -> tuple[float, str]:
    """The command's wall time (process start to exit) and its summary."""
    started = time.perf_counter()
    done = subprocess.run(
        import_command(path, batch),
        env={**os.environ, "DATABASE_URL": dsn},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, done.stdout


async def count_rows(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT (tenant_id, idempotency_key)) AS k FROM usage_ledger"
        )
        assert row is not None
        return row["n"], row["k"]
    finally:
        await conn.close()


def kill_midway(dsn: str, path: Path, batch: int, fraction: float) -> int | None:
    """Start the import, SIGKILL it once `fraction` of the file is acknowledged; the byte offset it reached
    (None: it was done before it could be killed, as a tiny file may be)."""
    state = path.with_name(path.name + ".import-state.json")
    proc = subprocess.Popen(
        import_command(path, batch),
        env={**os.environ, "DATABASE_URL": dsn},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    target = int(path.stat().st_size * fraction)
    offset = 0
    while proc.poll() is None and offset < target:
        time.sleep(0.01)
        try:
            offset = json.loads(state.read_bytes())["offset"]
        except (FileNotFoundError, ValueError):
            offset = 0
    if proc.poll() is not None:
        return None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return offset


def verify_kill(path: Path, count: int, batch: int) -> dict[str, object]:
    with bench_database() as dsn, ledger_process(dsn):  # serve migrates the fresh database
        offset = kill_midway(dsn, path, batch, 0.5)
        rows_at_kill, _ = asyncio.run(count_rows(dsn))
        seconds, summary = run_import(dsn, path, batch)
        rows, keys = asyncio.run(count_rows(dsn))
    if offset is None:
        print("kill midway: the import was done before it could be killed (use a bigger file)")
    else:
        print(f"kill midway: SIGKILL at byte {offset:,} of {path.stat().st_size:,} with {rows_at_kill:,} rows stored")
    print(f"  re-run ({seconds:,.1f} s): {summary.strip().splitlines()[-1].strip()}")
    exact = rows == keys == count
    print(f"  ledger: {rows:,} rows, {keys:,} distinct keys, expected {count:,}: {'exact' if exact else 'WRONG'}")
    if not exact:
        raise SystemExit(1)
    return {"killed_at_byte": offset, "rows_at_kill": rows_at_kill, "rows_after_rerun": rows, "distinct_keys": keys}


@dataclass
class Rates:
    """Events and seconds per measurement; a baseline is measured in two halves, before and after the
    import, so a machine that gets busier or quieter during the run weighs on both alike."""

    seconds: dict[str, float] = field(default_factory=dict)
    halves: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, events: int, rate: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + events / rate
        self.halves.setdefault(name, []).append(round(rate))

    def rate(self, name: str, events: int) -> float:
        return events / self.seconds[name]


def baselines(dsn: str, url: str, args: argparse.Namespace, rates: Rates, half: str) -> None:
    count = args.events // 2 if half == "a" else args.events - args.events // 2
    copy = asyncio.run(copy_baseline(dsn, make_events(count, f"copy-{half}"), args.batch, args.concurrency))
    http = asyncio.run(http_ingest(url, make_events(count, f"http-{half}"), args.http_batch, args.concurrency))
    rates.add("copy", count, copy)
    rates.add("http", count, http)
    print(f"  {count:,} events: raw COPY {copy:,.0f} ev/s, HTTP ingest {http:,.0f} ev/s")


def measure(path: Path, args: argparse.Namespace) -> dict[str, object]:
    n, rates = args.events, Rates()
    with bench_database() as dsn, ledger_process(dsn) as url:
        baselines(dsn, url, args, rates, "a")
        seconds, summary = run_import(dsn, path, args.batch)
        print(f"  usage-ledger import: {summary.strip().splitlines()[-1].strip()}")
        baselines(dsn, url, args, rates, "b")
        rows, _ = asyncio.run(count_rows(dsn))
    if rows != 3 * n:
        raise SystemExit(f"expected {3 * n:,} rows after the runs, found {rows:,}")
    imported, wall = n / own_seconds(summary), n / seconds
    copy, http = rates.rate("copy", n), rates.rate("http", n)
    print(f"raw COPY (batch {args.batch}, {args.concurrency} streams)      {copy:>9,.0f} ev/s")
    print(f"HTTP ingest (batch {args.http_batch}, {args.concurrency} in flight)    {http:>9,.0f} ev/s")
    print(f"usage-ledger import (batch {args.batch})     {imported:>9,.0f} ev/s ({own_seconds(summary):,.1f} s)")
    print(f"  process start to exit: {wall:,.0f} ev/s ({seconds:,.1f} s)")
    print(f"import / HTTP = {imported / http:.2f} x   import / COPY = {imported / copy:.2f} x")
    return {
        "copy_events_per_s": round(copy),
        "http_events_per_s": round(http),
        "import_events_per_s": round(imported),
        "import_seconds": own_seconds(summary),
        "import_process_seconds": round(seconds, 2),
        "import_process_events_per_s": round(wall),
        "import_vs_http": round(imported / http, 3),
        "import_vs_copy": round(imported / copy, 3),
        "baseline_halves": rates.halves,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file (and in each baseline)")
    parser.add_argument("--batch", type=int, default=10_000, help="the import's --batch (and the COPY batch size)")
    parser.add_argument("--http-batch", type=int, default=1000, help="events per HTTP request")
    parser.add_argument("--concurrency", type=int, default=4, help="HTTP requests and COPY streams in flight")
    parser.add_argument("--verify-kill", action="store_true", help="also: SIGKILL an import midway, re-run, count")
    args = parser.parse_args()
    results: dict[str, object] = {"events": args.events, "batch": args.batch, "http_batch": args.http_batch}
    with tempfile.TemporaryDirectory(prefix="ledger-import-bench-") as tmp:
        path = Path(tmp) / "events.jsonl"
        write_file(path, make_events(args.events, "import"))
        print(f"{args.events:,} events, {path.stat().st_size / 1e6:,.0f} MB of JSON Lines")
        results |= measure(path, args)
        if args.verify_kill:
            results["kill_midway"] = verify_kill(path, args.events, args.batch)
    print(f"results: {write_results('import_file', results)}")


if __name__ == "__main__":
    main()
