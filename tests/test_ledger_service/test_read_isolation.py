"""Tenant isolation on every read endpoint: A's token sees only A, whatever B's ids or cursors it sends."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.events import event
from tests.support.read import ingest, reader, walk_events
from tests.support.server import RunningLedger


@pytest.fixture
def two_tenants(client: httpx.Client) -> dict[str, list[dict[str, Any]]]:
    now = datetime.now(UTC) - timedelta(minutes=1)
    sent = {
        tenant: [
            event(tenantId=tenant, units=units, occurredAt=(now - timedelta(hours=h)).isoformat()) for h in range(120)
        ]
        for tenant, units in (("t_a", 1), ("t_b", 1000))
    }
    # B's rows also share A's idempotency keys and instants: nothing about them may leak into A's answers.
    sent["t_b"] += [dict(e, tenantId="t_b", units=7) for e in sent["t_a"][:10]]
    ingest(client, sent["t_a"] + sent["t_b"])
    return sent


def test_summary_counts_only_the_token_tenant(ledger: RunningLedger, two_tenants: dict[str, Any]) -> None:
    for tenant, units in (("t_a", 120), ("t_b", 120 * 1000 + 70)):
        with reader(ledger, tenant) as http:
            [series] = http.get("/api/billing/usage/summary", params={"days": "10"}).json()["series"]
        assert series["totals"]["units"] == units


def test_events_and_csv_list_only_the_token_tenant(ledger: RunningLedger, two_tenants: dict[str, Any]) -> None:
    with reader(ledger, "t_a") as http:
        rows = walk_events(http, limit=50)
        exported = list(csv.DictReader(io.StringIO(http.get("/api/billing/usage/events.csv").text)))
    assert len(rows) == 120 and {r["units"] for r in rows} == {1}
    assert [r["id"] for r in exported] == [r["id"] for r in rows]


def test_another_tenants_cursor_is_refused(ledger: RunningLedger, two_tenants: dict[str, Any]) -> None:
    with reader(ledger, "t_b") as http_b:
        b_cursor = http_b.get("/api/billing/usage/events", params={"limit": 5}).json()["nextCursor"]
    with reader(ledger, "t_a") as http_a:
        response = http_a.get("/api/billing/usage/events", params={"cursor": b_cursor})
        assert response.status_code == 400
        assert response.json()["error"]["message"] == "cursor: was issued for another tenant's listing"
        # Rewriting the tenant inside B's cursor breaks its signature.
        body, mac = b_cursor.split(".")
        position = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        forged = base64.urlsafe_b64encode(json.dumps({**position, "t": "t_a"}).encode()).rstrip(b"=").decode()
        response = http_a.get("/api/billing/usage/events", params={"cursor": f"{forged}.{mac}"})
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith("cursor: is not a cursor this service issued")


def test_no_parameter_selects_another_tenant(ledger: RunningLedger, two_tenants: dict[str, Any]) -> None:
    b_id = two_tenants["t_b"][0]["idempotencyKey"]
    with reader(ledger, "t_a") as http:
        for path in ("/summary", "/events", "/events.csv"):
            for name, value in (("tenantId", "t_b"), ("tenant", "t_b"), ("id", b_id)):
                response = http.get(f"/api/billing/usage{path}", params={name: value})
                assert response.status_code == 400, (path, name)
                assert response.json()["error"]["message"].startswith(f"{name}: unknown parameter")


@pytest.mark.parametrize("path", ["/summary", "/events", "/events.csv"])
def test_every_endpoint_needs_a_read_token(ledger: RunningLedger, client: httpx.Client, path: str) -> None:
    # The ingest key is not a read token.
    response = client.get(f"/api/billing/usage{path}")
    assert response.status_code == 401
    assert httpx.get(f"{ledger.url}/api/billing/usage{path}").status_code == 401
