"""The usage page in a real headless Chromium (Debian's), against the running service with seeded data."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from tests.test_web import seed
from tests.test_web.browser import chart_totals, clean_url, event_rows, new_context, sign_in
from tests.test_web.conftest import Site
from usage_ledger_contract.catalog import CATALOG

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = new_context(browser)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page_without_js(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, java_script_enabled=False)
    try:
        yield context.new_page()
    finally:
        context.close()


def open_usage(page: Page, site: Site, tenant: str, query: str = "") -> None:
    sign_in(page, site.link(tenant, query), site.url)


def test_page_loads_and_the_graphs_show_the_seeded_totals(page: Page, site: Site) -> None:
    open_usage(page, site, seed.ACME)
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
    minutes = page.locator('figure.chart[data-event-type="call_minutes"]')
    assert minutes.locator('g.day[data-units="0"]').count() > 0  # 10 events over 30 days: some days are zero
    totals = page.locator("table.totals tbody tr[data-event-type]")
    assert {
        (r.get_attribute("data-source"), r.get_attribute("data-event-type")): int(r.get_attribute("data-units") or "")
        for r in totals.all()
    } == expected
    # The overview counts each category's events (never adding unlike units); its lines add up to them.
    legend = page.locator("ul.legend li")
    by_source = {s: len(site.data.of(seed.ACME, source=s)) for s in ("twilio", "sendgrid", "openai")}
    assert {li.get_attribute("data-source"): int(li.get_attribute("data-events") or "") for li in legend.all()} == (
        by_source
    )
    assert len(event_rows(page)) == 25


def test_hovering_a_day_shows_its_exact_value_and_date(page: Page, site: Site) -> None:
    open_usage(page, site, seed.ACME)
    chart = page.locator('figure.chart[data-event-type="ai_message"]')
    day = chart.locator("g.day:not([data-units='0'])").first
    units, date = int(day.get_attribute("data-units") or ""), day.get_attribute("data-date") or ""
    tip = day.locator("text.tip")
    assert not tip.is_visible()
    day.locator("rect.hit").hover()
    assert tip.is_visible()
    when = datetime.fromisoformat(date)
    assert tip.text_content() == f"{when.day} {when:%b}: {units:,} tokens"
    title = day.locator("title").text_content() or ""
    assert title.startswith(f"{when:%a} {when.day} {when:%b %Y}: {units:,} tokens")


def test_choosing_a_source_narrows_the_event_type_menu_without_javascript(page_without_js: Page, site: Site) -> None:
    page = page_without_js
    open_usage(page, site, seed.ACME)
    menu = page.get_by_label("Event type")
    # Every type, grouped under its source's label (sources with types only: `system` has none declared here).
    assert [g.get_attribute("label") for g in menu.locator("optgroup").all()] == ["SMS & calls", "Email", "AI"]
    assert [o.inner_text() for o in page.get_by_label("Source").locator("option").all()] == [
        "All sources",
        "SMS & calls (Twilio)",
        "Email (SendGrid)",
        "AI (OpenAI)",
    ]
    page.get_by_label("Source").select_option("twilio")
    page.get_by_role("button", name="Apply").press("Enter")  # the keyboard submits the form
    page.wait_for_url("**/settings/billing/usage?source=twilio&tz=UTC")
    offered = [o.get_attribute("value") for o in menu.locator("option").all()]
    assert offered == ["", *(t.name for t in CATALOG.types_of("twilio"))]
    assert menu.locator("option").first.inner_text() == "All SMS & calls usage"
    titles = [o.inner_text() for o in menu.locator("option").all()[1:]]
    assert titles == [t.title for t in CATALOG.types_of("twilio")]  # "Outbound SMS · segments", the catalog's words
    menu.select_option("call_minutes")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/settings/billing/usage?source=twilio&eventType=call_minutes&tz=UTC")
    assert chart_totals(page) == {("twilio", "call_minutes"): 50}
    rows = event_rows(page)
    assert len(rows) == 10
    assert {(r["type"], r["units"]) for r in rows} == {("call_minutes", "5 minutes")}
    # The filter is in the URL: opening it again (a bookmark, a shared link) shows the same view.
    page.reload()
    assert page.get_by_label("Source").input_value() == "twilio"
    assert page.get_by_label("Event type").input_value() == "call_minutes"
    assert len(event_rows(page)) == 10


def test_changing_the_source_but_not_the_type_shows_the_source_with_a_note(page_without_js: Page, site: Site) -> None:
    page = page_without_js
    open_usage(page, site, seed.ACME, "&source=twilio&eventType=sms_outbound")
    page.get_by_label("Source").select_option("sendgrid")  # the type menu still says Outbound SMS
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state("load")
    note = page.get_by_role("status")
    assert note.inner_text().startswith("Outbound SMS is not a kind of Email usage, so this shows all Email usage.")
    assert chart_totals(page) == {("sendgrid", "email_sent"): 30}
    assert page.get_by_label("Event type").input_value() == ""
    note.get_by_role("link", name="Show Outbound SMS (SMS & calls) instead").click()
    page.wait_for_url("**/settings/billing/usage?source=twilio&eventType=sms_outbound&tz=UTC")
    assert chart_totals(page) == {("twilio", "sms_outbound"): site.data.totals(seed.ACME)[("twilio", "sms_outbound")]}


def test_next_and_previous_walk_the_pages_and_say_where_they_are(page_without_js: Page, site: Site) -> None:
    page = page_without_js
    open_usage(page, site, seed.ACME)
    total = len(site.data.of(seed.ACME))
    pages, positions = [event_rows(page)], [page.locator(".pager .position").inner_text()]
    while page.get_by_role("link", name="Next →").count():
        page.get_by_role("link", name="Next →").click()
        page.wait_for_load_state("load")
        pages.append(event_rows(page))
        positions.append(page.locator(".pager .position").inner_text())
    ids = [r["id"] for p in pages for r in p]
    assert [len(p) for p in pages] == [25, 25, 25, 22]
    assert len(set(ids)) == len(ids) == total
    spans = ((1, 25), (26, 50), (51, 75), (76, 97))
    assert positions == [f"Showing {a}\N{EN DASH}{b} of {total} events" for a, b in spans]
    for expected, position in zip(reversed(pages[:-1]), reversed(positions[:-1]), strict=True):
        page.get_by_role("link", name="← Previous").click()
        page.wait_for_load_state("load")
        assert event_rows(page) == expected
        assert page.locator(".pager .position").inner_text() == position
    assert page.get_by_role("link", name="← Previous").count() == 0  # back on the newest page


def test_csv_download_has_the_filtered_rows(page: Page, site: Site, tmp_path: Path) -> None:
    open_usage(page, site, seed.ACME, "&source=sendgrid")
    shown = {r["id"] for r in event_rows(page)}
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
    open_usage(page, site, seed.ACME)
    acme_ids = {r["id"] for r in event_rows(page)}
    open_usage(page, site, seed.OTHER)  # the new link replaces the cookie in the same browser
    assert page.locator("[data-tenant]").inner_text() == seed.OTHER
    assert chart_totals(page) == {("openai", "ai_message"): 5 * 777}
    rows = event_rows(page)
    assert len(rows) == 5 and {r["units"] for r in rows} == {"777 tokens"}
    assert not acme_ids & {r["id"] for r in rows}


def test_a_new_tenant_sees_what_will_appear_and_when(page: Page, site: Site) -> None:
    open_usage(page, site, seed.EMPTY)
    assert page.get_by_role("heading", name="No usage yet").is_visible()
    says = page.locator("section.empty").inner_text()
    assert "usually within a minute" in says and "a chart of the last 30 days by category" in says
    assert page.locator("figure.chart").count() == 0


def test_a_filter_with_nothing_in_it_says_so_in_words(page: Page, site: Site) -> None:
    open_usage(page, site, seed.ACME, "&eventType=ivr")
    assert page.get_by_role("heading", name="No usage matches these filters").is_visible()
    assert "Nothing of Phone menu steps was recorded from " in page.locator("section.empty").inner_text()


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
    assert len(event_rows(page)) == 25


def test_the_period_and_time_zone_are_stated_once(page: Page, site: Site) -> None:
    zone = ZoneInfo("Asia/Kathmandu")
    open_usage(page, site, seed.ACME, "&tz=Asia/Kathmandu")
    today = datetime.now(UTC).astimezone(zone).date()
    assert page.locator("[data-period]").inner_text().endswith(f"{today.day} {today:%b %Y}")
    assert page.locator("[data-zone]").inner_text() == "Asia/Kathmandu"
    outside_the_form = "(() => { const m = document.querySelector('main').cloneNode(true);"
    outside_the_form += " m.querySelector('form').remove(); return m.textContent; })()"
    assert str(page.evaluate(outside_the_form)).count("Asia/Kathmandu") == 1
    # Each event's time is in that zone, in the page's one date format, without repeating the zone.
    for time in page.locator("ol.events time").all()[:5]:
        instant = datetime.fromisoformat(time.get_attribute("datetime") or "").astimezone(zone)
        assert time.inner_text() == f"{instant.day} {instant:%b %Y}, {instant:%H:%M:%S}"
