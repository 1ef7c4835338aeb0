"""Fixtures: a real PostgreSQL server, a fresh database per test, the real service over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import hypothesis
import pytest
from pydantic import SecretStr

from ledger_service.settings import Settings
from tests.support.postgres import SQL, fresh_database, server_admin_dsn
from tests.support.server import RunningLedger, start_ledger

TEST_INGEST_KEY = "test-ingest-key-0123456789"

# CI (CI=true) explores the same examples on every run and never fails on a slow example under load: a
# property that breaks shows up on a developer's machine (random exploration) and then stays reproducible.
hypothesis.settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


@pytest.fixture(scope="session")
def admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return server_admin_dsn(tmp_path_factory.mktemp("pg"))


@pytest.fixture
def database_url(admin_dsn: str) -> Iterator[str]:
    yield from fresh_database(admin_dsn)


@pytest.fixture
def sql(database_url: str) -> SQL:
    return SQL(database_url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        ingest_keys=[SecretStr(TEST_INGEST_KEY)],
        data_dir=tmp_path / "data",
    )


@pytest.fixture
def ledger(settings: Settings) -> Iterator[RunningLedger]:
    running = start_ledger(settings)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(ledger: RunningLedger) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TEST_INGEST_KEY}"}
    with httpx.Client(base_url=ledger.url, headers=headers, timeout=30) as http:
        yield http
