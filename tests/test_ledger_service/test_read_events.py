"""GET /api/billing/usage/events (keyset pages) and events.csv, through HTTP on a real PostgreSQL."""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.events import event
from tests.support.read import ingest, reader, token_for, walk_events
from tests.support.server import RunningLedger
from tests.test_web.html import link, rows


def events_at(tenant: str, instants: list[datetime], **fields: Any) -> list[dict[str, Any]]:
    events = [event(tenantId=tenant, occurredAt=at.isoformat(), **fields) for at in instants]
    for e in events:  # the key in metadata too, so a test can recognise a row it sent
        e.setdefault("metadata", {})
        if "key" not in e["metadata"] and "metadata" not in fields:
            e["metadata"] = {**e["metadata"], "key": e["idempotencyKey"]}
    return events


def recent(rng: random.Random, count: int, days: float = 30) -> list[datetime]:
    now = datetime.now(UTC) - timedelta(seconds=5)
    return [now - timedelta(seconds=rng.uniform(0, days * 86_400)) for _ in range(count)]


def newest_first(rows: list[dict[str, Any]]) -> bool:
    keys = [(datetime.fromisoformat(r["occurredAt"]), r["id"]) for r in rows]
    return all(a > b for a, b in itertools.pairwise(keys))


def test_pages_walk_every_row_exactly_once_while_rows_arrive(ledger: RunningLedger, client: httpx.Client) -> None:
    rng = random.Random(7)
    # Ties on occurred_at are broken by id: give many rows the very same instant.
    same = datetime.now(UTC) - timedelta(days=5)
    ingest(client, events_at("t_a", recent(rng, 500) + [same] * 60))
    walked: list[dict[str, Any]] = []
    behind: set[str] = set()  # ids inserted mid-walk below the walk's position: the walk must reach them
    with reader(ledger, "t_a") as http:
        before = {r["id"] for r in walk_events(http, limit=200)}
        cursor = None
        while True:
            body = http.get("/api/billing/usage/events", params={"limit": 37, **({"cursor": cursor} if cursor else {})})
            walked += body.json()["events"]
            cursor = body.json()["nextCursor"]
            if cursor is None:
                break
            # Between pages: rows newer than everything (ahead of the walk), rows at the tied instant and
            # late rows older than the current position.
            position = datetime.fromisoformat(walked[-1]["occurredAt"])
            older = [position - timedelta(seconds=rng.uniform(1, 86_400)) for _ in range(3)]
            late = events_at("t_a", older)
            ingest(client, events_at("t_a", [*recent(rng, 3, days=0.001), same]) + late)
            behind |= {e["idempotencyKey"] for e in late}
    ids = [r["id"] for r in walked]
    assert len(ids) == len(set(ids)), "a row was returned twice"
    assert before <= set(ids), "a row that existed before the walk was skipped"
    stored_behind = {r["id"] for r in walk_events_keys(ledger, behind)}
    assert len(stored_behind) == len(behind) and stored_behind <= set(ids), "a late row behind the walk was missed"
    assert newest_first(walked)


def walk_events_keys(ledger: RunningLedger, keys: set[str]) -> list[dict[str, Any]]:
    """Rows whose idempotency keys are in `keys`, found through the API (the key is not in the listing,
    so match on the fixed per-test metadata instead)."""
    with reader(ledger, "t_a") as http:
        return [r for r in walk_events(http, limit=200) if r["metadata"].get("key") in keys]


def test_each_row_carries_its_fields(ledger: RunningLedger, client: httpx.Client) -> None:
    at = datetime.now(UTC).replace(microsecond=250000) - timedelta(days=2)
    sent = event(
        tenantId="t_a",
        source="openai",
        eventType="ai_message",
        units=812,
        occurredAt=at.isoformat(),
        traceId="ab" * 16,
        spanId="cd" * 8,
        metadata={"gen_ai.request.model": "gpt-4o-mini", "n": [1, 2]},
        id="0b7e7c57-2d4c-4b4e-9a53-0f6b2a4e6d10",
    )
    ingest(client, [sent])
    with reader(ledger, "t_a") as http:
        [row] = http.get("/api/billing/usage/events").json()["events"]
    assert row.pop("createdAt") >= row["occurredAt"]
    # The ledger mints every row id (unique ledger-wide); a client's `id` is not the row's.
    assert uuid.UUID(row.pop("id")) != uuid.UUID(sent["id"])
    assert row == {
        "source": "openai",
        "eventType": "ai_message",
        "unit": "token",
        "units": 812,
        "occurredAt": at.isoformat().replace("+00:00", "Z"),
        "metadata": {"gen_ai.request.model": "gpt-4o-mini", "n": [1, 2]},
        "traceId": "ab" * 16,
        "label": "AI replies",  # the catalog's words, as the usage page shows them
        "unitPlural": "tokens",
        "idempotencyKey": sent["idempotencyKey"],
        "kind": "event",
        "backfilled": False,
        "corrects": None,
        "correction": None,
        "corrections": [],
        "netUnits": 812,
    }


