"""GET /api/billing/usage/summary equals a raw scan of the ledger, in any time zone, late events included."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ledger_service.settings import Settings
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.read import ingest, raw_reference, reader, summary_as_daily
from tests.support.server import RunningLedger

ZONES = ("UTC", "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu")
TYPES = (("twilio", "sms_outbound"), ("twilio", "call_minutes"), ("sendgrid", "email_sent"), ("openai", "ai_message"))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A long late window lets the test ingest usage around the last DST change, whenever it runs.
    return settings.model_copy(update={"late_window_days": 400, "dedup_retention_days": 401})


def last_dst_change(zone: ZoneInfo, before: datetime) -> datetime:
    """The most recent instant before `before` at which `zone`'s UTC offset changed (hour precision)."""
    at = before.replace(minute=0, second=0, microsecond=0)
    while at.astimezone(zone).utcoffset() == (at - timedelta(hours=1)).astimezone(zone).utcoffset():
        at -= timedelta(hours=1)
    return at


def boundary_instants(days: list[date]) -> list[datetime]:
    """Each zone's local midnights and the microseconds either side: where off-by-one-bucket bugs live."""
    instants = []
    for name in ZONES:
        for day in days:
            midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(name)).astimezone(UTC)
            instants += [midnight - timedelta(microseconds=1), midnight, midnight + timedelta(microseconds=1)]
    return instants


def random_events(rng: random.Random, tenant: str, instants: list[datetime]) -> list[dict[str, Any]]:
    events = []
    for at in instants:
        source, event_type = rng.choice(TYPES)
        events.append(
            event(
                tenantId=tenant,
                source=source,
                eventType=event_type,
                units=rng.randint(0, 5000),
                occurredAt=at.isoformat(),
                idempotencyKey=str(uuid.uuid4()),
            )
        )
    return events


def spread(rng: random.Random, start: datetime, end: datetime, count: int) -> list[datetime]:
    seconds = (end - start).total_seconds()
    return [start + timedelta(seconds=rng.uniform(0, seconds)) for _ in range(count)]


@pytest.fixture
def seeded(ledger: RunningLedger, client: httpx.Client) -> dict[str, Any]:
    """Random usage for t_a and t_b: recent days and the weeks around Los Angeles' last DST change,
    ingested newest batch first so that most batches are late relative to what is already stored."""
    rng = random.Random(20261124)
    now = datetime.now(UTC) - timedelta(minutes=1)
    change = last_dst_change(ZoneInfo("America/Los_Angeles"), now - timedelta(days=2))
    around_change = spread(rng, change - timedelta(days=10), min(change + timedelta(days=10), now), 900)
    instants = spread(rng, now - timedelta(days=33), now, 900) + around_change
    edge_days = [(change + timedelta(days=n)).date() for n in (-1, 0, 1)] + [
        (now - timedelta(days=n)).date() for n in (3, 4)
    ]
    instants += [at for at in boundary_instants(edge_days) if at < now]
    events = random_events(rng, "t_a", instants) + random_events(
        rng, "t_b", spread(rng, now - timedelta(days=30), now, 300)
    )
    batches = [events[i : i + 97] for i in range(0, len(events), 97)]
    rng.shuffle(batches)
    for batch in sorted(batches, key=lambda b: max(e["occurredAt"] for e in b), reverse=True):
        ingest(client, batch)
    return {"events": events, "change": change}


@pytest.mark.parametrize("zone", ZONES)
def test_last_30_days_equal_a_raw_scan(ledger: RunningLedger, sql: SQL, seeded: dict[str, Any], zone: str) -> None:
    with reader(ledger, "t_a") as http:
        body = http.get("/api/billing/usage/summary", params={"tz": zone}).json()
    first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    assert (last - first).days == 29
    assert body["timezone"] == zone
    assert summary_as_daily(body) == raw_reference(sql, "t_a", zone, first, last)
    check_series_shape(body, first, last)


