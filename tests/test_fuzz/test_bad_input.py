"""Hostile bodies on the ingest and OTLP endpoints: each gets a clear 4xx or a per-event rejection, never a 500.

Regressions: deep nesting (RecursionError), invalid UTF-8 (UnicodeDecodeError) and metadata numbers beyond
PostgreSQL's numeric range (the whole batch's insert failed, so a client would retry it forever) were 500s.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.read import reader
from tests.support.server import RunningLedger
from usage_ledger_contract.limits import MAX_UNITS

GOOD = json.dumps(event(idempotencyKey="good-1")).encode()


def one_event(**fields: object) -> bytes:
    """An event whose fields are spliced in as raw JSON text (so the body may be anything but valid JSON)."""
    base = {k: json.dumps(v).encode() for k, v in event(idempotencyKey="bad-1").items()}
    base.update({k: v if isinstance(v, bytes) else json.dumps(v).encode() for k, v in fields.items()})
    return b"{" + b",".join(json.dumps(k).encode() + b":" + v for k, v in base.items()) + b"}"


def batch(*events: bytes) -> bytes:
    return b'{"events":[' + b",".join(events) + b"]}"


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b'{"a":' * depth + leaf + b"}" * depth


# Whole body unreadable: 400 with a message. (JSON that is bad only inside one event is that event's problem
# alone since issue 12: see BAD_EVENTS.)
BAD_BODIES = {
    "deeply nested body": b'{"events":{' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    "unbalanced brackets": b'{"events":[' + b"[" * 100 + b"]}",
    "trailing garbage": b'{"events": []} trailing',
    "byte order mark": b'\xef\xbb\xbf{"events": []}',
    "empty body": b"",
    "null body": b"null",
    "events is not a list": b'{"events": {"0": {}}}',
}

# One event bad: 200, that event rejected naming the field, the good one stored.
BAD_EVENTS = {
    "invalid UTF-8 in tenantId": (one_event(tenantId=b'"\xff\xfe"'), "event"),
    "invalid UTF-8 in idempotencyKey": (one_event(idempotencyKey=b'"k\xed\xa0\x80"'), "event"),
    "invalid UTF-8 in metadata": (one_event(metadata=b'{"a": "\xc3\x28"}'), "metadata"),
    "metadata nested past the limit": (one_event(metadata=nested(17)), "metadata"),
    "oversized metadata": (one_event(metadata={"blob": "x" * 20_000}), "metadata"),
    "metadata number too large for numeric": (one_event(metadata=b'{"n": 1e999999}'), "metadata"),
    "metadata number too small for numeric": (one_event(metadata=b'{"n": 1e-999999}'), "metadata"),
    "metadata zero with a huge scale": (one_event(metadata=b'{"n": 0e-99999}'), "metadata"),
    "units past bigint": (one_event(units=b"9" * 400), "units"),
    "units as a float": (one_event(units=1e3), "units"),
    "units NUL-laden string": (one_event(units="1\x00"), "units"),
    "event is not an object": (b"[1, 2, 3]", "event"),
    "event is null": (b"null", "event"),
    "tenant with NUL": (one_event(tenantId="a\x00b"), "tenantId"),
    "metadata key with NUL": (one_event(metadata=b'{"a\\u0000": 1}'), "metadata"),
    "year past 9999": (one_event(occurredAt="99999-01-01T00:00:00Z"), "occurredAt"),
    "event nested past any limit": (b"[" * 100_000 + b"]" * 100_000, "event"),
    "metadata nested past any limit": (one_event(metadata=nested(100_000)), "event"),
    "NaN units": (one_event(units=b"NaN"), "event"),
    "Infinity in metadata": (one_event(metadata=b'{"x": Infinity}'), "event"),
    "lone surrogate escape": (one_event(tenantId=b'"\\ud800"'), "event"),
    "lone low surrogate in metadata": (one_event(metadata=b'{"a": "x\\udc00"}'), "event"),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_an_unreadable_body_is_a_400_with_a_message(client: httpx.Client, sql: SQL, body: bytes) -> None:
    response = client.post("/api/usage/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 0


@pytest.mark.parametrize(("bad", "field"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_a_bad_event_is_rejected_by_field_and_the_rest_of_its_batch_is_stored(
    client: httpx.Client, sql: SQL, bad: bytes, field: str
) -> None:
    response = client.post("/api/usage/events", content=batch(GOOD, bad), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["accepted"], report["rejected"]) == (1, 1), report
    (error,) = report["errors"]
    assert (error["index"], error["field"]) == (1, field), error
    assert error["message"]
    assert sql.fetchval("SELECT idempotency_key FROM usage_ledger") == "good-1"


def test_a_big_but_storable_metadata_number_is_kept_exactly(client: httpx.Client, sql: SQL) -> None:
    body = batch(one_event(metadata=b'{"n": 1e300, "m": 123456789012345678901234567890}'))
    assert client.post("/api/usage/events", content=body).json()["accepted"] == 1
    assert json.loads(sql.fetchval("SELECT metadata::text FROM usage_ledger")) == {
        "n": 10**300,
        "m": 123456789012345678901234567890,  # numeric keeps every digit
    }


def test_duplicate_json_keys_have_one_clear_meaning(client: httpx.Client, sql: SQL) -> None:
    """The last occurrence wins everywhere (as in msgspec, Python's json and PostgreSQL's jsonb)."""
    second = one_event(idempotencyKey="dup-2")
    body = b'{"events": [' + GOOD + b'], "events": [' + second + b"]}"
    assert client.post("/api/usage/events", content=body).json()["accepted"] == 1
    units_twice = one_event(idempotencyKey="dup-3", units=1)[:-1] + b', "units": 5, "metadata": {"a": 1, "a": 2}}'
    assert client.post("/api/usage/events", content=batch(units_twice)).json()["accepted"] == 1
    rows = sql.fetch("SELECT idempotency_key, units, metadata::text AS m FROM usage_ledger ORDER BY idempotency_key")
    assert [(r["idempotency_key"], r["units"], json.loads(r["m"])) for r in rows] == [
        ("dup-2", 1, {"to": "+15550100", "status": "queued"}),
        ("dup-3", 5, {"a": 2}),
    ]


OTLP_JSON = {"Content-Type": "application/json"}
OTLP_BAD = {
    "deeply nested JSON": b'{"resourceSpans":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "deeply nested AnyValue": (
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x","attributes":[{"key":"k","value":'
        + b'{"kvlistValue":{"values":[{"key":"a","value":' * 200
        + b'{"stringValue":"x"}'
        + b"}]}}" * 200
        + b"}]}]}]}]}"
    ),
    "invalid UTF-8": b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\xff"}]}]}]}',
    "NaN": b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":'
    b'[{"key":"usage.units","value":{"doubleValue":NaN}}]}]}]}]}',
    "not an object": b"[1, 2]",
}


@pytest.mark.parametrize("body", OTLP_BAD.values(), ids=OTLP_BAD.keys())
def test_a_bad_otlp_json_body_is_a_400_status(client: httpx.Client, body: bytes) -> None:
    response = client.post("/v1/traces", content=body, headers=OTLP_JSON)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 3 and response.json()["message"]  # google.rpc INVALID_ARGUMENT


@pytest.mark.parametrize(
    "body",
    [b"\x0a\xff\xff\xff\xff\x0f" + b"\x00" * 20, b"\x0a\x08\x12\x06\x12\x04\x2a\x02\xff\xfe", b"\xff" * 64],
    ids=["bad length", "invalid UTF-8 span name", "garbage"],
)
def test_a_bad_otlp_protobuf_body_is_a_400_status(client: httpx.Client, body: bytes) -> None:
    response = client.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 400, response.text


def test_units_are_capped_so_that_no_rollup_bucket_can_overflow(client: httpx.Client, ledger: RunningLedger) -> None:
    """Found by fuzzing: units up to 2**63-1 let two events overflow a bigint 15-minute bucket, failing the
    whole batch (500) forever. Units are now capped per event (MAX_UNITS), far below that."""
    at = event()["occurredAt"]  # one instant: the same 15-minute bucket
    biggest = [event(idempotencyKey=f"big-{n}", units=MAX_UNITS, occurredAt=at) for n in range(20)]
    response = client.post("/api/usage/events", json={"events": [*biggest, event(units=MAX_UNITS + 1)]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (20, 1)
    assert body["errors"][0]["field"] == "units"
    with reader(ledger, "t_acme") as http:  # the one bucket, through whichever aggregates the variant keeps
        [series] = http.get("/api/billing/usage/summary", params={"days": "2"}).json()["series"]
    assert series["totals"] == {"units": 20 * MAX_UNITS, "events": 20}
