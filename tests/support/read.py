"""Helpers for read-API tests: tenant read tokens, clients, bulk ingest and a raw-scan reference."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ledger_service.settings import Settings
from ledger_service.tokens import mint_read_token
from tests.support.postgres import SQL
from tests.support.server import RunningLedger


def token_for(settings: Settings, tenant: str, ttl: timedelta = timedelta(minutes=10)) -> str:
    return mint_read_token(settings.secret_key.get_secret_value(), tenant, ttl)


@contextmanager
def reader(ledger: RunningLedger, tenant: str) -> Iterator[httpx.Client]:
    """An HTTP client carrying `tenant`'s read token."""
    headers = {"Authorization": f"Bearer {token_for(ledger.settings, tenant)}"}
    with httpx.Client(base_url=ledger.url, headers=headers, timeout=60) as http:
        yield http


def ingest(client: httpx.Client, events: list[dict[str, Any]], batch: int = 500) -> int:
    accepted = 0
    for i in range(0, len(events), batch):
        response = client.post("/api/usage/events", json={"events": events[i : i + batch]})
        assert response.status_code == 200, response.text
        accepted += response.json()["accepted"]
    return accepted


def walk_events(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every row of the listing, following nextCursor until it is null."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = http.get("/api/billing/usage/events", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["events"])
        cursor = body["nextCursor"]
        if cursor is None:
            return rows


Daily = dict[tuple[str, str], dict[date, tuple[int, int]]]


def raw_reference(sql: SQL, tenant: str, zone: str, first: date, last: date, **filters: str) -> Daily:
    """Daily (units, events) per (source, event_type) computed row by row from the raw rows: the events and
    their corrections (a correction's units are its change; its `events` -1 for a void, 0 for an amend).
    Days that net to nothing are left out, as summary_as_daily leaves out days without events."""
    tz = ZoneInfo(zone)
    sums: dict[tuple[str, str], dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in sql.fetch(
        "SELECT source, event_type, units, events, occurred_at FROM usage_ledger WHERE tenant_id = $1", tenant
    ):
        if any(row[column] != value for column, value in filters.items()):
            continue
        day = row["occurred_at"].astimezone(tz).date()
        if first <= day <= last:
            cell = sums[(row["source"], row["event_type"])][day]
            cell[0] += row["units"]
            cell[1] += row["events"]
    daily = {key: {d: (u, n) for d, (u, n) in days.items() if (u, n) != (0, 0)} for key, days in sums.items()}
    return {key: days for key, days in daily.items() if days}


def summary_as_daily(body: dict[str, Any]) -> Daily:
    """The API's series with zero days (and series of nothing but) dropped, in the reference's shape."""
    daily = {
        (s["source"], s["eventType"]): {
            date.fromisoformat(d["date"]): (d["units"], d["events"])
            for d in s["days"]
            if (d["units"], d["events"]) != (0, 0)
        }
        for s in body["series"]
    }
    return {key: days for key, days in daily.items() if days}
