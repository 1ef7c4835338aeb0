"""Read filters at the ends of the calendar (years 1 and 9999, zones far from UTC): a 400 that names the
parameter when the window cannot be represented, an answer when it can, never a 500."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from tests.support.events import event
from tests.support.read import reader
from tests.support.server import RunningLedger

SUMMARY = "/api/billing/usage/summary"
EVENTS = "/api/billing/usage/events"
EVENTS_CSV = "/api/billing/usage/events.csv"

# Local days whose UTC start or end falls outside years 1..9999.
UNREPRESENTABLE_DAYS = {
    "from=0001-01-01&to=0001-01-02&tz=Etc/GMT-14": "from: 0001-01-01 in Etc/GMT-14 begins before 0001-01-01T00:00:00Z",
    # Before 1854 Kolkata kept local mean time, +05:53:28: its first day of year 1 began in year 0.
    "from=0001-01-01&to=0001-01-02&tz=Asia/Kolkata": "from: 0001-01-01 in Asia/Kolkata begins before",
    "from=9999-12-30&to=9999-12-31&tz=Etc/GMT%2B12": "to: 9999-12-31 in Etc/GMT+12 ends after 9999-12-31T23:59:59",
    "from=9999-12-31&to=9999-12-31&tz=America/New_York": "to: 9999-12-31 in America/New_York ends after",
    "from=9999-12-31&to=9999-12-31&tz=UTC": "to: 9999-12-31 in UTC ends after",  # at 10000-01-01T00:00Z
    "from=9999-12-31&tz=Pacific/Kiritimati": "from: 9999-12-31 is after to",  # to: today there
    "to=0001-01-05": "to: 0001-01-05 leaves no room for 30 days before it",
    # Kiritimati kept local mean time (-10:29:20) then: a day that starts off the 15-minute grid.
    "from=0001-01-01&to=0001-01-02&tz=Pacific/Kiritimati": "tz: Pacific/Kiritimati has a day starting at",
}
# Windows that exist in UTC, however far from today: an (empty) summary.
REPRESENTABLE_DAYS = [
    "from=0001-01-01&to=0001-01-31&tz=UTC",
    "from=0001-01-01&to=0001-01-02&tz=Etc/GMT%2B12",
    "from=9999-12-30&to=9999-12-30&tz=Pacific/Kiritimati",
    "from=9999-12-30&to=9999-12-30&tz=Etc/GMT%2B12",
    "from=9999-12-31&to=9999-12-31&tz=Etc/GMT-14",
]
# Instants whose UTC time is outside years 1..9999.
UNREPRESENTABLE_INSTANTS = {
    "from=0001-01-01T00:00:00%2B05:00": "from: '0001-01-01T00:00:00+05:00' is outside the instants",
    "to=9999-12-31T23:59:59-05:00": "to: '9999-12-31T23:59:59-05:00' is outside the instants",
    "from=0001-01-01T00:00:00%2B14:00&to=2026-01-01T00:00:00Z": "from: '0001-01-01T00:00:00+14:00' is outside",
}
# Instants at the ends that exist in UTC: the rows between them (all of them, here).
REPRESENTABLE_INSTANTS = [
    "from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59.999999Z",
    "from=0001-01-01T00:00:00-05:00",
    "to=9999-12-31T23:59:59%2B14:00",
    "from=0001-01-01T00:00:00-12:00&to=9999-12-31T12:00:00%2B12:00",
]


@pytest.fixture
def one_row(client: httpx.Client) -> None:
    assert client.post("/api/usage/events", json={"events": [event(tenantId="t_edge")]}).is_success


@pytest.mark.parametrize("query", list(UNREPRESENTABLE_DAYS))
def test_a_summary_window_past_the_calendar_is_a_400_naming_the_date(ledger: RunningLedger, query: str) -> None:
    with reader(ledger, "t_edge") as http:
        response = http.get(f"{SUMMARY}?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(UNREPRESENTABLE_DAYS[query]), response.text


@pytest.mark.parametrize("query", REPRESENTABLE_DAYS)
def test_a_summary_at_the_ends_of_the_calendar_is_answered(ledger: RunningLedger, one_row: None, query: str) -> None:
    with reader(ledger, "t_edge") as http:
        response = http.get(f"{SUMMARY}?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"].startswith(("0001-", "9999-")) and body["series"] == [], body


@pytest.mark.parametrize("path", [EVENTS, EVENTS_CSV])
@pytest.mark.parametrize("query", list(UNREPRESENTABLE_INSTANTS))
def test_an_instant_past_the_calendar_is_a_400_naming_it(ledger: RunningLedger, path: str, query: str) -> None:
    with reader(ledger, "t_edge") as http:
        response = http.get(f"{path}?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(UNREPRESENTABLE_INSTANTS[query]), response.text


@pytest.mark.parametrize("query", REPRESENTABLE_INSTANTS)
def test_instants_at_the_ends_of_the_calendar_select_every_row(
    ledger: RunningLedger, one_row: None, query: str
) -> None:
    with reader(ledger, "t_edge") as http:
        page = http.get(f"{EVENTS}?{query}")
        export = http.get(f"{EVENTS_CSV}?{query}")
    assert page.status_code == 200, page.text
    assert export.status_code == 200, export.text
    assert len(page.json()["events"]) == 1
    assert [row["id"] for row in csv.DictReader(io.StringIO(export.text))] == [page.json()["events"][0]["id"]]
