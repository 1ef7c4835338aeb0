"""Debian's Chromium driven by Playwright (never Playwright's own browser download)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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
