"""Every benchmark script still runs end to end (tiny sizes, figures not looked at: speed lives in bench/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.run_all import BENCHMARKS

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
