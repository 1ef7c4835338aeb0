"""The page at a laptop's and a phone's width: the catalog's words, the overview with its axis, an AI event opened
to its token breakdown and trace link, "of N", no sideways scrolling, every part reachable by keyboard.

Screenshots of each width are saved in test-artifacts/ (usage-page-<width>.png, usage-event-<width>.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.test_web import seed
from tests.test_web.browser import WIDTHS, event_rows, horizontal_overflow, new_context, sign_in
from tests.test_web.conftest import Site
from usage_ledger_contract import attributes as attr
from usage_ledger_contract.catalog import CATALOG, source

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = new_context(browser, width=request.param)
    try:
        yield context.new_page()
    finally:
        context.close()


def width(page: Page) -> int:
    return (page.viewport_size or {"width": 0})["width"]


def test_the_page_reads_in_the_catalogs_words_with_an_overview_and_a_count(
    page: Page, site: Site, artifacts: Path
) -> None:
    sign_in(page, site.link(seed.ACME), site.url)
    shown = site.data.totals(seed.ACME)
    # Labels and units from the catalog, the identifiers kept for engineers in a tooltip.
    for chart in page.locator("figure.chart").all():
        entry = CATALOG.lookup(chart.get_attribute("data-source") or "", chart.get_attribute("data-event-type") or "")
        heading = chart.get_by_role("heading")
        assert heading.inner_text() == entry.title
        assert heading.locator("span").get_attribute("title") == f"{entry.source} · {entry.name}"
        assert chart.locator(".total strong").inner_text() == entry.amount(shown[(entry.source, entry.name)])
        assert chart.locator(".src").inner_text().lower() == (source(entry.source) or entry).label.lower()
    labels = {r["label"] for r in event_rows(page)}
    assert labels <= {t.label for t in CATALOG} and "Outbound SMS" in labels
    assert not any("_" in label for label in labels)
    check_overview(page)
    # "of N": every event of the period, not only this page's.
    total = len(site.data.of(seed.ACME))
    assert page.locator("#events-count").inner_text().startswith(f"Showing 1\N{EN DASH}25 of {total} events")
    assert horizontal_overflow(page) == 0
    page.screenshot(path=str(artifacts / f"usage-page-{width(page)}.png"), full_page=True)


def check_overview(page: Page) -> None:
    """One visible overview chart (the one drawn for this width), with its axis title, ticks and gridlines."""
    charts = page.locator("svg.overview-chart")
    visible = [c for c in charts.all() if c.is_visible()]
    assert len(visible) == 1
    chart = visible[0]
    assert chart.get_attribute("class") == f"overview-chart {'wide' if width(page) > 640 else 'narrow'}"
    assert chart.locator("text.axis-title").text_content() == "events per day"
    ticks = [int((t.text_content() or "").replace(",", "")) for t in chart.locator("text.tick.y").all()]
    assert ticks[0] == 0 and len(ticks) >= 2 and ticks == sorted(ticks)
    assert chart.locator("line.grid").count() == len(ticks) - 1  # a gridline per tick above the baseline
    assert chart.locator("polyline").count() == page.locator("ul.legend li").count() == 3
    box = chart.bounding_box()
    assert box is not None and box["width"] <= width(page)
    # Its values without a mouse: the "Daily values" table opens from the keyboard.
    overview = page.locator("section.overview")
    overview.locator("summary").focus()
    page.keyboard.press("Enter")
    assert overview.locator("table tbody tr").count() == 30


def ai_row_with_a_trace(page: Page) -> Locator:
    return page.locator("li.event[data-event-type='ai_message']:has(.trace a)").first


def test_an_ai_event_opens_to_its_token_breakdown_and_trace_link(page: Page, site: Site, artifacts: Path) -> None:
    sign_in(page, site.link(seed.ACME, "&source=openai"), site.url)
    row = ai_row_with_a_trace(page)
    detail = row.locator(".detail")
    assert not detail.is_visible()
    row.locator("summary").focus()
    page.keyboard.press("Enter")  # opens from the keyboard, no script on the page
    assert detail.is_visible()
    facts = {f.locator("dt").inner_text(): f.locator("dd").inner_text() for f in detail.locator("dl > div").all()}
    serial = int(facts["Response ID"].removeprefix("chatcmpl-"))
    sent = next(e for e in site.data.of(seed.ACME) if e["idempotencyKey"] == f"page-{serial}")
    meta = sent["metadata"]
    assert facts["Billed"] == f"{sent['units']:,} tokens of AI replies, by OpenAI"
    assert facts["Model"] == meta[attr.GEN_AI_RESPONSE_MODEL]
    tokens = {
        r.get_attribute("data-key"): r.locator("td").inner_text()
        for r in detail.locator("table.tokens tr[data-key]").all()
    }
    assert tokens == {
        key: f"{meta[key]:,}"
        for key in (
            attr.GEN_AI_INPUT_TOKENS,
            attr.GEN_AI_CACHE_READ_TOKENS,
            attr.GEN_AI_OUTPUT_TOKENS,
            attr.GEN_AI_REASONING_TOKENS,
        )
    }
    assert detail.locator("table.tokens tr.sum td").inner_text() == f"{sent['units']:,} tokens"
    trace = detail.locator(".trace a")
    assert trace.is_visible()
    assert trace.get_attribute("href") == seed.TRACE_TEMPLATE.replace("{trace_id}", sent["traceId"])
    assert facts["Corrections"] == "None: the amount stands as recorded."
    # Never the prompt or the completion, though the app stored them.
    html = page.content()
    assert not [text for text in seed.CONTENT if text in html]
    assert horizontal_overflow(page) == 0
    row.screenshot(path=str(artifacts / f"usage-event-{width(page)}.png"))


def test_the_keyboard_reaches_every_control_in_order(page: Page, site: Site) -> None:
    sign_in(page, site.link(seed.ACME), site.url)
    reached: list[dict[str, Any]] = []
    for _ in range(120):  # the skip link, the form, the charts' tables, every event, the pager
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement; return {tag: e.tagName, text: e.innerText || '',"
            " name: e.getAttribute('name') || '', rel: e.getAttribute('rel') || ''}; })()"
        )
        reached.append(focused)
        if focused["rel"] == "next":
            break
    tags = [f["tag"] for f in reached]
    assert reached[0]["text"] == "Skip to content"
    fields = [f["name"] for f in reached if f["tag"] in {"SELECT", "INPUT"}]
    # A date box takes a Tab per part (day, month, year): the same field, several times in a row.
    assert [name for i, name in enumerate(fields) if i == 0 or fields[i - 1] != name] == [
        "source",
        "eventType",
        "from",
        "to",
        "tz",
    ]
    assert tags.count("SUMMARY") >= 25 + 1  # every event, and the charts' "Daily values"
    assert reached[-1]["rel"] == "next"  # and on to the next page


def test_at_the_narrowest_width_nothing_scrolls_sideways_with_every_event_open(browser: Browser, site: Site) -> None:
    """WCAG 2.1's reflow width, 320 CSS px, with every detail open (ids and long values wrap)."""
    context = new_context(browser, width=320)
    try:
        page = context.new_page()
        for query in ("", "&source=openai&tz=Asia/Kathmandu"):
            sign_in(page, site.link(seed.ACME, query), site.url)
            for summary in page.locator("ol.events summary").all():
                summary.click()
            assert page.locator("ol.events details[open]").count() == len(event_rows(page)) > 0
            assert horizontal_overflow(page) == 0, query
    finally:
        context.close()
