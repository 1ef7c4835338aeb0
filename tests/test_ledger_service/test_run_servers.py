"""The servers a test run uses: a server that disappears mid-run ends the run with one clear message, not
an error per test; a TimescaleDB run without TimescaleDB says what it skipped, or fails when CI requires it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = "tests/test_ledger_service/run_server_cases.py"


def run_pytest(*args: str, **env: str) -> tuple[int, str]:
    """A pytest of its own on the cases module, with the embedded server or a cluster it starts itself."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LEDGER_TEST_REQUIRE_TIMESCALEDB")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", CASES, *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def test_a_dead_server_stops_the_run_with_one_message() -> None:
    code, out = run_pytest("--storage=postgres")
    assert code == 3, out[-3000:]
    assert out.count("the test database server is gone") == 1, out[-3000:]
    assert "its postmaster is not running" in out
    assert "1 passed" in out and "never reached" not in out


def test_a_timescaledb_run_without_timescaledb_says_what_it_skipped() -> None:
    code, out = run_pytest("--storage=timescaledb", PG_CONFIG="/bin/false")
    assert code == 0, out[-3000:]
    assert "TimescaleDB pass: skipped all 3 tests of this pass: no PostgreSQL on this machine has" in out
    code, out = run_pytest("--storage=timescaledb", PG_CONFIG="/bin/false", LEDGER_TEST_REQUIRE_TIMESCALEDB="1")
    assert code != 0 and "LEDGER_TEST_REQUIRE_TIMESCALEDB is set but TimescaleDB is unavailable" in out, out[-3000:]
