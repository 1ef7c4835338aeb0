"""POST /api/usage/events against the real service and a real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_INGEST_KEY
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.server import RunningLedger


def post(client: httpx.Client, events: list[dict[str, object]]) -> dict[str, Any]:
    response = client.post("/api/usage/events", json={"events": events})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_batch_is_stored_with_every_field(client: httpx.Client, sql: SQL) -> None:
    occurred = datetime.now(UTC).replace(microsecond=123000) - timedelta(hours=2)
    events = [
        event(units=3, occurredAt=occurred.isoformat(), traceId="ab" * 16, spanId="cd" * 8),
        event(source="openai", eventType="ai_message", units=1234, metadata={"gen_ai.request.model": "m"}),
        event(source="sendgrid", eventType="email_sent", tenantId="t_other", units=2),
    ]
    result = post(client, events)
    assert result == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
        "conflicts": 0,
        "conflictDetails": [],
    }
    rows = sql.fetch("SELECT * FROM usage_ledger ORDER BY units")
    assert [(r["tenant_id"], r["source"], r["event_type"], r["units"]) for r in rows] == [
        ("t_other", "sendgrid", "email_sent", 2),
        ("t_acme", "twilio", "sms_outbound", 3),
        ("t_acme", "openai", "ai_message", 1234),
    ]
    first = rows[1]
    assert first["occurred_at"] == occurred
    assert first["idempotency_key"] == events[0]["idempotencyKey"]
    assert (first["trace_id"], first["span_id"]) == ("ab" * 16, "cd" * 8)
    assert first["metadata"] == '{"to": "+15550100", "status": "queued"}'


def test_resending_a_batch_stores_nothing_new(client: httpx.Client, sql: SQL) -> None:
    events = [event(units=n) for n in range(1, 6)]
    assert post(client, events)["accepted"] == 5
    again = post(client, events)
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 5, 0)
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 5
    assert sql.fetchval("SELECT sum(units) FROM usage_ledger") == 15


def test_same_key_with_other_content_is_a_conflict_that_changes_nothing(client: httpx.Client, sql: SQL) -> None:
    first = event(idempotencyKey="SM123:sms_outbound")
    post(client, [first])
    moved = dict(first, occurredAt=(datetime.now(UTC) - timedelta(days=20)).isoformat(), units=7)
    result = post(client, [moved])
    assert (result["accepted"], result["duplicates"], result["conflicts"]) == (0, 0, 1)
    assert result["conflictDetails"][0]["fields"] == ["units", "occurredAt"]
    assert sql.fetchval("SELECT units FROM usage_ledger") == 1


def test_same_key_for_two_tenants_is_two_events(client: httpx.Client, sql: SQL) -> None:
    result = post(client, [event(tenantId="t_a", idempotencyKey="k"), event(tenantId="t_b", idempotencyKey="k")])
    assert result["accepted"] == 2
    assert sql.fetchval("SELECT count(DISTINCT tenant_id) FROM usage_ledger") == 2


def test_a_key_repeated_inside_one_batch_counts_once(client: httpx.Client, sql: SQL) -> None:
    one = event(idempotencyKey="dup")
    result = post(client, [one, dict(one), dict(one, units=5), event()])
    assert (result["accepted"], result["duplicates"], result["conflicts"]) == (2, 1, 1)
    assert [(c["index"], c["fields"]) for c in result["conflictDetails"]] == [(2, ["units"])]
    assert sql.fetchval("SELECT units FROM usage_ledger WHERE idempotency_key = 'dup'") == 1


def test_concurrent_overlapping_batches_store_each_key_once(ledger: RunningLedger, sql: SQL) -> None:
    keys = [f"k{n}" for n in range(600)]
    sent = {k: event(idempotencyKey=k) for k in keys}
    # Four batches over the same events in different orders, sent at the same moment.
    batches = [[sent[k] for k in order] for order in (keys, keys[::-1], keys[300:], keys[::2])]
    results: list[dict[str, int]] = []
    barrier = threading.Barrier(len(batches))

    def send(batch: list[dict[str, object]]) -> None:
        with httpx.Client(base_url=ledger.url, headers={"Authorization": f"Bearer {TEST_INGEST_KEY}"}) as http:
            barrier.wait()
            response = http.post("/api/usage/events", json={"events": batch}, timeout=60)
            results.append(response.json())

    threads = [threading.Thread(target=send, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r["accepted"] for r in results) == len(keys)
    assert sum(r["duplicates"] for r in results) == sum(len(b) for b in batches) - len(keys)
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == len(keys)
    assert sql.fetchval("SELECT count(DISTINCT idempotency_key) FROM usage_ledger") == len(keys)
    assert sql.fetchval("SELECT count(*) FROM usage_idempotency_keys") == len(keys)


def test_one_bad_event_is_named_and_the_rest_are_stored(client: httpx.Client, sql: SQL) -> None:
    result = post(client, [event(units=1), event(units=-4), event(units=3)])
    assert (result["accepted"], result["rejected"]) == (2, 1)
    assert result["errors"] == [{"index": 1, "field": "units", "message": "Expected `int` >= 0"}]
    assert sorted(r["units"] for r in sql.fetch("SELECT units FROM usage_ledger")) == [1, 3]
    assert sql.fetchval("SELECT count(*) FROM usage_idempotency_keys") == 2


@pytest.mark.storage("postgres")
def test_rows_land_in_their_month_partition_including_a_late_one(client: httpx.Client, sql: SQL) -> None:
    now = datetime.now(UTC)
    late = now - timedelta(days=34)
    post(client, [event(occurredAt=now.isoformat()), event(occurredAt=late.isoformat(), units=9)])
    rows = sql.fetch("SELECT tableoid::regclass::text AS part, units FROM usage_ledger ORDER BY units")
    assert [(r["part"], r["units"]) for r in rows] == [
        (f"usage_ledger_p{now:%Y_%m}", 1),
        (f"usage_ledger_p{late:%Y_%m}", 9),
    ]