def test_filters_select_rows(ledger: RunningLedger, client: httpx.Client) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    instants = [now - timedelta(hours=h) for h in range(48)]
    ingest(client, events_at("t_a", instants) + events_at("t_a", instants, source="sendgrid", eventType="email_sent"))
    with reader(ledger, "t_a") as http:
        emails = walk_events(http, eventType="email_sent", limit=10)
        assert len(emails) == 48 and {r["source"] for r in emails} == {"sendgrid"}
        assert len(walk_events(http, source="twilio")) == 48
        start, end = (now - timedelta(hours=10)).isoformat(), (now - timedelta(hours=2)).isoformat()
        window = walk_events(http, **{"from": start, "to": end})
        # from is inclusive and to exclusive: hours 3..10 of both types.
        assert sorted(datetime.fromisoformat(r["occurredAt"]) for r in window) == sorted(
            [now - timedelta(hours=h) for h in range(3, 11)] * 2
        )


def test_bad_parameters_are_named(ledger: RunningLedger) -> None:
    cases = {
        "limit=201": "limit: must be between 1 and 200",
        "limit=ten": "limit: 'ten' is not a whole number",
        "from=2026-11-01T00:00:00": "from: '2026-11-01T00:00:00' has no UTC offset",
        "from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z": "from: 2026-11-02T00:00:00+00:00 is after to",
        "eventType=sms_outbound&source=openai": "eventType: 'sms_outbound' is not an event type of source 'openai'",
        "source=aws": "source: 'aws' is not one of",
        "cursor=abc": "cursor: is not a cursor this service issued",
        "tenantId=t_b": "tenantId: unknown parameter",
    }
    with reader(ledger, "t_a") as http:
        for query, message in cases.items():
            response = http.get(f"/api/billing/usage/events?{query}")
            assert response.status_code == 400, query
            assert response.json()["error"]["message"].startswith(message), response.text
        response = http.get("/api/billing/usage/events.csv?limit=5")  # the export has no pages
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith("limit: unknown parameter")


def test_csv_equals_the_json_pages(ledger: RunningLedger, client: httpx.Client) -> None:
    rng = random.Random(3)
    events = events_at("t_a", recent(rng, 2300))  # more rows than one CSV chunk
    for e in events[::7]:
        e.update(traceId=f"{rng.getrandbits(128):032x}", metadata={"to": "+1555", "quote": 'say "hi", ok'})
    for e in events[::5]:
        e.update(source="sendgrid", eventType="email_sent")
    ingest(client, events)
    with reader(ledger, "t_a") as http:
        for params in ({}, {"source": "sendgrid"}):
            pages = walk_events(http, limit=200, **params)
            response = http.get("/api/billing/usage/events.csv", params=params)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/csv")
            assert csv_rows(response.text) == [as_csv(row) for row in pages]
            assert len(pages) == (2300 if not params else 460)


def csv_rows(text: str) -> list[dict[str, Any]]:
    """The CSV's rows, metadata parsed (the JSON API and the CSV may space it differently)."""
    return [{**r, "metadata": json.loads(r["metadata"])} for r in csv.DictReader(io.StringIO(text))]


def as_csv(row: dict[str, Any]) -> dict[str, Any]:
    """A JSON row as its CSV line says it: every value a string, a correction's record and an event's
    corrections flattened into their columns."""
    correction = row["correction"] or {}
    flat = {
        **{k: v for k, v in row.items() if k not in ("correction", "corrections", "metadata")},
        "correctedBy": " ".join(c["id"] for c in row["corrections"]),
        "reason": correction.get("reason", ""),
        "correctionKey": correction.get("correctionKey", ""),
    }
    text = {k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in flat.items()}
    return {**text, "metadata": row["metadata"]}


def test_the_same_client_id_in_two_batches_never_costs_a_row_at_a_page_boundary(
    ledger: RunningLedger, client: httpx.Client
) -> None:
    # Issue 12, class 4: the worst case for a keyset on (occurred_at, id) if ids came from clients: pairs of
    # events with the same `id` and the same instant, in two batches, across every page boundary.
    same = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    ids = [str(uuid.uuid4()) for _ in range(40)]
    for _ in range(2):
        ingest(client, [event(tenantId="t_a", id=i, occurredAt=same.isoformat()) for i in ids])
    with reader(ledger, "t_a") as http:
        for limit in (25, 7, 1):
            walked = walk_events(http, limit=limit)
            assert len({r["id"] for r in walked}) == len(walked) == 80, limit
        csv_ids = [r["id"] for r in csv.DictReader(io.StringIO(http.get("/api/billing/usage/events.csv").text))]
        summary = http.get("/api/billing/usage/summary", params={"days": "3"}).json()
    assert len(set(csv_ids)) == len(csv_ids) == 80 == summary["totalEvents"]
    assert not set(csv_ids) & set(ids)  # the ledger's ids, never the client's
    page_ids: list[str] = []
    with httpx.Client(base_url=ledger.url, timeout=60) as http:
        http.get("/settings/billing/usage", params={"token": token_for(ledger.settings, "t_a")})
        url: str | None = f"/settings/billing/usage?tz=UTC&from={same.date()}&to={same.date()}"
        while url:
            response = http.get(url)
            assert response.status_code == 200, response.text
            page_ids += [r["data-id"] for r in rows(response.text)]
            url = link(response.text, "next")
    assert sorted(page_ids) == sorted(set(csv_ids))
