"""Faults between client and ledger (outage, lost answers, throttling, bad key): nothing lost, nothing doubled."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import usage_ledger_client
from tests.conftest import TEST_INGEST_KEY
from tests.support.postgres import SQL
from tests.support.server import RunningLedger, start_ledger
from tests.test_otel.conftest import FAST
from tests.test_otel.proxy import ledger_proxy
from usage_ledger_client import record_usage_event


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def record(count: int, tenant: str = "t_acme", units: int = 1) -> None:
    for n in range(count):
        record_usage_event(tenant, "sendgrid", "email_sent", units, {"n": n})


def test_ledger_down_then_back_on_the_same_port_gets_every_event_once(
    ledger: RunningLedger, sql: SQL, spool_dir: Path
) -> None:
    usage_ledger_client.configure(ledger.url, TEST_INGEST_KEY, spool_dir=spool_dir, **FAST)  # type: ignore[arg-type]
    record(300)
    assert usage_ledger_client.flush(timeout=60)
    port = int(ledger.url.rsplit(":", 1)[1])
    ledger.stop()
    before = usage_ledger_client.metrics()
    record(1200, units=2)
    # The sender must hit the outage and move the events to disk.
    wait_until(
        lambda: usage_ledger_client.metrics().retries > before.retries and usage_ledger_client.metrics().spooled > 0
    )
    assert not usage_ledger_client.flush(timeout=0.3)  # nothing can settle while the ledger is away
    record(500, units=3)
    restarted = start_ledger(ledger.settings, port=port)
    try:
        assert usage_ledger_client.flush(timeout=120)
        assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 2000
        assert sql.fetchval("SELECT sum(units) FROM usage_ledger") == 300 + 1200 * 2 + 500 * 3
        assert sql.fetchval("SELECT count(DISTINCT idempotency_key) FROM usage_ledger") == 2000
        after = usage_ledger_client.metrics()
        assert after.spilled > before.spilled
        assert (after.queued, after.spooled) == (0, 0)
    finally:
        usage_ledger_client.shutdown(timeout=5)
        restarted.stop()


def test_answer_lost_after_commit_does_not_double_count(ledger: RunningLedger, sql: SQL, spool_dir: Path) -> None:
    with ledger_proxy(ledger.url) as proxy:
        proxy.set(mode="cut_after_commit", times=2)
        usage_ledger_client.configure(proxy.url, TEST_INGEST_KEY, spool_dir=spool_dir, batch_size=100, **FAST)  # type: ignore[arg-type]
        before = usage_ledger_client.metrics()
        record(250, units=5)
        assert usage_ledger_client.flush(timeout=60)
        usage_ledger_client.shutdown(timeout=5)
        assert proxy.behaviour.seen[:2] == ["cut_after_commit", "cut_after_commit"]
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 250
    assert sql.fetchval("SELECT sum(units) FROM usage_ledger") == 1250
    after = usage_ledger_client.metrics()
    # Each event is settled by exactly one answer the client read: "stored" or, for a batch whose first
    # answer was lost, "already had it".
    duplicates = after.duplicates - before.duplicates
    assert duplicates > 0
    assert after.sent - before.sent + duplicates == 250
    assert after.retries - before.retries == 2


def test_throttling_and_server_errors_are_retried(ledger: RunningLedger, sql: SQL, spool_dir: Path) -> None:
    with ledger_proxy(ledger.url) as proxy:
        proxy.set(mode="status", status=429, retry_after="0", times=3)
        usage_ledger_client.configure(proxy.url, TEST_INGEST_KEY, spool_dir=spool_dir, **FAST)  # type: ignore[arg-type]
        record(40)
        assert usage_ledger_client.flush(timeout=60)
        proxy.set(mode="status", status=500, times=2)
        record(60)
        assert usage_ledger_client.flush(timeout=60)
        usage_ledger_client.shutdown(timeout=5)
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 100


def test_a_bad_ingest_key_keeps_events_for_a_process_with_the_right_key(
    ledger: RunningLedger, sql: SQL, spool_dir: Path
) -> None:
    usage_ledger_client.configure(ledger.url, "wrong-key", spool_dir=spool_dir, **FAST)  # type: ignore[arg-type]
    before = usage_ledger_client.metrics()
    record(30)
    wait_until(lambda: usage_ledger_client.metrics().spooled == 30)
    assert not usage_ledger_client.shutdown(timeout=0.2)
    assert (
        usage_ledger_client.metrics().rejected == before.rejected
    )  # a 401 is not the events' fault: they are not refused
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 0
    usage_ledger_client.configure(ledger.url, TEST_INGEST_KEY, spool_dir=spool_dir, **FAST)  # type: ignore[arg-type]
    assert usage_ledger_client.flush(timeout=60)
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 30


def test_payload_too_large_is_split_until_it_fits(settings: object, sql: SQL, spool_dir: Path) -> None:
    from ledger_service.settings import Settings

    assert isinstance(settings, Settings)
    small = start_ledger(settings.model_copy(update={"max_batch_events": 7}))
    try:
        usage_ledger_client.configure(small.url, TEST_INGEST_KEY, spool_dir=spool_dir, batch_size=100, **FAST)  # type: ignore[arg-type]
        before = usage_ledger_client.metrics()
        record(100, units=2)
        assert usage_ledger_client.flush(timeout=60)
        assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 100
        assert sql.fetchval("SELECT sum(units) FROM usage_ledger") == 200
        assert usage_ledger_client.metrics().rejected == before.rejected
    finally:
        usage_ledger_client.shutdown(timeout=5)
        small.stop()
