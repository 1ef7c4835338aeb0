"""Fixtures: a real PostgreSQL server, a fresh database per test, the real service over HTTP.

A run tests one storage variant (`--storage`, default postgres); `make test` runs the suite twice:
everything on plain PostgreSQL, then every test that uses a database again on TimescaleDB. The variant is
pinned for every ledger the run starts (LEDGER_STORAGE), so no test depends on what `auto` would pick.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import hypothesis
import pytest
from pydantic import SecretStr

from ledger_service.settings import Settings
from ledger_service.storage.migrations import VARIANTS
from tests.support import clusters
from tests.support.postgres import SQL, fresh_database
from tests.support.server import RunningLedger, start_ledger

TEST_INGEST_KEY = "test-ingest-key-0123456789"
TEST_ADMIN_KEY = "test-admin-key-9876543210"

# CI (CI=true) explores the same examples on every run and never fails on a slow example under load: a
# property that breaks shows up on a developer's machine (random exploration) and then stays reproducible.
hypothesis.settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


_SERVER = pytest.StashKey[clusters.TestServer]()
_UNAVAILABLE = pytest.StashKey[str]()
_ONCE = pytest.StashKey[int]()
# CI sets this: a TimescaleDB pass without TimescaleDB is then an error, not a skip.
REQUIRE_TIMESCALEDB = "LEDGER_TEST_REQUIRE_TIMESCALEDB"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--storage",
        choices=VARIANTS,
        default="postgres",
        help="storage variant to test (make test runs both); timescaledb runs only the tests that use a database",
    )


def pytest_configure(config: pytest.Config) -> None:
    os.environ["LEDGER_STORAGE"] = config.getoption("storage")
    config.addinivalue_line("markers", "storage(variant): about one storage variant; runs in that variant's pass only")


def pytest_report_header(config: pytest.Config) -> str:
    return f"storage variant under test: {config.getoption('storage')} (LEDGER_STORAGE)"


def uses_database(item: pytest.Item) -> bool:
    return "admin_dsn" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    storage = config.getoption("storage")
    for item in items:
        marker = item.get_closest_marker("storage")
        if marker is not None and marker.args[0] != storage:
            item.add_marker(pytest.mark.skip(reason=f"about the {marker.args[0]} storage variant: runs in its pass"))
    if storage != "timescaledb":
        return
    # Storage-independent tests ran in the postgres pass; this pass runs the ones that use a database.
    kept = [item for item in items if uses_database(item)]
    config.stash[_ONCE] = len(items) - len(kept)
    if kept:
        try:
            config.stash[_SERVER] = clusters.timescaledb_server()
        except clusters.Unavailable as exc:
            if os.environ.get(REQUIRE_TIMESCALEDB):
                raise pytest.UsageError(f"{REQUIRE_TIMESCALEDB} is set but TimescaleDB is unavailable: {exc}") from None
            config.stash[_UNAVAILABLE] = f"skipped all {len(kept)} tests of this pass: {exc}"
            kept = []
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if config.getoption("storage") != "timescaledb":
        return
    once = config.stash.get(_ONCE, 0)
    terminalreporter.write_line(f"TimescaleDB pass: {once} tests that use no database ran in the postgres pass only")
    if _UNAVAILABLE in config.stash:
        terminalreporter.write_line(f"TimescaleDB pass: {config.stash[_UNAVAILABLE]}", yellow=True, bold=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Nothing left to run in this pass is not a failure (pytest would exit 5, "no tests collected").
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and session.config.getoption("storage") == "timescaledb":
        session.exitstatus = pytest.ExitCode.OK


@pytest.fixture(scope="session")
def storage(pytestconfig: pytest.Config) -> str:
    """The storage variant this run tests (every ledger it starts uses it)."""
    variant: str = pytestconfig.getoption("storage")
    return variant


@pytest.fixture(scope="session")
def admin_dsn(pytestconfig: pytest.Config, storage: str) -> Iterator[str]:
    server = pytestconfig.stash.get(_SERVER, None) or clusters.postgres_server()
    clusters.current = server
    yield server.admin_dsn
    server.stop()


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
        admin_keys=[SecretStr(TEST_ADMIN_KEY)],
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
