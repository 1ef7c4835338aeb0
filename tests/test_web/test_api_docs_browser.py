"""The API docs page (Swagger UI at /schema/swagger) in headless Chromium, with no internet: every request
the page makes is answered by the ledger itself, and the UI renders the operations of the served schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests.test_web.browser import TIMEOUT_MS, launched
from tests.test_web.conftest import Site

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request, Response

# Not network requests: nothing leaves the machine for these.
_IN_PAGE_SCHEMES = ("data", "blob", "about")


@pytest.fixture
def docs_page() -> Iterator[Page]:
    with launched() as chromium:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()


def test_the_docs_page_loads_offline_from_the_ledger_alone(docs_page: Page, site: Site, artifacts: Path) -> None:
    requests: list[Request] = []
    failed: list[str] = []
    answered: dict[str, int] = {}
    docs_page.on("request", lambda r: requests.append(r))
    docs_page.on("requestfailed", lambda r: failed.append(r.url))

    def record(response: Response) -> None:
        answered[response.url] = response.status

    docs_page.on("response", record)
    docs_page.goto(f"{site.url}/schema/swagger", wait_until="networkidle")

    # The UI rendered every operation of the served schema (it was built from the embedded spec).
    schema = httpx.get(f"{site.url}/schema/openapi.json").json()
    operations = [(m, p) for p, item in schema["paths"].items() for m in item]
    docs_page.wait_for_selector(".opblock")
    assert docs_page.locator(".opblock").count() == len(operations)
    for path in ("/api/billing/usage/summary", "/api/billing/usage/events.csv", "/api/usage/events"):
        assert docs_page.locator(f".opblock-summary-path[data-path='{path}']").count() == 1, path
    assert docs_page.locator("button.authorize").count() == 1  # the bearer schemes are there to fill in
    docs_page.screenshot(path=str(artifacts / "api-docs.png"))

    # Every request went to the ledger, and the ledger answered each one.
    origin = urlsplit(site.url)
    network = [r.url for r in requests if urlsplit(r.url).scheme not in _IN_PAGE_SCHEMES]
    assert network, "the page made no request at all"
    elsewhere = [
        url for url in network if (urlsplit(url).scheme, urlsplit(url).netloc) != (origin.scheme, origin.netloc)
    ]
    assert not elsewhere, elsewhere
    assert not failed, failed
    assert all(answered.get(url) == 200 for url in network), {url: answered.get(url) for url in network}
    assert any(url.endswith("/swagger-ui-bundle.js") for url in network), network
