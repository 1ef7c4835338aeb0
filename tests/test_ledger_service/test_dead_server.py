"""A test server that disappears mid-run ends the run with one clear message, not an error per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_dead_server_stops_the_run_with_one_message() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # the embedded server it may kill
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_ledger_service/dead_server_cases.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 3, out[-3000:]
    assert out.count("the test database server is gone") == 1, out[-3000:]
    assert "its postmaster is not running" in out
    assert "1 passed" in out and "never reached" not in out