@pytest.mark.parametrize("zone", ZONES)
def test_the_weeks_around_a_dst_change_equal_a_raw_scan(
    ledger: RunningLedger, sql: SQL, seeded: dict[str, Any], zone: str
) -> None:
    first = (seeded["change"] - timedelta(days=9)).date()
    last = (seeded["change"] + timedelta(days=9)).date()
    with reader(ledger, "t_a") as http:
        body = http.get("/api/billing/usage/summary", params={"tz": zone, "from": str(first), "to": str(last)}).json()
    expected = raw_reference(sql, "t_a", zone, first, last)
    assert sum(n for days in expected.values() for _, n in days.values()) > 500  # the window really has data
    assert summary_as_daily(body) == expected
    check_series_shape(body, first, last)


def test_filters_narrow_the_summary(ledger: RunningLedger, sql: SQL, seeded: dict[str, Any]) -> None:
    with reader(ledger, "t_a") as http:
        body = http.get(
            "/api/billing/usage/summary",
            params={"tz": "Asia/Kathmandu", "source": "twilio", "eventType": "call_minutes"},
        ).json()
    first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    expected = raw_reference(sql, "t_a", "Asia/Kathmandu", first, last, source="twilio", event_type="call_minutes")
    assert list(expected) == [("twilio", "call_minutes")]
    assert summary_as_daily(body) == expected


def test_only_stored_events_count(ledger: RunningLedger, client: httpx.Client) -> None:
    at = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    first = [event(tenantId="t_c", units=5, occurredAt=at) for _ in range(4)]
    ingest(client, first)
    again = [*first, dict(first[0], units=999)]  # all duplicates: resent, and one with other units
    bad = [event(tenantId="t_c", units=-1, occurredAt=at)]  # rejected
    assert ingest(client, again + bad) == 0
    with reader(ledger, "t_c") as http:
        body = http.get("/api/billing/usage/summary", params={"days": "7"}).json()
    [series] = body["series"]
    assert series["totals"] == {"units": 20, "events": 4}


def check_series_shape(body: dict[str, Any], first: date, last: date) -> None:
    """Zero-filled consecutive days; one unit per series, from the registry; totals add up."""
    units = {
        ("twilio", "sms_outbound"): "segment",
        ("twilio", "call_minutes"): "minute",
        ("sendgrid", "email_sent"): "recipient",
        ("openai", "ai_message"): "token",
    }
    expected_days = [str(first + timedelta(days=n)) for n in range((last - first).days + 1)]
    for series in body["series"]:
        assert series["unit"] == units[(series["source"], series["eventType"])]
        assert [d["date"] for d in series["days"]] == expected_days
        assert series["totals"]["units"] == sum(d["units"] for d in series["days"])
        assert series["totals"]["events"] == sum(d["events"] for d in series["days"])


def test_bad_summary_parameters_are_named(ledger: RunningLedger) -> None:
    cases = {
        "tz=Mars/Olympus": "tz: 'Mars/Olympus' is not an IANA time zone",
        "tz=../../etc/passwd": "tz: '../../etc/passwd' is not an IANA time zone",
        # Monrovia ran on UTC-0:44:30 until 1972: its days did not start on a 15-minute boundary.
        "tz=Africa/Monrovia&from=1971-06-01&to=1971-06-02": "tz: Africa/Monrovia has a day starting at",
        "days=0": "days: must be between 1 and 366",
        "days=367": "days: must be between 1 and 366 (LEDGER_SUMMARY_MAX_DAYS), not 367",
        "days=30&from=2026-01-01": "days: cannot be combined with from/to",
        "from=2026-03-02&to=2026-03-01": "from: 2026-03-02 is after to (2026-03-01)",
        "from=2024-01-01&to=2026-01-01": "from: the window is 732 days; the limit is 366",
        "from=yesterday": "from: 'yesterday' is not a date",
        "eventType=sms_sent": "eventType: 'sms_sent' is not a registered event type",
        "source=sendgrid&eventType=sms_outbound": "eventType: 'sms_outbound' is not an event type of source",
        "tenantId=t_b": "tenantId: unknown parameter",
    }
    with reader(ledger, "t_a") as http:
        for query, message in cases.items():
            response = http.get(f"/api/billing/usage/summary?{query}")
            assert response.status_code == 400, query
            assert response.json()["error"]["message"].startswith(message), response.text
