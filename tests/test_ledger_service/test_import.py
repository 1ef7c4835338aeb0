"""`usage-ledger import FILE`, run as a real process against a real database (both storage variants):
JSON Lines and CSV land exactly, bad lines are written with their reasons, a second run stores nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.postgres import SQL
from tests.test_ledger_service.import_support import (
    events,
    expected,
    rejected_lines,
    run_import,
    stored,
    summary_counts,
    write_csv,
    write_jsonl,
)


def test_a_json_lines_file_lands_exactly_and_a_second_run_stores_nothing(
    database_url: str, sql: SQL, tmp_path: Path
) -> None:
    items = events(3000)
    path = write_jsonl(tmp_path / "usage.jsonl", items)

    first = run_import(database_url, path, "--batch", "700")
    assert first.returncode == 0, first.stderr
    assert summary_counts(first) == {"accepted": 3000, "duplicates": 0, "conflicts": 0, "rejected": 0}
    assert stored(sql) == expected(items)
    assert not rejected_lines(path)
    assert sql.fetchval("SELECT count(*) FROM usage_ledger WHERE backfilled") == 0
    # the progress bar (rich) went to stderr with its rate and ETA columns
    assert "events/s" in first.stderr and "ETA" in first.stderr

    again = run_import(database_url, path)
    assert again.returncode == 0, again.stderr
    assert summary_counts(again) == {"accepted": 0, "duplicates": 3000, "conflicts": 0, "rejected": 0}
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 3000


def test_a_csv_file_with_the_api_field_names_lands_exactly(database_url: str, sql: SQL, tmp_path: Path) -> None:
    items = events(1500, prefix="csv")
    path = write_csv(tmp_path / "usage.csv", items)

    done = run_import(database_url, path, "--batch", "400")
    assert done.returncode == 0, done.stderr
    assert summary_counts(done) == {"accepted": 1500, "duplicates": 0, "conflicts": 0, "rejected": 0}
    assert stored(sql) == expected(items)


def test_a_csv_file_with_a_byte_order_mark_and_crlf_line_ends_imports(
    database_url: str, sql: SQL, tmp_path: Path
) -> None:
    items = events(20, prefix="bom")
    path = write_csv(tmp_path / "excel.csv", items)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))

    done = run_import(database_url, path)
    assert done.returncode == 0, done.stderr
    assert stored(sql) == expected(items)


def test_a_json_lines_file_with_a_byte_order_mark_and_crlf_line_ends_imports(
    database_url: str, sql: SQL, tmp_path: Path
) -> None:
    items = events(20, prefix="bomj")
    path = write_jsonl(tmp_path / "editor.jsonl", items)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))

    done = run_import(database_url, path)
    assert done.returncode == 0, done.stderr
    assert stored(sql) == expected(items)


def _bad_jsonl(tmp_path: Path, good: dict[str, object], old: str) -> Path:
    lines = [
        json.dumps(good),  # 1
        "",  # 2: blank lines are skipped, but counted
        "{not json",  # 3
        json.dumps({**good, "idempotencyKey": "k-4", "units": -1}),  # 4
        json.dumps({**good, "idempotencyKey": "k-5", "occuredAt": old}),  # 5: a typo is never ignored
        json.dumps({**good, "idempotencyKey": "k-6", "eventType": "fax"}),  # 6
        json.dumps({**good, "idempotencyKey": "k-7", "occurredAt": old}),  # 7: older than the late window
        json.dumps({k: v for k, v in good.items() if k != "idempotencyKey"}),  # 8
        json.dumps({**good, "units": 5}),  # 9: line 1's key, other units
        json.dumps({**good, "idempotencyKey": "k-10", "metadata": [1]}),  # 10
        json.dumps({**good, "idempotencyKey": "k-11"}),  # 11: fine
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes("\n".join(lines).encode() + b"\n" + b'{"tenantId": "\xff"}\n')  # 12: not UTF-8
    return path


def test_rejected_lines_are_written_next_to_the_input_with_line_field_and_reason(
    database_url: str, sql: SQL, tmp_path: Path
) -> None:
    good = events(1, prefix="k")[0]
    old = (datetime.now(UTC) - timedelta(days=200)).isoformat()
    path = _bad_jsonl(tmp_path, good, old)

    done = run_import(database_url, path)
    assert done.returncode == 0, done.stderr
    assert summary_counts(done) == {"accepted": 2, "duplicates": 0, "conflicts": 1, "rejected": 8}
    rejects = rejected_lines(path)
    assert [(r["line"], r["outcome"], r["field"]) for r in rejects] == [
        (3, "rejected", "event"),
        (4, "rejected", "units"),
        (5, "rejected", "occuredAt"),
        (6, "rejected", "eventType"),
        (7, "rejected", "occurredAt"),
        (8, "rejected", "idempotencyKey"),
        (9, "conflict", "units"),
        (10, "rejected", "metadata"),
        (12, "rejected", "event"),
    ]
    by_line = {r["line"]: r for r in rejects}
    assert "not valid JSON" in by_line[3]["message"]
    assert by_line[4]["message"] == "Expected `int` >= 0"
    assert by_line[5]["message"] == "Object contains unknown field `occuredAt`"
    assert "fax" in by_line[6]["message"]
    assert "--backfill" in by_line[7]["message"]
    assert "is required" in by_line[8]["message"]
    assert "(units: 5, but the stored event has 1)" in by_line[9]["message"]
    assert by_line[12]["message"] == "not valid JSON: Invalid UTF-8 encoded string"
    assert by_line[10]["message"] == "must be a JSON object"
    assert json.loads(by_line[4]["input"])["units"] == -1  # the line itself, to fix and import again
    # the summary names the file and shows the first reasons
    assert str(path) + ".rejected.jsonl" in done.stdout
    assert "line 3: rejected: event: not valid JSON" in done.stdout
    assert {k for _, k in stored(sql)} == {"k-0", "k-11"}


def test_a_csv_record_with_the_wrong_number_of_cells_is_rejected_by_line(
    database_url: str, sql: SQL, tmp_path: Path
) -> None:
    path = tmp_path / "cells.csv"
    path.write_text(
        "tenantId,source,eventType,units,idempotencyKey\n"
        "t1,twilio,sms_outbound,1,c-1\n"
        "t1,twilio,sms_outbound,1\n"
        't1,sendgrid,email_sent,"2",c-3\n'
        "t1,sendgrid,email_sent,two,c-4\n"
    )
    done = run_import(database_url, path)
    assert done.returncode == 0, done.stderr
    assert [(r["line"], r["field"]) for r in rejected_lines(path)] == [(3, "event"), (5, "units")]
    assert "has 4 fields; the header names 5" in rejected_lines(path)[0]["message"]
    rows = sql.fetch("SELECT idempotency_key, units FROM usage_ledger ORDER BY 1")
    assert [tuple(r) for r in rows] == [("c-1", 1), ("c-3", 2)]


def test_a_file_that_cannot_be_imported_is_refused_clearly_without_a_traceback(
    database_url: str, tmp_path: Path
) -> None:
    header = tmp_path / "typo.csv"
    header.write_text("tenantId,source,eventType,units,idempotencyKey,occuredAt\nt1,twilio,sms_outbound,1,a,\n")
    missing = tmp_path / "missing.csv"
    missing.write_text("tenantId,source,units\nt1,twilio,1\n")
    cases = [
        (header, (), "line 1 (the CSV header): 'occuredAt' is not an event field"),
        (missing, (), "no column 'eventType'"),
        (tmp_path / "absent.jsonl", (), "absent.jsonl is not a file"),
        (header, ("--batch", "0"), "--batch must be between 1 and"),
        (header, ("--admin-key", "x"), "--admin-key is needed only with --backfill"),
    ]
    for path, args, message in cases:
        done = run_import(database_url, path, *args)
        assert done.returncode == 2, (path, args, done.stdout, done.stderr)
        assert message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_a_database_that_is_not_there_is_said_clearly_without_a_traceback(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "usage.jsonl", events(3))
    done = run_import("postgresql://postgres@127.0.0.1:1/nowhere", path)
    assert done.returncode == 2
    assert "usage-ledger import: the database is unavailable: " in done.stderr
    assert "Traceback" not in done.stderr


def test_a_line_holding_two_events_is_rejected_not_split(database_url: str, sql: SQL, tmp_path: Path) -> None:
    """Lines are decoded a batch at a time as one JSON array: two values on one line must not pass as two."""
    first, second, third = events(3, prefix="two")
    path = tmp_path / "two.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + ", " + json.dumps(third) + "\n")
    done = run_import(database_url, path)
    assert done.returncode == 0, done.stderr
    assert summary_counts(done) == {"accepted": 1, "duplicates": 0, "conflicts": 0, "rejected": 1}
    [reject] = rejected_lines(path)
    assert (reject["line"], reject["field"]) == (2, "event")
    assert reject["message"].startswith("not valid JSON")
    assert {k for _, k in stored(sql)} == {"two-0"}
