"""`usage-ledger import FILE` (JSON Lines) vs HTTP batch ingest and vs raw COPY, in the same run.

    python -m bench.import_file [--events 1000000] [--batch 10000] [--http-batch 1000] [--verify-kill]

Writes the events to a JSON Lines file, then into one fresh database: raw asyncpg COPY of the same rows
(the baseline: no validation, no deduplication, no rollups), HTTP batch ingest through `usage-ledger serve`
(batches of --http-batch, 4 in flight, as bench.ingest), then `usage-ledger import FILE` as a user runs it
(a process of its own; its rate as it reports it, from the database open to the last batch, and from
process start to exit). The import goes last, into the fullest tables and key index, so its ratios are if
anything understated. Prints the rates and their ratios and writes
bench/results/import_file.json.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file (and in each baseline)")
    parser.add_argument("--batch", type=int, default=10_000, help="the import's --batch (and the COPY batch size)")
    parser.add_argument("--http-batch", type=int, default=1000, help="events per HTTP request")
    parser.add_argument("--concurrency", type=int, default=4, help="HTTP requests and COPY streams in flight")
    parser.add_argument("--verify-kill", action="store_true", help="also: SIGKILL an import midway, re-run, count")
    args = parser.parse_args()
    n = args.events
    results: dict[str, object] = {"events": n, "batch": args.batch, "http_batch": args.http_batch}
    with tempfile.TemporaryDirectory(prefix="ledger-import-bench-") as tmp:
        path = Path(tmp) / "events.jsonl"
        write_file(path, make_events(n, "import"))
        print(f"{n:,} events, {path.stat().st_size / 1e6:,.0f} MB of JSON Lines")
        with bench_database() as dsn, ledger_process(dsn) as url:
            copy_rate = asyncio.run(copy_baseline(dsn, make_events(n, "copy"), args.batch, args.concurrency))
            print(f"raw COPY (batch {args.batch}, {args.concurrency} streams)  {copy_rate:>9,.0f} ev/s")
            http_rate = asyncio.run(http_ingest(url, make_events(n, "http"), args.http_batch, args.concurrency))
            print(f"HTTP ingest (batch {args.http_batch}, {args.concurrency} in flight)   {http_rate:>9,.0f} ev/s")
            seconds, summary = run_import(dsn, path, args.batch)
            import_rate, wall_rate = n / own_seconds(summary), n / seconds
            print(
                f"usage-ledger import (batch {args.batch})    {import_rate:>9,.0f} ev/s as it reports"
                f" ({own_seconds(summary):,.1f} s); {wall_rate:,.0f} ev/s process start to exit ({seconds:,.1f} s)"
            )
            print("  " + summary.strip().splitlines()[-1].strip())
            rows, _ = asyncio.run(count_rows(dsn))
        print(f"import / HTTP = {import_rate / http_rate:.2f} x   import / COPY = {import_rate / copy_rate:.2f} x")
        print(f"(process start to exit: {wall_rate / http_rate:.2f} x HTTP, {wall_rate / copy_rate:.2f} x COPY)")
        results |= {
            "copy_events_per_s": round(copy_rate),
            "import_events_per_s": round(import_rate),
            "import_seconds": own_seconds(summary),
            "import_process_seconds": round(seconds, 2),
            "import_process_events_per_s": round(wall_rate),
            "http_events_per_s": round(http_rate),
            "import_vs_http": round(import_rate / http_rate, 3),
            "import_vs_copy": round(import_rate / copy_rate, 3),
            "rows_after": rows,
        }
        if rows != 3 * n:
            raise SystemExit(f"expected {3 * n:,} rows after the three runs, found {rows:,}")
        if args.verify_kill:
            results["kill_midway"] = verify_kill(path, n, args.batch)
    print(f"results: {write_results('import_file', results)}")


if __name__ == "__main__":
    main()
