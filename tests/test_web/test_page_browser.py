"""The usage page in a real headless Chromium (Debian's), against the running service with seeded data."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ledger_service.tokens import mint_read_token
from tests.test_web import seed
from tests.test_web.browser import TIMEOUT_MS, clean_url, launched
from tests.test_web.conftest import Site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as chromium:
        yield chromium


def new_context(browser: Browser, *, javascript: bool = True) -> BrowserContext:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=javascript, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = new_context(browser)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page_without_js(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, javascript=False)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, site: Site, tenant: str, query: str = "") -> None:
    page.goto(site.link(tenant, query))
    page.wait_for_url(clean_url(site.url))
    page.wait_for_load_state("load")


def chart_totals(page: Page) -> dict[tuple[str, str], int]:
    charts = page.locator("figure.chart")
    return {
        (c.get_attribute("data-source") or "", c.get_attribute("data-event-type") or ""): int(
            c.get_attribute("data-total-units") or "-1"
        )
        for c in charts.all()
    }


def table_rows(page: Page) -> list[dict[str, str]]:
    return [
        {
            "id": r.get_attribute("data-id") or "",
            "type": r.get_attribute("data-event-type") or "",
            "units": r.locator("td.num").inner_text(),
        }
        for r in page.locator("table.events tbody tr[data-id]").all()
    ]


def test_page_loads_and_the_graph_shows_the_seeded_totals(page: Page, site: Site, artifacts: Path) -> None:
    sign_in(page, site, seed.ACME)
    assert "token=" not in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == "usage_read_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    expected = site.data.totals(seed.ACME)
    assert chart_totals(page) == expected
    for chart in page.locator("figure.chart").all():
        days = chart.locator("g.day")
        assert days.count() == 30  # every day of the window, zero days included
        bars = [int(d.get_attribute("data-units") or "-1") for d in days.all()]
        assert sum(bars) == int(chart.get_attribute("data-total-units") or "-1")
    sms = page.locator('figure.chart[data-event-type="call_minutes"]')
    assert sms.locator('g.day[data-units="0"]').count() > 0  # 10 events over 30 days: some days are zero
    totals = page.locator("table.totals tbody tr")
    assert {
        (r.get_attribute("data-source"), r.get_attribute("data-event-type")): int(r.get_attribute("data-units") or "")
        for r in totals.all()
    } == expected
    assert len(table_rows(page)) == 25
    page.screenshot(path=str(artifacts / "usage-page.png"), full_page=True)


def test_hovering_a_day_shows_its_exact_value_and_date(page: Page, site: Site) -> None:
    sign_in(page, site, seed.ACME)
    chart = page.locator('figure.chart[data-event-type="ai_message"]')
    day = chart.locator("g.day:not([data-units='0'])").first
    units, date = int(day.get_attribute("data-units") or ""), day.get_attribute("data-date") or ""
    tip = day.locator("text.tip")
    assert not tip.is_visible()
    day.locator("rect.hit").hover()
    assert tip.is_visible()
    when = datetime.fromisoformat(date)
    assert tip.text_content() == f"{when:%d %b}: {units:,} tokens"
    title = day.locator("title").text_content() or ""
    assert title.startswith(f"{when:%a} {when.day} {when:%b %Y}: {units:,} tokens")


def test_source_and_event_type_filter_both_graph_and_table_without_javascript(
    page_without_js: Page, site: Site
) -> None:
    page = page_without_js
    sign_in(page, site, seed.ACME)
    page.get_by_label("Source").select_option("twilio")
    page.get_by_label("Event type").select_option("call_minutes")
    page.get_by_role("button", name="Apply").press("Enter")  # the keyboard submits the form
    page.wait_for_url("**/settings/billing/usage?source=twilio&eventType=call_minutes&tz=UTC")
    assert chart_totals(page) == {("twilio", "call_minutes"): 50}
    rows = table_rows(page)
    assert len(rows) == 10
    assert {(r["type"], r["units"]) for r in rows} == {("call_minutes", "5 minutes")}
    # The filter is in the URL: opening it again (a bookmark, a shared link) shows the same view.
    page.reload()
    assert page.get_by_label("Source").input_value() == "twilio"
    assert page.get_by_label("Event type").input_value() == "call_minutes"
    assert len(table_rows(page)) == 10


def test_next_and_previous_walk_the_pages(page_without_js: Page, site: Site) -> None:
    page = page_without_js
    sign_in(page, site, seed.ACME)
    pages = [table_rows(page)]
    while page.get_by_role("link", name="Next →").count():
        page.get_by_role("link", name="Next →").click()
        page.wait_for_load_state("load")
        pages.append(table_rows(page))
    ids = [r["id"] for p in pages for r in p]
    assert [len(p) for p in pages] == [25, 25, 25, 22]
    assert len(set(ids)) == len(ids) == len(site.data.of(seed.ACME))
    for expected in reversed(pages[:-1]):
        page.get_by_role("link", name="← Previous").click()
        page.wait_for_load_state("load")
        assert table_rows(page) == expected
    assert page.get_by_role("link", name="← Previous").count() == 0  # back on the newest page


def test_csv_download_has_the_filtered_rows(page: Page, site: Site, tmp_path: Path) -> None:
    sign_in(page, site, seed.ACME, "&source=sendgrid")
    shown = {r["id"] for r in table_rows(page)}
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    path = tmp_path / "usage.csv"
    download.value.save_as(path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(site.data.of(seed.ACME, source="sendgrid")) == 15
    assert {r["id"] for r in rows} == shown
    assert {(r["source"], r["eventType"]) for r in rows} == {("sendgrid", "email_sent")}


def test_another_tenants_token_shows_only_its_own_data(page: Page, site: Site) -> None:
    sign_in(page, site, seed.ACME)
    acme_ids = {r["id"] for r in table_rows(page)}
    sign_in(page, site, seed.OTHER)  # the new link replaces the cookie in the same browser
    assert page.locator("[data-tenant]").inner_text() == seed.OTHER
    assert chart_totals(page) == {("openai", "ai_message"): 5 * 777}
    rows = table_rows(page)
    assert len(rows) == 5 and {r["units"] for r in rows} == {"777 tokens"}
    assert not acme_ids & {r["id"] for r in rows}


def test_a_new_tenant_sees_the_empty_state(page: Page, site: Site) -> None:
    sign_in(page, site, seed.EMPTY)
    assert page.get_by_role("heading", name="No usage yet").is_visible()
    assert page.locator("figure.chart").count() == 0


def test_an_expired_token_shows_the_error_page(page: Page, site: Site) -> None:
    secret = site.ledger.settings.secret_key.get_secret_value()
    expired = mint_read_token(secret, seed.ACME, timedelta(minutes=5), now=datetime.now(UTC) - timedelta(hours=1))
    response = page.goto(f"{site.url}/settings/billing/usage?token={expired}")
    assert response is not None and response.status == 401
    assert page.get_by_role("heading", level=1).inner_text() == "Your usage link is no longer valid"
    assert "has expired" in page.locator("main").inner_text()
    assert not [c for c in page.context.cookies() if c["name"] == "usage_read_token" and c["value"]]


def test_a_link_followed_from_the_host_app_signs_in(page: Page, site: Site) -> None:
    """SameSite=Strict: the cookie set on a cross-site click must still reach the page that follows."""
    link = site.link(seed.ACME)
    page.route(
        "http://host-app.test/**",
        lambda route: route.fulfill(content_type="text/html", body=f'<a href="{link}">Usage</a>'),
    )
    page.goto("http://host-app.test/settings")
    page.get_by_role("link", name="Usage").click()
    page.wait_for_url(clean_url(site.url))
    page.wait_for_load_state("load")
    assert page.locator("[data-tenant]").inner_text() == seed.ACME
    assert len(table_rows(page)) == 25
