"""The read API's query parameters fuzzed as raw strings, beyond what the OpenAPI schema describes (which
schemathesis covers): any value of any parameter, at the ends of the calendar and in zones far from UTC
too, is a 200 or a 400 naming the parameter, never a 5xx."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.events import event
from tests.support.read import reader
from tests.support.server import RunningLedger
from usage_ledger_contract.catalog import CATALOG, SOURCE_NAMES

ENDPOINTS = ["/api/billing/usage/summary", "/api/billing/usage/events", "/api/billing/usage/events.csv"]
NAMES = ["days", "from", "to", "tz", "source", "eventType", "limit", "cursor"]
# Days and instants anywhere, and especially where local days or offsets leave years 1..9999 in UTC.
calendar_end_dates = (
    st.dates().map(str) | st.dates(max_value=date(1, 2, 1)).map(str) | st.dates(min_value=date(9999, 12, 1)).map(str)
)
offsets = st.sampled_from(["Z", "+05:45", "+14:00", "-12:00", "-05:00", "+00:00"])
instants = (
    st.datetimes().map(lambda d: d.isoformat())
    | st.datetimes(max_value=datetime(1, 1, 2)).map(lambda d: d.isoformat())
    | st.datetimes(min_value=datetime(9999, 12, 31)).map(lambda d: d.isoformat())
).flatmap(lambda text: offsets.map(lambda offset: text + offset))
plausible = {
    "days": st.integers(-5, 400).map(str),
    "limit": st.integers(-5, 400).map(str) | st.sampled_from(["1e3", "0x10", " 5", "\uff15"]),
    "from": calendar_end_dates | instants,
    "to": calendar_end_dates | instants,
    "tz": st.sampled_from(
        [
            *("UTC", "Asia/Kathmandu", "America/Los_Angeles", "Mars/Olympus", "../etc/passwd", "", "+05:30"),
            *("Pacific/Kiritimati", "Etc/GMT+12", "Etc/GMT-14", "Asia/Kolkata", "America/St_Johns"),
        ]
    ),
    "source": st.sampled_from([*SOURCE_NAMES, "pigeon", ""]),
    "eventType": st.sampled_from([*(e.name for e in CATALOG), "nope"]),
    "cursor": st.sampled_from(["", "a.b", "....", "e30.e30", "%00"]),
}
values = st.text(max_size=60)
params = st.dictionaries(
    st.sampled_from(NAMES) | st.text(min_size=1, max_size=12),
    values,
    max_size=4,
) | st.fixed_dictionaries({}, optional={k: v | values for k, v in plausible.items()})


@pytest.fixture
def seeded(client: httpx.Client, ledger: RunningLedger) -> RunningLedger:
    assert client.post("/api/usage/events", json={"events": [event(tenantId="t_read") for _ in range(3)]}).is_success
    return ledger


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(endpoint=st.sampled_from(ENDPOINTS), query=params)
def test_any_query_is_a_200_or_a_400_that_names_the_problem(
    seeded: RunningLedger, endpoint: str, query: dict[str, Any]
) -> None:
    with reader(seeded, "t_read") as http:
        response = http.get(endpoint, params=query)
    assert response.status_code in (200, 400), (response.status_code, response.text[:500])
    if response.status_code == 400:
        assert response.json()["error"]["message"]
