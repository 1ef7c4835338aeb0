"""Property tests of per-event validation, through the real HTTP endpoint and PostgreSQL.

Valid events (any tenant, registered type, units in range, metadata within limits, occurredAt in the
window, any UTC offset) are always stored; each mutated event is rejected with its index and the field
that was broken, and never stops the valid events of its batch.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.postgres import SQL
from usage_ledger_contract.catalog import CATALOG
from usage_ledger_contract.limits import MAX_UNITS

REGISTERED = sorted((e.source, e.name) for e in CATALOG)
PRINTABLE = st.characters(categories=["L", "N", "P", "S"], exclude_characters="\x00")
tenants = st.text(PRINTABLE, min_size=1, max_size=40)
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(PRINTABLE, max_size=20)
metadata = st.dictionaries(
    st.text(PRINTABLE, max_size=10), json_scalars | st.lists(json_scalars, max_size=3), max_size=6
)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    source, event_type = draw(st.sampled_from(REGISTERED))
    ago = draw(st.integers(0, 30 * 86_400))
    occurred = (datetime.now(UTC) - timedelta(seconds=ago)).astimezone(draw(offsets))
    event = {
        "tenantId": draw(tenants),
        "source": source,
        "eventType": event_type,
        "units": draw(st.integers(0, MAX_UNITS)),
        "idempotencyKey": f"{uuid.uuid4()}-{draw(st.text(PRINTABLE, max_size=20))}",
        "occurredAt": occurred.isoformat(),
        "metadata": draw(metadata),
    }
    if draw(st.booleans()):
        event["traceId"] = draw(st.text("0123456789abcdef", min_size=32, max_size=32))
        event["spanId"] = draw(st.text("0123456789abcdef", min_size=16, max_size=16))
    return event


def _set(field: str, value: object) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda e: {**e, field: value}


def _drop(field: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda e: {k: v for k, v in e.items() if k != field}


def _ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).isoformat()


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


# (field the ledger must name, how to break a valid event)
MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
    ("tenantId", _drop("tenantId")),
    ("tenantId", _set("tenantId", "")),
    ("tenantId", _set("tenantId", "t\x01bell")),
    ("tenantId", _set("tenantId", "t" * 129)),
    ("source", _set("source", "carrier_pigeon")),
    ("eventType", lambda e: {**e, "source": "sendgrid", "eventType": "sms_outbound"}),
    ("eventType", _drop("eventType")),
    ("units", _set("units", -1)),
    ("units", _set("units", 1.5)),
    ("units", _set("units", "3")),
    ("units", _set("units", MAX_UNITS + 1)),
    ("units", _set("units", 2**63)),
    ("units", _set("units", 10**30)),
    ("units", _drop("units")),
    ("occurredAt", _set("occurredAt", _ago(timedelta(days=40)))),
    ("occurredAt", _set("occurredAt", _ago(-timedelta(hours=1)))),
    ("occurredAt", _set("occurredAt", "2026-01-01T00:00:00")),  # no offset
    ("occurredAt", _set("occurredAt", "yesterday")),
    ("metadata", _set("metadata", [1, 2])),
    ("metadata", _set("metadata", "text")),
    ("metadata", _set("metadata", {"blob": "x" * 9000})),
    ("metadata", _set("metadata", _nested(40))),
    ("metadata", _set("metadata", {"nul": "a\x00b"})),
    ("idempotencyKey", _drop("idempotencyKey")),
    ("idempotencyKey", _set("idempotencyKey", "")),
    ("idempotencyKey", _set("idempotencyKey", "k\x1fkey")),
    ("traceId", _set("traceId", "Z" * 32)),
    ("spanId", _set("spanId", "00f067aa0ba902b")),
    ("id", _set("id", "not-a-uuid")),
    ("tenant", _set("tenant", "a typo of tenantId")),  # unknown fields are refused, named
]

batches = st.tuples(
    st.lists(valid_events(), max_size=6),
    st.lists(st.tuples(valid_events(), st.sampled_from(range(len(MUTATIONS)))), max_size=4),
    st.randoms(use_true_random=False),
)


SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW_OK)
@given(batch=batches)
def test_valid_events_are_stored_and_each_mutated_one_is_rejected_naming_its_field(
    client: httpx.Client, sql: SQL, batch: tuple[list[dict[str, Any]], list[tuple[dict[str, Any], int]], Any]
) -> None:
    valid, to_break, rng = batch
    tagged: list[tuple[str | None, dict[str, Any]]] = [(None, e) for e in valid]
    tagged += [(MUTATIONS[m][0], MUTATIONS[m][1](e)) for e, m in to_break]
    rng.shuffle(tagged)
    response = client.post("/api/usage/events", json={"events": [e for _, e in tagged]})
    assert response.status_code == 200, response.text
    report = response.json()
    expected_errors = {i: field for i, (field, _) in enumerate(tagged) if field is not None}
    assert {e["index"]: e["field"] for e in report["errors"]} == expected_errors, report
    assert all(e["message"] for e in report["errors"])
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (len(valid), 0, len(expected_errors))
    if valid:
        keys = [e["idempotencyKey"] for e in valid]
        stored = sql.fetch(
            "SELECT tenant_id, idempotency_key, units, metadata FROM usage_ledger WHERE idempotency_key = ANY($1)", keys
        )
        by_key = {r["idempotency_key"]: r for r in stored}
        for e in valid:
            row = by_key[e["idempotencyKey"]]
            assert (row["tenant_id"], row["units"]) == (e["tenantId"], e["units"])
            assert json.loads(row["metadata"]) == e["metadata"]
