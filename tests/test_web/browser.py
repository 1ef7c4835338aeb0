"""Debian's Chromium driven by Playwright (never Playwright's own browser download)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Headless on a machine with no network beyond loopback: no GPU, no first-run UI, and no background
# fetches (updates, sync, component downloads) that would only fail and slow every start.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000  # every wait in a browser test is bounded by this


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"needs Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does this)")
    pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install -e '.[dev]')")


def clean_url(base: str) -> re.Pattern[str]:
    """The page's URL once the token link has been exchanged: no token in it."""
    return re.compile(re.escape(base) + r"/settings/billing/usage(\?(?!.*token=).*)?$")


@contextmanager
def launched() -> Iterator[Browser]:
    """Debian's Chromium, headless (skips the test, saying why, when it or playwright is missing)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, timeout=TIMEOUT_MS * 4)
        try:
            yield chromium
        finally:
            chromium.close()


WIDTHS = (1280, 390)  # a laptop, and a phone (iPhone 12-15 CSS width)


def new_context(browser: Browser, width: int = 1280, **options: Any) -> BrowserContext:
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def sign_in(page: Page, link: str, base: str) -> None:
    """Follow a token link and wait for the page it moves on to (without the token)."""
    page.goto(link)
    page.wait_for_url(clean_url(base))
    page.wait_for_load_state("load")


def event_rows(page: Page) -> list[dict[str, str]]:
    return [
        {
            "id": r.get_attribute("data-id") or "",
            "type": r.get_attribute("data-event-type") or "",
            "units": r.locator(".amount").inner_text(),
            "label": r.locator(".what").inner_text(),
        }
        for r in page.locator("ol.events li.event").all()
    ]


def chart_totals(page: Page) -> dict[tuple[str, str], int]:
    return {
        (c.get_attribute("data-source") or "", c.get_attribute("data-event-type") or ""): int(
            c.get_attribute("data-total-units") or "-1"
        )
        for c in page.locator("figure.chart").all()
    }


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))
