"""One seeded ledger for the package (every test here only reads), and helpers to sign in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from ledger_service.settings import Settings
from ledger_service.tokens import mint_read_token
from tests.support.postgres import fresh_database
from tests.support.server import RunningLedger, start_ledger
from tests.test_web import seed
from tests.test_web.browser import launched

if TYPE_CHECKING:
    from playwright.sync_api import Browser

INGEST_KEY = "web-test-ingest-key"


@dataclass(frozen=True)
class Site:
    ledger: RunningLedger
    data: seed.Seeded

    @property
    def url(self) -> str:
        return self.ledger.url

    def token(self, tenant: str, ttl: timedelta = timedelta(minutes=30)) -> str:
        return mint_read_token(self.ledger.settings.secret_key.get_secret_value(), tenant, ttl)

    def link(self, tenant: str, query: str = "") -> str:
        return f"{self.url}/settings/billing/usage?token={self.token(tenant)}{query}"


@pytest.fixture(scope="package")
def site(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for database_url in fresh_database(admin_dsn):  # one database, dropped when the loop resumes
        settings = Settings(
            database_url=database_url,
            ingest_keys=[SecretStr(INGEST_KEY)],
            data_dir=tmp_path_factory.mktemp("web-data"),
            trace_url_template=seed.TRACE_TEMPLATE,
        )
        ledger = start_ledger(settings)
        try:
            data = seed.build(seed.utc_now())
            seed.ingest(ledger.url, INGEST_KEY, data.events)
            yield Site(ledger, data)
        finally:
            ledger.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="package")
def browser(site: Site) -> Iterator[Browser]:
    """One headless Chromium for the package's browser tests (each test opens its own context).

    After `site`: Playwright's sync API keeps an event loop running on this thread, and the site's set-up and
    tear-down (asyncio.run) need it free.
    """
    with launched() as chromium:
        yield chromium
