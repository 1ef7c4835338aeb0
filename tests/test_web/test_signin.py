"""Signing in with a token link, and what the 401 page says: a broken link never ends a session that still
holds, and no page says a link "is no longer valid" when none was given or points to settings that may not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from ledger_service.tokens import mint_read_token
from tests.test_web import seed
from tests.test_web.browser import event_rows, new_context, sign_in
from tests.test_web.conftest import Site
from tests.test_web.html import find, rows

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PAGE = "/settings/billing/usage"


def expired(site: Site) -> str:
    secret = site.ledger.settings.secret_key.get_secret_value()
    return mint_read_token(secret, seed.ACME, timedelta(minutes=5), now=datetime.now(UTC) - timedelta(hours=1))


def forged(tenant: str = seed.ACME) -> str:
    return mint_read_token("not-the-service-secret-" + "x" * 32, tenant, timedelta(minutes=10))


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = new_context(browser)
    try:
        yield context.new_page()
    finally:
        context.close()


def heading(html: str) -> str:
    return html.split('<h1 id="error-heading">', 1)[1].split("</h1>", 1)[0]


@pytest.mark.parametrize("bad", ["expired", "forged", "garbled"])
def test_a_bad_link_keeps_a_session_that_still_holds(site: Site, bad: str) -> None:
    token = {"expired": expired(site), "forged": forged(seed.OTHER), "garbled": "not-a-token"}[bad]
    with httpx.Client(base_url=site.url, timeout=30, cookies={"usage_read_token": site.token(seed.ACME)}) as http:
        answer = http.get(PAGE, params={"token": token, "source": "openai"})
        assert answer.status_code == 401
        assert "set-cookie" not in answer.headers  # nothing stored, nothing cleared
        assert "You are still signed in as <strong data-tenant>t_acme</strong>" in answer.text
        assert find(answer.text, "a", href=f"{PAGE}?source=openai")  # "Continue to your usage", same filters
        assert heading(answer.text) == (
            "This usage link has expired" if bad == "expired" else "This usage link does not work"
        )
        after = http.get(PAGE)
    assert after.status_code == 200 and len(rows(after.text)) == 25


def test_a_bad_link_in_the_browser_leaves_the_user_signed_in(page: Page, site: Site) -> None:
    sign_in(page, site.link(seed.ACME), site.url)
    response = page.goto(f"{site.url}{PAGE}?token={expired(site)}")
    assert response is not None and response.status == 401
    assert page.get_by_role("heading", level=1).inner_text() == "This usage link has expired"
    page.get_by_role("link", name="Continue to your usage").click()
    page.wait_for_load_state("load")
    assert page.locator("[data-tenant]").inner_text() == seed.ACME and len(event_rows(page)) == 25


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("nothing", "Sign in to see your usage"),
        ("expired link", "This usage link has expired"),
        ("forged link", "This usage link does not work"),
        ("expired cookie", "Your session has ended"),
        ("forged cookie", "Please sign in again"),
    ],
)
def test_the_401_page_says_what_happened_and_what_to_do(site: Site, how: str, says: str) -> None:
    token = expired(site) if how.startswith("expired") else forged()
    params = {"token": token} if how.endswith("link") else {}
    cookies = {"usage_read_token": token} if how.endswith("cookie") else {}
    answer = httpx.get(f"{site.url}{PAGE}", params=params, cookies=cookies, timeout=30)
    assert answer.status_code == 401 and answer.headers["content-type"].startswith("text/html")
    assert heading(answer.text) == says
    text = answer.text.lower()
    assert "no longer valid" not in text and "settings" not in text.replace("settings/billing/usage", "")
    assert "go back to the app where you manage your account" in text
    assert not rows(answer.text) and "Traceback" not in answer.text
    # A cookie that no longer works is cleared; without one, nothing is set.
    assert ("set-cookie" in answer.headers) == bool(cookies)
