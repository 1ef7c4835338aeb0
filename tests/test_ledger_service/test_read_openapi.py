"""/schema/openapi.json as served: every read parameter, the bearer schemes per route, every 4xx with its body.

The schema is generated from the handlers' types; these tests hold it to what the service does: each
documented read parameter is accepted and any other refused, the documented security is the one enforced,
and error answers have the documented envelope.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ledger_service.read.service import CSV_COLUMNS
from tests.support.read import reader
from tests.support.server import RunningLedger
from usage_ledger_contract.catalog import SOURCE_NAMES

READ = {
    "/api/billing/usage/summary": {"days", "from", "to", "tz", "source", "eventType"},
    "/api/billing/usage/events": {"limit", "cursor", "from", "to", "source", "eventType"},
    "/api/billing/usage/events.csv": {"from", "to", "source", "eventType"},
}
INGEST = {"/api/usage/events": "post", "/v1/traces": "post"}
WEBHOOKS = [
    "/webhooks/twilio/{tenant_id}/sms",
    "/webhooks/twilio/{tenant_id}/voice-status",
    "/webhooks/twilio/{tenant_id}/ivr",
    "/webhooks/sendgrid/events",
]


@pytest.fixture
def schema(ledger: RunningLedger) -> dict[str, Any]:
    response = httpx.get(f"{ledger.url}/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def is_error_envelope(schema: dict[str, Any], node: dict[str, Any]) -> bool:
    envelope = resolve(schema, node)
    error = resolve(schema, envelope["properties"]["error"])
    return envelope.get("required") == ["error"] and set(error["required"]) == {"code", "message"}


@pytest.mark.parametrize("path", list(READ))
def test_every_read_parameter_is_documented_typed_and_accepted(
    ledger: RunningLedger, schema: dict[str, Any], path: str
) -> None:
    parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
    assert set(parameters) == READ[path]
    assert all(p["in"] == "query" and not p["required"] and p["description"] for p in parameters.values())
    with reader(ledger, "t_doc") as http:
        for name, parameter in parameters.items():
            # Each documented name is one the service takes: whatever it says of the value, not "unknown".
            value = next(iter(parameter.get("examples", {}).values()), {"value": "x"})["value"]
            answer = http.get(path, params={name: value})
            assert "unknown parameter" not in answer.text, (name, answer.text)
        refused = http.get(path, params={"tenantId": "t_other"})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith("tenantId: unknown parameter (accepted: ")


def test_read_parameters_carry_their_types_bounds_and_values(ledger: RunningLedger, schema: dict[str, Any]) -> None:
    summary = {p["name"]: p["schema"] for p in schema["paths"]["/api/billing/usage/summary"]["get"]["parameters"]}
    events = {p["name"]: p["schema"] for p in schema["paths"]["/api/billing/usage/events"]["get"]["parameters"]}
    settings = ledger.settings
    assert (summary["days"]["minimum"], summary["days"]["maximum"]) == (1, settings.summary_max_days)
    assert (events["limit"]["minimum"], events["limit"]["maximum"]) == (1, settings.events_page_max)
    assert {"format": "date", "type": "string"} in summary["from"]["oneOf"]
    assert {"format": "date-time", "type": "string"} in events["from"]["oneOf"]
    assert summary["tz"]["default"] == "UTC"
    assert events["source"]["enum"] == list(SOURCE_NAMES)
    assert set(events["eventType"]["enum"]) == {t.name for t in settings.catalog}


def test_security_schemes_are_declared_and_applied_per_route(ledger: RunningLedger, schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert {name: (s["type"], s["scheme"]) for name, s in schemes.items()} == {
        "ingestKey": ("http", "bearer"),
        "readToken": ("http", "bearer"),
        "adminKey": ("http", "bearer"),
    }
    for path in READ:
        assert schema["paths"][path]["get"]["security"] == [{"readToken": []}]
    for path, method in INGEST.items():
        assert schema["paths"][path][method]["security"] == [{"ingestKey": []}]
    for path, method in {"/api/usage/corrections": "post", "/api/admin/conflicts": "get"}.items():
        assert schema["paths"][path][method]["security"] == [{"adminKey": []}]
    # What is documented is what is enforced: the ingest key does not read, a read token does not ingest.
    ingest_key = {"Authorization": f"Bearer {ledger.settings.ingest_key_values()[0]}"}
    assert httpx.get(f"{ledger.url}/api/billing/usage/summary", headers=ingest_key).status_code == 401
    with reader(ledger, "t_doc") as http:
        assert http.post("/api/usage/events", json={"events": []}).status_code == 401


@pytest.mark.parametrize("path", list(READ))
def test_read_errors_are_documented_with_the_envelope_and_answered_with_it(
    ledger: RunningLedger, schema: dict[str, Any], path: str
) -> None:
    responses = schema["paths"][path]["get"]["responses"]
    assert {"400", "401"} <= set(responses)
    for status in ("400", "401", "503"):
        assert list(responses[status]["content"]) == ["application/json"]
        assert is_error_envelope(schema, responses[status]["content"]["application/json"]["schema"])
    unauthorized = httpx.get(f"{ledger.url}{path}")
    with reader(ledger, "t_doc") as http:
        bad = http.get(path, params={"from": "yesterday"})
    for answer, code in ((unauthorized, "unauthorized"), (bad, "bad_request")):
        assert answer.json()["error"]["code"] == code and answer.json()["error"]["message"]


def test_the_csv_is_documented_as_text_csv_and_the_pages_as_their_models(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    csv = paths["/api/billing/usage/events.csv"]["get"]["responses"]["200"]
    assert list(csv["content"]) == ["text/csv"]
    assert ",".join(CSV_COLUMNS) in csv["description"]
    summary = paths["/api/billing/usage/summary"]["get"]["responses"]["200"]["content"]["application/json"]
    page = paths["/api/billing/usage/events"]["get"]["responses"]["200"]["content"]["application/json"]
    summary_fields = {"tenantId", "timezone", "from", "to", "series", "totalEvents"}
    assert set(resolve(schema, summary["schema"])["properties"]) == summary_fields
    assert set(resolve(schema, page["schema"])["properties"]) == {"events", "nextCursor"}


def test_ingest_otlp_and_webhook_errors_are_documented_with_their_bodies(schema: dict[str, Any]) -> None:
    ingest = schema["paths"]["/api/usage/events"]["post"]["responses"]
    for status in ("400", "401", "413", "415"):
        assert is_error_envelope(schema, ingest[status]["content"]["application/json"]["schema"]), status
    otlp = schema["paths"]["/v1/traces"]["post"]["responses"]
    for status in ("400", "401", "413", "415"):
        status_body = otlp[status]["content"]["application/json"]["schema"]
        assert status_body["description"] == "google.rpc.Status" and "message" in status_body["properties"]
        assert "application/x-protobuf" in otlp[status]["content"]
    for path in WEBHOOKS:
        responses = schema["paths"][path]["post"]["responses"]
        for status in ("400", "403", "413"):
            assert is_error_envelope(schema, responses[status]["content"]["application/json"]["schema"]), (path, status)
