"""The usage page's render time in headless Chromium on a tenant with 1M events over 30 days.

    python -m bench.page [--tenant-rows 1000000] [--rows N] [--loads 40]

Seeds the ledger with COPY (bench.read's seeding: --tenant-rows for one tenant over the last 30 days,
the rest of --rows spread over other tenants), starts `usage-ledger serve`, signs a Debian Chromium in
with a token link, then loads the page --loads times per view and reports, in the same run:
  - navigation start to the load event (the browser's Navigation Timing), p50/p95, per view;
  - the read API calls the page's server-side render makes (summary, one events page), p50/p95 over HTTP.
Goal: the default view (30 days, every event type) loads in <= 500 ms. Writes bench/results/page.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from bench.harness import bench_database, ledger_process, write_results
from bench.read import TENANT, seed
from ledger_service.settings import Settings
from ledger_service.tokens import mint_read_token

CHROMIUM = "/usr/bin/chromium"
# As in tests/test_web/browser.py: headless, and no background fetches on a machine without internet.
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
PAGE = "/settings/billing/usage"
VIEWS = {"all_types_30_days": "", "one_source_30_days": "?source=openai", "one_type_30_days": "?eventType=sms_outbound"}
# What the page asks the read service for (web/query.py): the 30-day summary and a 25-row events page.
API_CALLS = {
    "summary": ("/api/billing/usage/summary", {}),
    "events_page": ("/api/billing/usage/events", {"limit": "25"}),
}
_NAVIGATION_MS = "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd; })()"


def percentiles(ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1), "max_ms": round(max(ms), 1)}


def page_loads(page: Page, url: str, loads: int) -> list[float]:
    page.goto(url)  # warm-up: connection pool, prepared statements, the stylesheet in the cache
    durations = []
    for _ in range(loads):
        page.goto(url, wait_until="load")
        # Navigation Timing's loadEventEnd is measured from the navigation's start (time origin).
        durations.append(float(page.evaluate(_NAVIGATION_MS)))
    return durations


def measure_browser(url: str, token: str, loads: int, screenshot: Path) -> dict[str, object]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(f"{url}{PAGE}?token={token}")
            page.wait_for_url(f"{url}{PAGE}")
            out: dict[str, object] = {}
            for name, query in VIEWS.items():
                out[f"page_{name}"] = percentiles(page_loads(page, f"{url}{PAGE}{query}", loads))
            page.goto(f"{url}{PAGE}")
            page.screenshot(path=str(screenshot), full_page=True)
            out["rows_on_page"] = page.locator("ol.events li.event").count()
            return out
        finally:
            browser.close()


def timed(call: Callable[[], object], samples: int) -> list[float]:
    call()
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def measure_api(url: str, token: str, samples: int) -> dict[str, object]:
    out: dict[str, object] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for name, (path, params) in API_CALLS.items():

            def call(path: str = path, params: dict[str, Any] = params) -> None:
                http.get(path, params=params).raise_for_status()

            out[f"api_{name}"] = percentiles(timed(call, samples))
    return out


def report(results: dict[str, Any]) -> None:
    for key, value in results.items():
        if isinstance(value, dict) and "p50_ms" in value:
            print(f"{key:<32} p50 {value['p50_ms']:>7.1f} ms   p95 {value['p95_ms']:>7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant-rows", type=int, default=1_000_000, help="events of the measured tenant")
    parser.add_argument("--rows", type=int, default=None, help="all ledger rows (default: --tenant-rows)")
    parser.add_argument("--loads", type=int, default=40, help="timed page loads per view")
    parser.add_argument("--screenshot", type=Path, default=Path("test-artifacts/usage-page-1m.png"))
    args = parser.parse_args()
    rows = max(args.rows or args.tenant_rows, args.tenant_rows)
    args.screenshot.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"rows": rows, "tenant_rows": args.tenant_rows, "days": 30, "loads": args.loads}
    token = mint_read_token(Settings().secret_key.get_secret_value(), TENANT, timedelta(hours=2))
    with bench_database() as dsn, ledger_process(dsn) as url:
        copy_seconds = asyncio.run(seed(dsn, rows, args.tenant_rows))
        print(f"seeded {rows:,} rows ({args.tenant_rows:,} for {TENANT}) in {copy_seconds:.0f} s")
        results.update(measure_api(url, token, args.loads * 5))
        results.update(measure_browser(url, token, args.loads, args.screenshot))
    results["goal_ms"] = 500
    results["goal_met"] = results["page_all_types_30_days"]["p95_ms"] <= 500
    report(results)
    print(f"screenshot: {args.screenshot}")
    print(f"results: {write_results('page', results)}")


if __name__ == "__main__":
    main()
