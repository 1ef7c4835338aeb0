"""Run every benchmark in bench/ with modest sizes (or the goals' sizes with --full) and collect their JSON.

    python -m bench.run_all [--full | --smoke] [--only ingest,load] [--timeout 3600]

Each benchmark runs as its own `python -m bench.<name>` process, one after another (they would skew each
other on a 2-core machine), and writes bench/results/<name>.json; this collects them, with the command
and exit status of each, into bench/results/all.json. A benchmark that is missing or fails is reported
and the rest still run. bench/README.md explains the figures and their goals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import RESULTS_DIR, machine

BENCH_DIR = Path(__file__).parent
# name -> (modest arguments, arguments for the sizes the goals are stated at)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "ingest": (["--events", "20000", "--rounds", "3"], []),
    "sdk_overhead": (["--calls", "20000", "--burst", "50000"], []),
    "read": (["--rows", "1000000", "--samples", "100"], ["--rows", "10000000"]),
    "page": (["--tenant-rows", "100000", "--loads", "10", "--screenshot", "test-artifacts/usage-page-bench.png"], []),
    "instrumentation_overhead": (["--calls", "100", "--rounds", "3"], []),
    "load": (["--seconds", "30"], ["--seconds", "60"]),
    "import_file": (["--events", "200000"], ["--events", "1000000", "--verify-kill"]),
}
# Tiny sizes that only prove every script still runs end to end (tests/test_bench); the figures mean nothing.
SMOKE: dict[str, list[str]] = {
    "ingest": ["--events", "2000", "--batch-sizes", "1000,100", "--rounds", "1"],
    "sdk_overhead": ["--calls", "2000", "--burst", "2000", "--delay", "0.01"],
    "read": ["--rows", "60000", "--tenant-rows", "50000", "--samples", "5"],  # page 1000 needs 50k rows
    "page": ["--tenant-rows", "2000", "--loads", "2", "--screenshot", "test-artifacts/usage-page-smoke.png"],
    "instrumentation_overhead": ["--calls", "10", "--rounds", "1"],
    "load": ["--seconds", "5", "--seed", "500"],
    "import_file": ["--events", "20000", "--batch", "200", "--verify-kill"],
}


def run_one(name: str, args: list[str], timeout: float) -> dict[str, object]:
    command = [sys.executable, "-m", f"bench.{name}", *args]
    print(f"\n=== {' '.join(['python', *command[1:]])}", flush=True)
    started = time.time()
    try:
        returncode = subprocess.run(command, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        returncode = -1
        print(f"=== {name}: timed out after {timeout} s", flush=True)
    result_file = RESULTS_DIR / f"{name}.json"
    fresh = result_file.exists() and result_file.stat().st_mtime >= started
    return {
        "command": " ".join(["python", *command[1:]]),
        "returncode": returncode,
        "seconds": round(time.time() - started, 1),
        "results": json.loads(result_file.read_text()) if fresh else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the sizes the goals are stated at (slow: 10M rows)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check every script runs (no figures)")
    parser.add_argument("--only", default="", help="comma-separated subset, e.g. ingest,load")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    args = parser.parse_args()
    wanted = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    runs: dict[str, object] = {}
    for name in wanted:
        if name not in BENCHMARKS or not (BENCH_DIR / f"{name}.py").exists():
            print(f"=== {name}: no such benchmark in bench/, skipped", flush=True)
            runs[name] = {"skipped": "not present"}
            continue
        modest, full = BENCHMARKS[name]
        sizes = SMOKE[name] if args.smoke else full if args.full else modest
        runs[name] = run_one(name, sizes, args.timeout)
    RESULTS_DIR.mkdir(exist_ok=True)
    summary = RESULTS_DIR / "all.json"
    summary.write_text(json.dumps({"machine": machine(), "full": args.full, "runs": runs}, indent=2, default=str))
    failed = [n for n, r in runs.items() if isinstance(r, dict) and r.get("returncode") not in (0, None)]
    print(f"\nresults: {summary}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
