"""Issue 12, class 5: every unexpected input is a 4xx with a reason, and a per-event problem rejects that event
alone (never a 500, never a traceback in the log: the `target` fixture reads the log at the end).

Timestamps of thousands of digits, in other scripts' digits, past what a datetime holds; counts that are not
counts; a Host header whose port is out of range; lone surrogate escapes in an ingest batch, whose good
events are stored; and the client library, which stores the good events of a batch a ledger refuses whole.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from urllib.parse import urlencode

import httpx
import msgspec
from hypothesis import given
from hypothesis import strategies as st

from harness.standins.sendgrid import event_batch, processed_event
from ledger_service.ingest.json_split import split_events
from tests.conftest import TEST_INGEST_KEY
from tests.support.events import event
from tests.test_attacks.conftest import Target
from tests.test_attacks.raw import post, request, twilio_signature
from usage_ledger_client.exporter import ExportStatus, UsageExporter
from usage_ledger_client.stats import Stats
from usage_ledger_client.transport import HttpTransport
from usage_ledger_contract.wire import EventBatch

SENDGRID_PATH = "/webhooks/sendgrid/events"
FORM = "application/x-www-form-urlencoded"


def sendgrid(target: Target, payload: bytes, **header_changes: str) -> int | str:
    headers = {"Content-Type": "application/json", **target.signer.sign(payload), **header_changes}
    return post(target.port, SENDGRID_PATH, headers, payload)


def test_signature_headers_that_are_not_what_they_claim_are_403(target: Target) -> None:
    payload = event_batch([processed_event("a@example.com", "XH1", 1)])
    timestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
    signature = "X-Twilio-Email-Event-Webhook-Signature"
    odd_headers: Sequence[dict[str, str]] = [
        {timestamp: "9" * 5000},
        {timestamp: "1" * 40},
        {timestamp: "\u00b2"},  # "²": str.isdigit() says yes, int() says no
        {timestamp: "-1"},
        {timestamp: "1e9"},
        {timestamp: ""},
        {signature: "A" * 30_000},
        {signature: "not base64!"},
        {signature: ""},
    ]
    with target.watch("SendGrid signature headers: 5000-digit, '²', empty, 30 KB... (9 kinds)") as outcome:
        for changes in odd_headers:
            outcome.saw(sendgrid(target, payload, **changes))
    assert outcome.statuses == {"403": 9}


def test_odd_event_timestamps_reject_only_their_event(target: Target) -> None:
    stamps: list[object] = [9_223_372_036_854_775_807, 10**18, -1, 0, "1715600000", True, 1.5e300, None]
    for stamp in stamps:
        good = processed_event("good@example.com", f"XG{uuid.uuid4().hex[:8]}", 1)
        bad = processed_event("bad@example.com", f"XB{uuid.uuid4().hex[:8]}", 2)
        if stamp is None:
            bad.pop("sg_message_id"), bad.pop("sg_event_id")
        else:
            bad["timestamp"] = stamp
        with target.watch(f"a signed SendGrid batch, one event's timestamp {str(stamp)[:24]}") as outcome:
            answer = httpx.post(
                target.url + SENDGRID_PATH,
                content=(payload := json.dumps([good, bad, "not an event"]).encode()),
                headers={"Content-Type": "application/json", **target.signer.sign(payload)},
            )
            outcome.saw(answer.status_code)
        assert answer.status_code == 400, answer.text
        message = answer.json()["error"]["message"]
        assert message.startswith("2 of 3 usage events were rejected: event 1: ")
        assert ("sg_message_id" if stamp is None else "timestamp: must be Unix seconds") in message
        assert "event 2: event: must be a JSON object" in message
        key = f"{good['sg_message_id']}:email_sent"
        assert target.sql.fetchval("SELECT count(*) FROM usage_ledger WHERE idempotency_key = $1", key) == 1
    huge = b'[{"event": "processed", "sg_message_id": "x", "timestamp": ' + b"9" * 5000 + b"}]"
    with target.watch("a signed SendGrid batch with a 5000-digit timestamp") as outcome:
        outcome.saw(sendgrid(target, huge))
    assert outcome.statuses == {"400": 1}


def test_twilio_counts_that_are_not_counts_are_400(target: Target) -> None:
    path = "/webhooks/twilio/t_odd/voice-status"
    odd = [
        {"NumSegments": "\u00b2"},
        {"CallDuration": "9" * 5000},
        {"CallDuration": "99999999999999999999"},
        {"CallDuration": "\u0661\u0662"},  # Arabic-Indic digits
        {"CallDuration": "-5"},
    ]
    with target.watch("signed Twilio status callbacks with odd counts (5 kinds)") as outcome:
        for changes in odd:
            params = {"CallSid": "CA" + uuid.uuid4().hex, "CallStatus": "completed", **changes}
            headers = {"Content-Type": FORM, "X-Twilio-Signature": twilio_signature(target.url + path, params)}
            outcome.saw(post(target.port, path, headers, urlencode(params).encode()))
    # NumSegments is not read on a status callback: that one is a plain call; the four odd durations are 400.
    assert outcome.statuses == {"200": 1, "400": 4}


def test_odd_hosts_and_signature_settings_are_403(target: Target) -> None:
    path = "/webhooks/twilio/t_host/sms"
    params = {"MessageSid": "SM" + uuid.uuid4().hex}
    body = urlencode(params).encode()
    signature = twilio_signature(target.url + path, params)
    heads = [
        b"Host: 127.0.0.1:99999",
        b"Host: [::1",
        b"Host: " + b"h" * 4000,
    ]
    with target.watch("signed Twilio SMS with a bad Host (port 99999, '[::1', 4000 chars), odd algorithm") as outcome:
        for host in heads:
            raw = (
                f"POST {path} HTTP/1.1\r\n".encode()
                + host
                + f"\r\nContent-Type: {FORM}\r\nX-Twilio-Signature: {signature}\r\n".encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            outcome.saw(request(target.port, raw))
        settings = {"X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_MD5"}
        headers = {"Content-Type": FORM, "X-Twilio-Signature": signature, **settings}
        outcome.saw(post(target.port, path, headers, body))
    assert set(outcome.statuses) <= {"400", "403"}, outcome.statuses
    assert target.sql.fetchval("SELECT count(*) FROM usage_ledger WHERE tenant_id = 't_host'") == 0


def ingest_event(key: str, **changes: object) -> bytes:
    return json.dumps(event(idempotencyKey=key, **changes)).encode()


def test_a_lone_surrogate_rejects_its_event_only(target: Target) -> None:
    run = uuid.uuid4().hex[:8]
    good = [ingest_event(f"{run}-good-{i}") for i in range(200)]
    bad = [
        ingest_event(f"{run}-bad-1").replace(b'"status"', b'"\\ud800"'),
        ingest_event(f"{run}-bad-2").replace(b'"queued"', b'"x\\udfff"'),
        ingest_event(f"{run}-bad-3").replace(b'"t_', b'"\\ud83d\\u0041t_'),
    ]
    batch = b'{"events": [' + b",".join([*good[:100], *bad, *good[100:]]) + b"]}"
    headers = {"Authorization": f"Bearer {TEST_INGEST_KEY}", "Content-Type": "application/json"}
    with target.watch("an ingest batch of 203 events, 3 with lone surrogate escapes") as outcome:
        answer = httpx.post(target.url + "/api/usage/events", content=batch, headers=headers)
        outcome.saw(answer.status_code)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["accepted"], report["rejected"]) == (200, 3), report
    assert [e["index"] for e in report["errors"]] == [100, 101, 102]
    assert all("surrogate" in e["message"] for e in report["errors"]), report["errors"]
    stored = target.sql.fetchval("SELECT count(*) FROM usage_ledger WHERE idempotency_key LIKE $1", f"{run}-%")
    assert stored == 200


def test_the_client_library_keeps_the_good_events_of_a_batch_refused_whole(target: Target) -> None:
    """An event the ledger cannot even split out (broken brackets, as a damaged spool record could be) makes
    the ledger refuse the whole batch with a 400: the exporter halves the batch until only that event is
    refused, and stores the others."""
    run = uuid.uuid4().hex[:8]
    events = [msgspec.json.encode(event(idempotencyKey=f"{run}-{i}")) for i in range(40)]
    events[17] = b'{"tenantId": ["unclosed'
    refused: list[tuple[bytes, str]] = []
    exporter = UsageExporter(
        HttpTransport(target.url, TEST_INGEST_KEY), Stats(), lambda evs, why: refused.extend((e, why) for e in evs)
    )
    with target.watch("the client exporter: a batch of 40 with one structurally broken event") as outcome:
        result = exporter.export(events)
        outcome.saw(result.status.value)
    exporter.shutdown()
    assert result.status is ExportStatus.SUCCESS
    assert [event for event, _ in refused] == [events[17]]
    assert refused[0][1].startswith("HTTP 400")
    stored = target.sql.fetchval("SELECT count(*) FROM usage_ledger WHERE idempotency_key LIKE $1", f"{run}-%")
    assert stored == 39


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(st.lists(json_values, max_size=6), st.sampled_from([b"", b" ", b"\n\t "]))
def test_the_tolerant_split_finds_the_events_the_fast_decoder_finds(events: list[object], space: bytes) -> None:
    """The slow path (taken only when the batch does not decode) reads good events exactly as the fast one."""
    body = space + b'{"events"' + space + b":" + space + json.dumps(events).encode() + space + b"}" + space
    fast = [msgspec.json.decode(raw) for raw in msgspec.json.decode(body, type=EventBatch).events]
    split = split_events(body)
    assert split is not None
    assert [msgspec.json.decode(raw) for raw in split] == fast
