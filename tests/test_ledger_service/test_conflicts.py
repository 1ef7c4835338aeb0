"""Conflicts are never absorbed (DESIGN.md invariant 8, issue 13): an event sent again with its key and other
content is answered as a conflict naming its index and what differs, changes nothing, is kept for inspection
(GET /api/admin/conflicts, `usage-ledger conflicts`) and counted in /metrics; on the JSON API, OTLP and the
webhooks alike."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from harness.standins import twilio as twilio_standin
from ledger_service.settings import Settings
from tests.support.admin import admin
from tests.support.events import event
from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from tests.test_ledger_service.test_cli_and_settings import run_cli
from tests.test_ledger_service.test_otlp import PROTOBUF, proto_request, proto_span, usage_attributes
from usage_ledger_contract import attributes as usage


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"twilio_auth_token": SecretStr(twilio_standin.AUTH_TOKEN)})


def post(client: httpx.Client, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/api/usage/events", json={"events": events})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def listed(ledger: RunningLedger, **params: Any) -> list[dict[str, Any]]:
    with admin(ledger) as http:
        response = http.get("/api/admin/conflicts", params=params)
    assert response.status_code == 200, response.text
    conflicts: list[dict[str, Any]] = response.json()["conflicts"]
    return conflicts


def ledger_rows(sql: SQL) -> list[tuple[str, str, int, str]]:
    rows = sql.fetch("SELECT idempotency_key, event_type, units, metadata::text AS m FROM usage_ledger ORDER BY 1")
    return [(r["idempotency_key"], r["event_type"], r["units"], r["m"]) for r in rows]


def test_a_conflicting_resend_is_reported_kept_and_counted_and_changes_nothing(
    ledger: RunningLedger, client: httpx.Client, sql: SQL
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    first = event(tenantId="t_a", units=3, occurredAt=at.isoformat(), metadata={"to": "+15550100", "segments": 3})
    second = event(tenantId="t_a", units=2, occurredAt=at.isoformat())
    post(client, [first, second])
    before = ledger_rows(sql)
    # The same events again, reordered: duplicates. Then each changed in one way, beside a new event.
    same = post(client, [dict(second, metadata=dict(reversed(list(second["metadata"].items())))), first])
    assert (same["accepted"], same["duplicates"], same["conflicts"]) == (0, 2, 0)
    new = event(tenantId="t_a")
    changed = [
        new,
        dict(first, units=4),
        dict(second, eventType="mms"),
        dict(first, metadata={"to": "+15550100", "segments": 4}),
        dict(second, occurredAt=(at - timedelta(minutes=1)).isoformat(), units=9),
    ]
    body = post(client, changed)
    assert (body["accepted"], body["duplicates"], body["rejected"], body["conflicts"]) == (1, 0, 0, 4)
    details = {c["index"]: c for c in body["conflictDetails"]}
    assert {i: details[i]["fields"] for i in details} == {
        1: ["units"],
        2: ["eventType"],
        3: ["metadata"],
        4: ["units", "occurredAt"],
    }
    assert details[1]["idempotencyKey"] == first["idempotencyKey"]
    assert "units: 4, but the stored event has 3" in details[1]["message"]
    # Nothing changed but the one new event.
    assert [r for r in ledger_rows(sql) if r[0] != new["idempotencyKey"]] == before
    # Kept for inspection, newest first; the same conflicting content again counts up, it is not a new row.
    post(client, [dict(first, units=4)])
    kept = listed(ledger, tenantId="t_a")
    assert len(kept) == 4
    by_fields = {tuple(c["fields"]): c for c in kept}
    units = by_fields[("units",)]
    assert (units["tenantId"], units["idempotencyKey"], units["times"], units["via"]) == (
        "t_a",
        first["idempotencyKey"],
        2,
        "api",
    )
    assert units["sent"]["units"] == 4 and units["eventId"] is not None
    assert listed(ledger, tenantId="t_other") == []
    # Pages follow the cursor.
    with admin(ledger) as http:
        page = http.get("/api/admin/conflicts", params={"limit": 3}).json()
        rest = http.get("/api/admin/conflicts", params={"limit": 3, "cursor": page["nextCursor"]}).json()
    assert [c["id"] for c in page["conflicts"] + rest["conflicts"]] == [c["id"] for c in kept]
    assert rest["nextCursor"] is None
    # Counted: 5 conflicting events answered in all.
    metrics = httpx.get(f"{ledger.url}/metrics").text
    assert "usage_ledger_ingest_conflicts_total 5" in metrics
    assert 'usage_ledger_ingest_events_total{outcome="conflict"} 5' in metrics


def test_usage_ledger_conflicts_lists_them(client: httpx.Client, database_url: str) -> None:
    first = event(tenantId="t_a", units=3, idempotencyKey="SM1:sms_outbound")
    post(client, [first])
    post(client, [dict(first, units=30)])
    result = run_cli("conflicts", "--tenant", "t_a", env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert "SM1:sms_outbound" in result.stdout and "units" in result.stdout and "api" in result.stdout
    none = run_cli("conflicts", "--tenant", "t_b", env={"DATABASE_URL": database_url})
    assert none.returncode == 0 and "no conflicts for tenant t_b" in none.stdout


def test_otlp_reports_a_conflict_in_partial_success(ledger: RunningLedger, client: httpx.Client, sql: SQL) -> None:
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()  # the same time in both: only units differ
    stored = usage_attributes(**{usage.UNITS: 2, usage.OCCURRED_AT: at})
    assert client.post("/v1/traces", content=proto_request([proto_span(1, [stored])]), headers=PROTOBUF).is_success
    changed = dict(stored, **{usage.UNITS: 5})
    response = client.post("/v1/traces", content=proto_request([proto_span(2, [changed])]), headers=PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "span 0000000000000002 event #0" in partial.error_message and "conflict" in partial.error_message
    assert "usage.units: 5, but the stored event has 2" in partial.error_message
    assert sql.fetchval("SELECT units FROM usage_ledger") == 2
    [kept] = listed(ledger)
    assert (kept["via"], kept["idempotencyKey"], kept["fields"]) == ("otlp", stored[usage.IDEMPOTENCY_KEY], ["units"])


def test_a_twilio_webhook_with_a_changed_count_is_a_conflict(ledger: RunningLedger, sql: SQL) -> None:
    sid = "SM" + uuid.uuid4().hex
    path = "/webhooks/twilio/t_hooks/sms"

    def deliver(segments: str) -> httpx.Response:
        params = {"MessageSid": sid, "NumSegments": segments, "NumMedia": "0", "From": "+15550100"}
        signature = RequestValidator(twilio_standin.AUTH_TOKEN).compute_signature(ledger.url + path, params)
        headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
        return httpx.post(ledger.url + path, content=urlencode(params), headers=headers, timeout=30)

    assert deliver("3").status_code == 200
    assert deliver("3").status_code == 200  # Twilio's retry: a duplicate
    assert deliver("5").status_code == 200  # Twilio reads TwiML only: the admin list is where it shows
    assert sql.fetchval("SELECT sum(units)::int FROM usage_ledger") == 3
    [kept] = listed(ledger, tenantId="t_hooks")
    # The segment count is in the metadata too.
    assert (kept["via"], kept["idempotencyKey"], kept["fields"], kept["sent"]["units"]) == (
        "webhook",
        f"{sid}:sms_inbound",
        ["units", "metadata"],
        5,
    )
    assert json.loads(httpx.get(f"{ledger.url}/api/admin/conflicts").text)["error"]["code"]


def test_bad_listing_parameters_are_a_400_naming_the_parameter(ledger: RunningLedger) -> None:
    with admin(ledger) as http:
        for params, name in (
            ({"cursor": str(2**64)}, "cursor"),
            ({"limit": "0"}, "limit"),
            ({"tenantId": "t\x00a"}, "tenantId"),
        ):
            response = http.get("/api/admin/conflicts", params=params)
            assert response.status_code == 400 and name in response.text, (params, response.text)
