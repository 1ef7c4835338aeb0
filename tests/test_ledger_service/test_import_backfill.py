"""Events older than the late window: refused by `usage-ledger import` unless `--backfill` with an admin key
(one of LEDGER_ADMIN_KEYS); backfilled rows are marked as such."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.conftest import TEST_ADMIN_KEY
from tests.support.postgres import SQL
from tests.test_ledger_service.import_support import (
    events,
    expected,
    rejected_lines,
    run_import,
    stored,
    summary_counts,
    write_jsonl,
)


def test_old_events_are_refused_without_backfill_and_the_admin_key(database_url: str, sql: SQL, tmp_path: Path) -> None:
    items = events(40, prefix="old", age=timedelta(days=200))
    path = write_jsonl(tmp_path / "history.jsonl", items)

    plain = run_import(database_url, path)
    assert plain.returncode == 0, plain.stderr
    assert summary_counts(plain) == {"accepted": 0, "duplicates": 0, "conflicts": 0, "rejected": 40}
    assert {r["field"] for r in rejected_lines(path)} == {"occurredAt"}
    assert "usage-ledger import --backfill" in rejected_lines(path)[0]["message"]

    no_key = run_import(database_url, path, "--backfill")
    assert no_key.returncode == 2
    assert "this needs an admin key: --admin-key, or $LEDGER_ADMIN_KEY" in no_key.stderr
    wrong = run_import(database_url, path, "--backfill", "--admin-key", "not-an-admin-key-at-all-0123")
    assert wrong.returncode == 2
    assert "the admin key is not one of LEDGER_ADMIN_KEYS" in wrong.stderr
    # the ingest key is not an admin key
    ingest = run_import(database_url, path, "--backfill", LEDGER_ADMIN_KEY="test-ingest-key-0123456789")
    assert ingest.returncode == 2
    assert "Traceback" not in no_key.stderr + wrong.stderr + ingest.stderr
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 0


def test_backfill_with_the_admin_key_stores_old_events_marked_backfilled(
    database_url: str, sql: SQL, tmp_path: Path
) -> None:
    old = events(300, prefix="old", age=timedelta(days=200))
    path = write_jsonl(tmp_path / "history.jsonl", old)

    done = run_import(database_url, path, "--backfill", "--batch", "100", LEDGER_ADMIN_KEY=TEST_ADMIN_KEY)
    assert done.returncode == 0, done.stderr
    assert summary_counts(done) == {"accepted": 300, "duplicates": 0, "conflicts": 0, "rejected": 0}
    assert stored(sql) == expected(old)
    assert sql.fetchval("SELECT count(*) FROM usage_ledger WHERE backfilled") == 300

    # the key passed as an option works alike; a second backfill stores nothing
    again = run_import(database_url, path, "--backfill", "--admin-key", TEST_ADMIN_KEY)
    assert summary_counts(again) == {"accepted": 0, "duplicates": 300, "conflicts": 0, "rejected": 0}

    # a recent file imported without --backfill is not marked
    recent = write_jsonl(tmp_path / "recent.jsonl", events(50, prefix="new"))
    assert run_import(database_url, recent).returncode == 0
    marked = sql.fetch("SELECT backfilled, count(*) FROM usage_ledger GROUP BY 1 ORDER BY 1")
    assert [tuple(r) for r in marked] == [(False, 50), (True, 300)]
