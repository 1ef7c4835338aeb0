"""An import killed midway (SIGKILL, a real process) and run again leaves every event exactly once, and every
rejected line in the rejects file exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.support.postgres import SQL
from tests.test_ledger_service.import_support import (
    cli_env,
    events,
    import_command,
    rejected_lines,
    run_import,
    summary_counts,
    write_jsonl,
)

LINES = 30_000
BAD_EVERY = 997  # some lines are rejected, so resuming must not write their reasons twice


def _file(tmp_path: Path) -> tuple[Path, set[int]]:
    items = events(LINES, prefix="resume")
    bad = set(range(BAD_EVERY - 1, LINES, BAD_EVERY))
    for index in bad:
        items[index]["units"] = -1
    return write_jsonl(tmp_path / "big.jsonl", items), bad


def _kill_midway(database_url: str, path: Path) -> None:
    """Start the import and SIGKILL it once a quarter of the file is acknowledged (before it is done)."""
    state = path.with_name(path.name + ".import-state.json")
    size = path.stat().st_size
    proc = subprocess.Popen(
        import_command(path, "--batch", "500"),
        env=cli_env(database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                done = json.loads(state.read_bytes())["offset"]
            except (FileNotFoundError, ValueError):  # not yet written, or caught mid-replace
                done = 0
            if done >= size // 4:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the import finished before it could be killed: make the file bigger"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)


def test_killed_midway_and_run_again_leaves_exactly_every_event_once(
    database_url: str, sql: SQL, tmp_path: Path
) -> None:
    path, bad = _file(tmp_path)
    _kill_midway(database_url, path)
    partial = sql.fetchval("SELECT count(*) FROM usage_ledger")
    assert 0 < partial < LINES - len(bad), partial

    again = run_import(database_url, path, "--batch", "500")
    assert again.returncode == 0, again.stderr
    assert "resumed at byte" in again.stdout
    counts = summary_counts(again)
    # Batches acknowledged after the last state write are sent again and answered "duplicate".
    assert counts["accepted"] + counts["duplicates"] == LINES - len(bad)
    assert counts["rejected"] == len(bad) and counts["conflicts"] == 0
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == LINES - len(bad)
    keys = {r["idempotency_key"] for r in sql.fetch("SELECT idempotency_key FROM usage_ledger")}
    assert keys == {f"resume-{n}" for n in range(LINES) if n not in bad}
    # each rejected line reported once, in order, though part of the file was read twice
    assert [r["line"] for r in rejected_lines(path)] == sorted(n + 1 for n in bad)
    assert not path.with_name(path.name + ".import-state.json").exists()

    # done: a third run reads the whole file again and stores nothing
    third = run_import(database_url, path)
    everything_again = {"accepted": 0, "duplicates": LINES - len(bad), "conflicts": 0, "rejected": len(bad)}
    assert summary_counts(third) == everything_again
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == LINES - len(bad)


def test_restart_ignores_where_an_earlier_run_stopped(database_url: str, sql: SQL, tmp_path: Path) -> None:
    path, bad = _file(tmp_path)
    _kill_midway(database_url, path)
    again = run_import(database_url, path, "--restart")
    assert again.returncode == 0, again.stderr
    assert "resumed" not in again.stdout
    counts = summary_counts(again)
    assert counts["accepted"] + counts["duplicates"] == LINES - len(bad)
    assert counts["duplicates"] > 0  # what the killed run stored, sent again from line 1
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == LINES - len(bad)
    assert len(rejected_lines(path)) == len(bad)
