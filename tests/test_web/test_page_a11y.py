"""axe-core (vendored in tests/test_web/vendor) finds no serious or critical accessibility problem on the page, at
a laptop's and a phone's width: the usage page with an event opened, a new tenant's empty page, a filter note,
and the sign-in error page.

The page's Content-Security-Policy allows no script, so the test's browser context bypasses CSP to inject axe;
the page as served never runs any (test_page_http checks its headers and markup).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.test_web import seed
from tests.test_web.browser import WIDTHS, new_context, sign_in
from tests.test_web.conftest import Site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA, and axe's best practices (landmarks, headings, region).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = {"serious", "critical"}


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = new_context(browser, width=request.param, bypass_csp=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", TAGS
    )
    assert result["testEngine"]["name"] == "axe-core" and result["passes"] is not None
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def test_the_usage_page_with_an_event_opened(page: Page, site: Site) -> None:
    sign_in(page, site.link(seed.ACME), site.url)
    page.locator("li.event[data-event-type='ai_message'] summary").first.click()
    page.locator("section.overview summary").click()  # the daily values table, open
    assert violations(page) == []


@pytest.mark.parametrize("query", ["", "&source=sendgrid&eventType=ai_message"], ids=["empty", "note"])
def test_the_empty_page_and_a_filter_note(page: Page, site: Site, query: str) -> None:
    tenant = seed.EMPTY if not query else seed.ACME
    page.goto(site.link(tenant, query))
    page.wait_for_load_state("load")
    page.wait_for_selector("main h2")
    assert violations(page) == []


def test_the_sign_in_error_page(page: Page, site: Site) -> None:
    response = page.goto(f"{site.url}/settings/billing/usage")
    assert response is not None and response.status == 401
    assert violations(page) == []


def luminance(rgb: str) -> float:
    """WCAG 2.1 relative luminance of a computed CSS colour, "rgb(r, g, b)"."""
    channels = [int(c) / 255 for c in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


_PAINT = """([selector, property]) => [...document.querySelectorAll(selector)]
  .filter(e => e.getBoundingClientRect().width > 0)
  .map(e => [getComputedStyle(e)[property], getComputedStyle(e.closest('.card')).backgroundColor])"""


def test_chart_text_lines_and_bars_have_enough_contrast(page: Page, site: Site) -> None:
    """What axe leaves undecided (text and shapes inside SVG): text 4.5:1, lines and bars 3:1 (WCAG 1.4.3, 1.4.11)."""
    sign_in(page, site.link(seed.ACME), site.url)
    for selector, prop, least in (
        ("svg text.tick, svg text.axis-title", "fill", 4.5),
        ("svg .series polyline", "stroke", 3.0),
        ("svg rect.bar", "fill", 3.0),
    ):
        painted = page.evaluate(_PAINT, [selector, prop])
        assert painted, selector
        ratios = {(paint, background): round(contrast(paint, background), 2) for paint, background in painted}
        assert min(ratios.values()) >= least, (selector, ratios)
