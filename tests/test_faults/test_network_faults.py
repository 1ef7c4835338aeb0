"""Drops, resets mid-response, stalls and delays between the client library and the ledger: none lost, none doubled."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import usage_ledger_client
from tests.conftest import TEST_INGEST_KEY
from tests.support.postgres import SQL
from tests.support.processes import FAST
from tests.support.server import RunningLedger
from tests.test_faults.clients import assert_exactly, units_of
from tests.test_faults.tcp_proxy import FAULTS, faulty_proxy
from usage_ledger_client import record_usage_event

EVENTS = 3000
RATES = {"drop": 0.08, "cut": 0.12, "stall": 0.04, "delay": 0.15}


@pytest.mark.slow
def test_network_faults_lose_and_double_nothing(ledger: RunningLedger, sql: SQL, tmp_path: Path) -> None:
    with faulty_proxy(ledger.url, seed=8, rates=RATES) as proxy:
        # A short HTTP timeout so a stalled answer turns into a retry quickly.
        # A provider of its own: the process-wide one belongs to tests/test_otel's span capture.
        options = {**FAST, "http_timeout": 1.0, "batch_size": 100, "tracer_provider": TracerProvider()}
        usage_ledger_client.configure(proxy.url, TEST_INGEST_KEY, spool_dir=tmp_path / "spool", **options)  # type: ignore[arg-type]
        try:
            for n in range(EVENTS):
                record_usage_event("t_net", "openai", "ai_message", units_of(n), idempotency_key=f"net-{n}")
                if n % 100 == 99:
                    time.sleep(0.02)  # a steady stream, not one burst: many requests cross the faults
            # Keep the faults coming until each kind has hit at least twice (bounded), then let it through.
            extra: set[str] = set()
            deadline = time.monotonic() + 30
            while min(proxy.counts[f] for f in FAULTS) < 2 and time.monotonic() < deadline:
                extra.add(f"net-extra-{len(extra)}")
                record_usage_event("t_net", "openai", "ai_message", 1, idempotency_key=f"net-extra-{len(extra) - 1}")
                time.sleep(0.05)
            proxy.calm()
            assert usage_ledger_client.flush(timeout=120)
            metrics = usage_ledger_client.metrics()
        finally:
            usage_ledger_client.shutdown(timeout=10)
    assert all(proxy.counts[f] >= 2 for f in FAULTS), proxy.counts
    assert metrics.retries > 0 and metrics.rejected == 0
    keys = {f"net-{n}" for n in range(EVENTS)} | extra
    assert_exactly(sql, keys, sum(units_of(n) for n in range(EVENTS)) + len(extra))
    assert metrics.sent + metrics.duplicates == len(keys)
