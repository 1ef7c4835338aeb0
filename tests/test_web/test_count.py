"""The page's "of N" comes from the summary it already reads: its event count for the window and filters equals
the number of rows the listing walks for the same window (local days as instants), in any time zone. So the
count costs no query of its own, and this test is what keeps it honest.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.read import reader
from tests.test_web import seed
from tests.test_web.conftest import Site
from tests.test_web.html import link, rows

PAGE = "/settings/billing/usage"


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def listed(http: httpx.Client, params: dict[str, Any]) -> int:
    """Every row of the events listing for `params`, page by page."""
    seen, cursor = 0, None
    while True:
        more: dict[str, str] = {"cursor": cursor} if cursor else {}
        page = http.get("/api/billing/usage/events", params={**params, "limit": 7, **more})
        assert page.status_code == 200, page.text
        body = page.json()
        seen += len(body["events"])
        cursor = body["nextCursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize(
    ("tz", "days_back", "length", "filters"),
    [
        ("UTC", 29, 30, {}),
        ("Asia/Kathmandu", 9, 4, {}),  # +05:45: days that begin at a quarter past the UTC hour
        ("America/New_York", 20, 12, {"source": "twilio"}),
        ("Pacific/Chatham", 5, 3, {"eventType": "ai_message"}),  # +12:45 / +13:45
        ("Asia/Kolkata", 16, 2, {"source": "sendgrid", "eventType": "email_sent"}),
    ],
)
def test_the_summary_counts_exactly_the_rows_the_listing_walks(
    site: Site, tz: str, days_back: int, length: int, filters: dict[str, str]
) -> None:
    zone = ZoneInfo(tz)
    first = datetime.now(UTC).astimezone(zone).date() - timedelta(days=days_back)
    last = first + timedelta(days=length - 1)
    start, end = local_day_start(first, zone), local_day_start(last + timedelta(days=1), zone)
    expected = [e for e in site.data.of(seed.ACME, **filters) if start <= datetime.fromisoformat(e["occurredAt"]) < end]
    with reader(site.ledger, seed.ACME) as http:
        summary = http.get(
            "/api/billing/usage/summary",
            params={"from": first.isoformat(), "to": last.isoformat(), "tz": tz, **filters},
        ).json()
        walked = listed(http, {"from": start.isoformat(), "to": end.isoformat(), **filters})
    assert summary["totalEvents"] == walked == len(expected) > 0
    assert summary["totalEvents"] == sum(s["totals"]["events"] for s in summary["series"])


def test_the_pages_count_is_the_number_of_rows_its_pages_show(site: Site) -> None:
    cookies = {"usage_read_token": site.token(seed.ACME)}
    url: str | None = f"{PAGE}?source=twilio&tz=Asia%2FKathmandu"
    shown, counts = 0, set()
    with httpx.Client(base_url=site.url, cookies=cookies, timeout=30) as http:
        while url:
            html = http.get(url).text
            shown += len(rows(html))
            counts.add(html.split('data-total-events="', 1)[1].split('"', 1)[0])
            url = link(html, "next")
    assert counts == {str(shown)} and shown == len(site.data.of(seed.ACME, source="twilio"))
