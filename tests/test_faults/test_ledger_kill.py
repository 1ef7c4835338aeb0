"""The ledger SIGKILLed and restarted several times under a steady stream from 4 client processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import SQL
from tests.support.processes import LedgerProcess
from tests.test_faults.clients import assert_exactly, expected, start_client

CLIENTS = 4
PER_CLIENT = 3000
RATE = 400.0  # events/s per client: the stream lasts about 7.5 s
KILLS = 3


@pytest.fixture
def ledger_proc(database_url: str, tmp_path: Path) -> Iterator[LedgerProcess]:
    ledger = LedgerProcess(database_url, tmp_path / "ledger.log")
    ledger.start()
    try:
        yield ledger
    finally:
        ledger.stop()


@pytest.mark.slow
def test_ledger_killed_and_restarted_during_a_stream_loses_and_doubles_nothing(
    ledger_proc: LedgerProcess, sql: SQL, tmp_path: Path
) -> None:
    names = [f"c{i}" for i in range(CLIENTS)]
    # Two clients in memory mode, two durable: both paths must survive a ledger that dies under them.
    clients = [
        start_client(name, ledger_proc.url, tmp_path / f"spool-{name}", PER_CLIENT, rate=RATE, durable=i % 2 == 1)
        for i, name in enumerate(names)
    ]
    try:
        for _ in range(KILLS):
            time.sleep(1.2)
            ledger_proc.kill()  # mid-stream: requests in flight, transactions open, answers half-written
            time.sleep(0.5)
            ledger_proc.start()
        results = [client.result() for client in clients]
    finally:
        for client in clients:
            client.proc.kill()
    assert ledger_proc.starts == KILLS + 1
    assert all(r["flushed"] and r["spooled"] == 0 and r["rejected"] == 0 for r in results), results
    # The kills reached the clients: they saw failed deliveries and retried them.
    assert sum(r["retries"] for r in results) > 0, results
    keys, units = expected({name: range(PER_CLIENT) for name in names})
    assert_exactly(sql, keys, units)
    # Every event was answered for exactly once from the clients' side too: stored, or "already had it".
    assert sum(r["sent"] + r["duplicates"] for r in results) == CLIENTS * PER_CLIENT
