"""An import killed midway (SIGKILL, a real process) and run again leaves every event exactly once, and every
rejected line in the rejects file exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger_service.ingest.importer import ImportPlan, Progress, run_import
from ledger_service.ingest.service import IngestService
from ledger_service.settings import Settings
from ledger_service.storage.database import open_database
from ledger_service.storage.ledger import LedgerRepository
from tests.support.postgres import SQL
from tests.test_ledger_service.import_support import (
    cli_env,
    events,
    import_command,
    rejected_lines,
    summary_counts,
    write_csv,
    write_jsonl,
)
from tests.test_ledger_service.import_support import run_import as run_import_command

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

    again = run_import_command(database_url, path, "--batch", "500")
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
    third = run_import_command(database_url, path)
    everything_again = {"accepted": 0, "duplicates": LINES - len(bad), "conflicts": 0, "rejected": len(bad)}
    assert summary_counts(third) == everything_again
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == LINES - len(bad)


def test_restart_ignores_where_an_earlier_run_stopped(database_url: str, sql: SQL, tmp_path: Path) -> None:
    path, bad = _file(tmp_path)
    _kill_midway(database_url, path)
    again = run_import_command(database_url, path, "--restart")
    assert again.returncode == 0, again.stderr
    assert "resumed" not in again.stdout
    counts = summary_counts(again)
    assert counts["accepted"] + counts["duplicates"] == LINES - len(bad)
    assert counts["duplicates"] > 0  # what the killed run stored, sent again from line 1
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == LINES - len(bad)
    assert len(rejected_lines(path)) == len(bad)


class _Stop(Exception):
    """Raised from the progress callback: the run stops as a crash would, after a recorded batch."""


def _import_csv(settings: Settings, path: Path, on_progress: Callable[[Progress], None] | None) -> Progress:
    async def run() -> Progress:
        database = await open_database(settings)
        try:
            service = IngestService(LedgerRepository(database.pool, database.variant), settings)
            return await run_import(service, ImportPlan(path, "csv", batch_size=500), on_progress)
        finally:
            await database.close()

    return asyncio.run(run())


def test_a_csv_import_stopped_midway_resumes_numbering_lines_as_before(
    settings: Settings, sql: SQL, tmp_path: Path
) -> None:
    items = events(2500, prefix="csvres")
    items[1800]["units"] = -1  # after the stop: its line number must be counted across the resume
    items[200]["units"] = -1  # before it: reported once, not again by the resumed run
    path = write_csv(tmp_path / "resume.csv", items)

    def stop(progress: Progress) -> None:
        if progress.counts.lines >= 1000:
            raise _Stop

    with pytest.raises(_Stop):
        _import_csv(settings, path, stop)
    assert 0 < sql.fetchval("SELECT count(*) FROM usage_ledger") < 2498

    done = _import_csv(settings, path, None)
    assert done.resumed_from > 0 and done.resumed_lines == 1000
    assert done.counts.lines == 2500 and done.counts.rejected == 2
    assert done.counts.accepted + done.counts.duplicates == 2498
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 2498
    # line 1 is the header: event n is on line n + 2
    assert [r["line"] for r in rejected_lines(path)] == [202, 1802]
