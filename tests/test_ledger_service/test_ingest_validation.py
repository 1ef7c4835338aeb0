"""Every kind of bad event is rejected with its index, the field and the reason; limits are named."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.server import RunningLedger


def from_now(delta: timedelta) -> Callable[[], str]:
    """An occurredAt relative to when the request is sent, not to when the cases were collected."""
    return lambda: (datetime.now(UTC) + delta).isoformat()


BAD_EVENTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown source", event(source="twiliox"), "source", "is not one of"),
    ("unknown event type", event(eventType="fax"), "eventType", "is not a twilio event type"),
    ("type of another source", event(source="openai", eventType="sms_outbound"), "eventType", "openai"),
    ("negative units", event(units=-1), "units", ">= 0"),
    ("fractional units", event(units=1.5), "units", "Expected `int`, got `float`"),
    ("units as a string", event(units="3"), "units", "Expected `int`, got `str`"),
    ("units over the per-event limit", event(units=10**9 + 1), "units", "<= 1000000000"),
    ("units beyond bigint", event(units=2**63), "units", "<= 1000000000"),
    ("missing tenant", event(tenantId=...), "tenantId", "missing required field"),
    ("empty tenant", event(tenantId=""), "tenantId", "length >= 1"),
    ("tenant with NUL", event(tenantId="a\u0000b"), "tenantId", "control characters"),
    (
        "too old",
        event(occurredAt=from_now(-timedelta(days=36))),
        "occurredAt",
        "35 days in the past",
    ),
    (
        "in the future",
        event(occurredAt=from_now(timedelta(minutes=10))),
        "occurredAt",
        "300 seconds",
    ),
    ("naive timestamp", event(occurredAt="2026-11-01T10:00:00"), "occurredAt", "timezone"),
    ("metadata not an object", event(metadata=[1, 2]), "metadata", "must be a JSON object"),
    ("metadata too large", event(metadata={"x": "y" * 9000}), "metadata", "the limit is 8192"),
    (
        "metadata too deep",
        event(metadata={"a": {"b": {"c": [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}}}),
        "metadata",
        "deeper",
    ),
    ("metadata with NUL", event(metadata={"note": "a\u0000b"}), "metadata", "NUL character"),
    ("unknown field", event(occuredAt="2026-11-01T10:00:00Z"), "occuredAt", "unknown field"),
    ("no idempotency key", event(idempotencyKey=...), "idempotencyKey", "is required"),
    ("bad trace id", event(traceId="xyz"), "traceId", "32 lowercase hex"),
]


@pytest.mark.parametrize(("case", "bad", "field", "reason"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
def test_bad_event_is_rejected_and_named(
    client: httpx.Client, sql: SQL, case: str, bad: dict[str, Any], field: str, reason: str
) -> None:
    bad = {name: value() if callable(value) else value for name, value in bad.items()}
    response = client.post("/api/usage/events", json={"events": [event(), bad]})
    body = response.json()
    assert response.status_code == 200, body
    assert (body["accepted"], body["rejected"]) == (1, 1), body
    [error] = body["errors"]
    assert (error["index"], error["field"]) == (1, field), error
    assert reason in error["message"], error
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 1


def test_an_id_without_a_key_becomes_the_key(client: httpx.Client, sql: SQL) -> None:
    the_id = "0b5a1f7e-3c1d-4a8e-9a59-1f1d3f6a9b10"
    for _ in range(2):
        client.post("/api/usage/events", json={"events": [event(idempotencyKey=..., id=the_id)]})
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 1
    assert sql.fetchval("SELECT idempotency_key FROM usage_ledger") == the_id


def test_missing_or_wrong_key_is_401(ledger: RunningLedger) -> None:
    with httpx.Client(base_url=ledger.url) as http:
        missing = http.post("/api/usage/events", json={"events": [event()]})
        wrong = http.post("/api/usage/events", json={"events": [event()]}, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["error"]["message"]
    assert wrong.status_code == 401
    assert wrong.json()["error"] == {"code": "unauthorized", "message": "the ingest key is not valid"}


def test_too_many_events_is_413_naming_the_limit(client: httpx.Client, sql: SQL) -> None:
    response = client.post("/api/usage/events", json={"events": [event() for _ in range(10_001)]})
    assert response.status_code == 413
    assert "limit is 10000 (LEDGER_MAX_BATCH_EVENTS)" in response.json()["error"]["message"]
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 0


def test_too_many_bytes_is_413_naming_the_limit(client: httpx.Client) -> None:
    huge = b'{"events": [' + b" " * (16 * 1024 * 1024) + b"]}"
    response = client.post("/api/usage/events", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "LEDGER_MAX_BODY_BYTES" in response.json()["error"]["message"]


def test_streamed_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(17):
            yield b" " * (1024 * 1024)

    response = client.post("/api/usage/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"evts": []}', "body must be an object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_unparseable_body_is_400(client: httpx.Client, body: bytes, reason: str) -> None:
    response = client.post("/api/usage/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert reason in response.json()["error"]["message"]


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    response = client.post("/api/usage/events", content=b"a=b", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
