"""One contract, and everyone agrees with it: the client, the ledger, the OpenAPI schema and the docs.

Every event type of the catalog goes through the real path (record_usage_event → exporter → ledger →
summary) and comes back with the catalog's unit; the served schema and replit.md list exactly the
catalog's sources and types; a type the operator declares on the ledger works end to end, and one it
did not declare is refused by the ledger, not silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import usage_ledger_client
from ledger_service.settings import DeclaredEventType, Settings
from tests.conftest import TEST_INGEST_KEY
from tests.support.processes import FAST
from tests.support.read import reader
from tests.support.server import RunningLedger, start_ledger
from usage_ledger_contract import fields
from usage_ledger_contract.catalog import CATALOG, SOURCE_NAMES

ROOT = Path(__file__).resolve().parents[2]


def test_every_catalog_type_round_trips_from_the_client_to_the_summary_with_its_unit(
    configured: RunningLedger,
) -> None:
    for n, entry in enumerate(CATALOG):
        usage_ledger_client.record_usage_event("t_catalog", entry.source, entry.name, 10 + n)
    assert usage_ledger_client.flush(timeout=60)
    with reader(configured, "t_catalog") as http:
        summary = http.get("/api/billing/usage/summary", params={"days": 1}).json()
    seen = {(s["source"], s["eventType"]): (s["unit"], s["totals"]["units"]) for s in summary["series"]}
    expected = {(e.source, e.name): (e.unit, 10 + n) for n, e in enumerate(CATALOG)}
    assert seen == expected


def test_the_openapi_schema_names_the_contracts_fields_sources_and_types(client: httpx.Client) -> None:
    schema = client.get("/schema/openapi.json").json()
    body = schema["paths"]["/api/usage/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    event = body["properties"]["events"]["items"]
    assert set(event["properties"]) == {f.wire for f in fields.ALL}
    assert set(event["required"]) == {
        f.wire for f in (fields.TENANT_ID, fields.SOURCE, fields.EVENT_TYPE, fields.UNITS)
    }
    assert event["properties"]["source"]["enum"] == list(SOURCE_NAMES)
    assert set(event["properties"]["eventType"]["enum"]) == {e.name for e in CATALOG}


def test_replit_md_lists_every_catalog_type_with_its_unit() -> None:
    text = (ROOT / "replit.md").read_text()
    rows = set(re.findall(r"^\| (\w+) \| `?(\w+)`? \| (\w+) \|", text, re.M))
    for entry in CATALOG:
        assert (entry.source, entry.name, entry.unit) in rows, f"replit.md does not list {entry.source}/{entry.name}"


@pytest.fixture
def ledger_with_a_declared_type(settings: Settings) -> Iterator[RunningLedger]:
    declared = DeclaredEventType(event_type="report_export", unit="report", label="Report exports")
    running = start_ledger(settings.model_copy(update={"event_types": [declared]}))
    try:
        yield running
    finally:
        running.stop()


def test_a_system_type_declared_on_the_ledger_works_end_to_end_and_an_undeclared_one_is_refused(
    ledger_with_a_declared_type: RunningLedger, spool_dir: Path
) -> None:
    ledger = ledger_with_a_declared_type
    usage_ledger_client.configure(ledger.url, TEST_INGEST_KEY, spool_dir=spool_dir, **FAST)  # type: ignore[arg-type]
    usage_ledger_client.record_usage_event("t_jobs", "system", "report_export", 3)
    usage_ledger_client.record_usage_event("t_jobs", "system", "not_declared", 1)
    assert usage_ledger_client.flush(timeout=60)
    assert usage_ledger_client.metrics().rejected == 1  # kept in the spool's rejected table, not dropped
    with reader(ledger, "t_jobs") as http:
        summary = http.get("/api/billing/usage/summary", params={"days": 1}).json()
    assert [(s["eventType"], s["unit"], s["totals"]["units"]) for s in summary["series"]] == [
        ("report_export", "report", 3)
    ]
