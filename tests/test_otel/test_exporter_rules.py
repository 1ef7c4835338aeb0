"""What the exporter does with each kind of answer, and the retry delays it waits."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

import usage_ledger_client
from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from usage_ledger_client import record_usage_event
from usage_ledger_client.backoff import Backoff, parse_retry_after
from usage_ledger_client.spool import Spool


def test_events_the_ledger_refuses_are_counted_logged_and_kept_not_retried(
    configured: RunningLedger, sql: SQL, spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = usage_ledger_client.metrics()
    too_old = datetime.now(UTC) - timedelta(days=60)  # valid for the client, outside the ledger's late window
    with caplog.at_level(logging.ERROR, logger="usage_ledger_client.exporter"):
        record_usage_event("t_1", "twilio", "sms_outbound", 1, occurred_at=too_old, idempotency_key="old-one")
        record_usage_event("t_1", "twilio", "sms_outbound", 4)
        assert usage_ledger_client.flush(timeout=60)
    after = usage_ledger_client.metrics()
    assert (after.rejected - before.rejected, after.sent - before.sent, after.retries - before.retries) == (1, 1, 0)
    assert sql.fetchval("SELECT units FROM usage_ledger") == 4
    assert any("occurredAt" in r.getMessage() and "old-one" in r.getMessage() for r in caplog.records)
    usage_ledger_client.shutdown(timeout=5)
    # The process's spool outlives it while it holds refused events (for inspection, or for a later adopter).
    (path,) = spool_dir.glob("spool-*.sqlite3")
    spool = Spool(path)
    try:
        ((event, reason),) = spool.rejected_events()
    finally:
        spool.close()
    assert json.loads(event)["idempotencyKey"] == "old-one"
    assert reason.startswith("occurredAt: ")


def test_backoff_grows_to_its_cap_with_jitter_and_honours_retry_after() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, max_retry_after=60.0)
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays
    assert 30.0 <= backoff.next_delay(retry_after=30.0) <= 30.0
    assert backoff.next_delay(retry_after=3600.0) == 60.0  # capped: a silly header cannot stall delivery
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    later = parse_retry_after(format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True))
    assert later is not None and 100 < later <= 120
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_a_conflict_is_logged_once_with_its_key_counted_and_not_retried(
    configured: RunningLedger, sql: SQL, caplog: pytest.LogCaptureFixture
) -> None:
    at = datetime.now(UTC) - timedelta(hours=1)
    with caplog.at_level(logging.WARNING, logger="usage_ledger_client.exporter"):
        record_usage_event("t_1", "twilio", "sms_outbound", 2, occurred_at=at, idempotency_key="SM9:sms_outbound")
        assert usage_ledger_client.flush(timeout=60)
        before = usage_ledger_client.metrics()
        # A client bug: the same key with another count.
        record_usage_event("t_1", "twilio", "sms_outbound", 5, occurred_at=at, idempotency_key="SM9:sms_outbound")
        record_usage_event("t_1", "twilio", "sms_outbound", 1)
        assert usage_ledger_client.flush(timeout=60)
        after = usage_ledger_client.metrics()
    assert (after.conflicts - before.conflicts, after.sent - before.sent) == (1, 1)
    assert (after.retries - before.retries, after.rejected - before.rejected) == (0, 0)
    said = [r.getMessage() for r in caplog.records if "SM9:sms_outbound" in r.getMessage()]
    assert len(said) == 1 and "units: 5, but the stored event has 2" in said[0], said
    assert sorted(r["units"] for r in sql.fetch("SELECT units FROM usage_ledger")) == [1, 2]
