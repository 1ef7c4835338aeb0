"""Every benchmark script still runs end to end (tiny sizes, figures not looked at: speed lives in bench/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run_all import BENCHMARKS, SMOKE

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_and_writes_its_results(tmp_path: Path) -> None:
    names = [n for n in BENCHMARKS if n != "page" or shutil.which("chromium") or Path("/usr/bin/chromium").exists()]
    result = subprocess.run(
        [sys.executable, "-m", "bench.run_all", "--smoke", "--only", ",".join(names), "--timeout", "600"],
        cwd=ROOT,
        env={**os.environ, "BENCH_RESULTS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    runs = json.loads((tmp_path / "all.json").read_text())["runs"]
    for name in names:
        assert runs[name]["returncode"] == 0, name
        assert runs[name]["results"], f"{name} wrote no results"


@pytest.mark.storage("timescaledb")
def test_the_read_and_ingest_benchmarks_run_on_timescaledb(admin_dsn: str, tmp_path: Path) -> None:
    """bench.read and bench.ingest on the hypertable (the smoke run above uses plain PostgreSQL). bench.read
    also checks that the summary from the aggregates equals the raw scan, on a COPY-loaded ledger."""
    for name in ("read", "ingest"):
        result = subprocess.run(
            [sys.executable, "-m", f"bench.{name}", *SMOKE[name]],
            cwd=ROOT,
            env={**os.environ, "BENCH_RESULTS_DIR": str(tmp_path), "DATABASE_URL": admin_dsn},
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        assert json.loads((tmp_path / f"{name}.json").read_text())
