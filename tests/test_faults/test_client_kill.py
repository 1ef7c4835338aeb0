"""A durable-mode client SIGKILLed again and again, sometimes while sending, sometimes while the ledger is away.

tests/test_otel/test_processes.py proves one kill with the ledger down; here the same spool goes through
several kill/restart rounds, each new process replaying what the previous ones left while it records new
events, so a kill can land between a batch being committed and being removed from the spool.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from tests.test_faults.clients import start_client, units_of
from tests.test_otel.proxy import ledger_proxy

ROUNDS = 5
PER_ROUND = 100_000  # more than a round can record before it is killed


@pytest.mark.slow
def test_durable_client_killed_in_several_rounds_loses_nothing(ledger: RunningLedger, sql: SQL, tmp_path: Path) -> None:
    rng = random.Random(8)
    spool = tmp_path / "spool"
    acknowledged: set[str] = set()
    attempted: set[str] = set()
    with ledger_proxy(ledger.url) as proxy:
        for round_no in range(ROUNDS):
            # Rounds 1 and 4 run with the ledger unreachable: their events only reach the spool, and the
            # next process must deliver them while it records its own.
            proxy.set(mode="status", status=503) if round_no in (1, ROUNDS - 1) else proxy.set(mode="forward")
            first = round_no * PER_ROUND
            client = start_client("k", proxy.url, spool, PER_ROUND, first=first, rate=2000.0, durable=True)
            assert client.proc.stdout is not None
            receipts = rng.randint(200, 1500)
            last = first - 1
            for _ in range(receipts):
                line = client.proc.stdout.readline()
                assert line.startswith("recorded "), f"round {round_no}: {line!r} {client.proc.stderr}"
                last = int(line.split()[1])
                acknowledged.add(f"k-{last}")
            client.proc.send_signal(signal.SIGKILL)
            client.proc.wait(timeout=30)
            # Receipts the child printed before it died but we had not read yet count as acknowledged too.
            for line in client.proc.stdout.read().splitlines():
                if line.startswith("recorded "):
                    last = int(line.split()[1])
                    acknowledged.add(f"k-{last}")
            client.proc.stdout.close()
            assert client.proc.stderr is not None
            client.proc.stderr.close()
            # The event after the last receipt may have been written just before the kill.
            attempted.update(f"k-{n}" for n in range(first, last + 2))
        proxy.set(mode="forward")
        final = start_client("k", proxy.url, spool, 0).result()  # a restart that only replays the spool
    assert final["flushed"] and final["spooled"] == 0, final
    rows = sql.fetch("SELECT idempotency_key, units FROM usage_ledger")
    stored = [r["idempotency_key"] for r in rows]
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert acknowledged <= set(stored), f"{len(acknowledged - set(stored))} acknowledged events lost"
    assert set(stored) <= attempted
    assert sum(r["units"] for r in rows) == sum(units_of(int(k.split("-")[1])) for k in stored)
    # The last round died with the ledger away: only the restarted process could deliver its events.
    assert final["sent"] > 0
