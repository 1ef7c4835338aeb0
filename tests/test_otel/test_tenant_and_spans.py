"""Tenant context across tasks and threads, unattributed usage, and the usage span events with their ids."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import usage_ledger_client
from tests.conftest import TEST_INGEST_KEY
from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from usage_ledger_client import current_tenant, record_usage_event, usage_tenant
from usage_ledger_contract import attributes as attr


async def test_each_asyncio_task_keeps_its_own_tenant() -> None:
    seen: dict[str, list[str | None]] = {}

    async def work(tenant: str) -> None:
        with usage_tenant(tenant):
            for _ in range(5):
                await asyncio.sleep(0)
                seen.setdefault(tenant, []).append(current_tenant())

    await asyncio.gather(*(work(f"t_{n}") for n in range(10)))
    assert seen == {f"t_{n}": [f"t_{n}"] * 5 for n in range(10)}
    assert current_tenant() is None


def test_threads_see_the_tenant_when_started_with_a_copied_context() -> None:
    results: dict[str, str | None] = {}
    with usage_tenant("t_outer"):
        ctx = contextvars.copy_context()
        copied = threading.Thread(target=ctx.run, args=(lambda: results.update(copied=current_tenant()),))
        bare = threading.Thread(target=lambda: results.update(bare=current_tenant()))
        with ThreadPoolExecutor(1) as pool:
            # asyncio.to_thread / loop.run_in_executor copy the context; a plain pool does not.
            results["pool"] = pool.submit(contextvars.copy_context().run, current_tenant).result(timeout=10)
        for thread in (copied, bare):
            thread.start()
            thread.join(timeout=10)
    assert results == {"copied": "t_outer", "bare": None, "pool": "t_outer"}


def test_tenant_travels_as_baggage_and_is_read_back_from_it() -> None:
    with usage_tenant("t_bag"):
        assert baggage.get_baggage(attr.BAGGAGE_TENANT) == "t_bag"
    # A context extracted from an incoming request carries only the baggage.
    token = otel_context.attach(baggage.set_baggage(attr.BAGGAGE_TENANT, "t_remote"))
    try:
        assert current_tenant() == "t_remote"
        with usage_tenant("t_local"):
            assert current_tenant() == "t_local"
    finally:
        otel_context.detach(token)


def test_unattributed_usage_is_stored_counted_and_warned_once(
    configured: RunningLedger, sql: SQL, caplog: pytest.LogCaptureFixture
) -> None:
    import usage_ledger_client.record

    usage_ledger_client.record._last_unattributed_warning = -1e9  # a fresh interval, whatever earlier tests did
    before = usage_ledger_client.metrics().unattributed
    with caplog.at_level(logging.WARNING, logger="usage_ledger_client.record"):
        for _ in range(3):
            record_usage_event(None, "sendgrid", "email_sent", 2)
        with usage_tenant("t_known"):
            record_usage_event(None, "sendgrid", "email_sent", 1)
    assert usage_ledger_client.flush(timeout=60)
    assert usage_ledger_client.metrics().unattributed - before == 3
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "no tenant" in caplog.records[0].message
    rows = {r["tenant_id"]: r["sum"] for r in sql.fetch("SELECT tenant_id, sum(units) FROM usage_ledger GROUP BY 1")}
    assert rows == {attr.UNATTRIBUTED_TENANT: 6, "t_known": 1}


def test_usage_rides_on_the_current_span_and_the_row_points_back_to_it(
    configured: RunningLedger, sql: SQL, spans: InMemorySpanExporter
) -> None:
    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("twilio.messages.create") as span, usage_tenant("t_1"):
        key = record_usage_event(None, "twilio", "sms_outbound", 2, {"to": "+15550100"})
        ids = span.get_span_context()
    assert usage_ledger_client.flush(timeout=60)
    (finished,) = [s for s in spans.get_finished_spans() if s.name == "twilio.messages.create"]
    (event,) = finished.events
    assert event.name == attr.USAGE_EVENT_NAME
    assert dict(event.attributes or {}) == {
        attr.TENANT_ID: "t_1",
        attr.SOURCE: "twilio",
        attr.EVENT_TYPE: "sms_outbound",
        attr.UNITS: 2,
        attr.IDEMPOTENCY_KEY: key,
        attr.METADATA: '{"to":"+15550100"}',
    }
    assert (finished.attributes or {}).get(attr.SPAN_MARKER) is True  # what the Collector routes on
    row = sql.fetch("SELECT trace_id, span_id, idempotency_key FROM usage_ledger")[0]
    assert (row["trace_id"], row["span_id"]) == (f"{ids.trace_id:032x}", f"{ids.span_id:016x}")
    assert row["idempotency_key"] == key


def test_with_no_span_a_short_span_of_its_own_carries_the_event(
    configured: RunningLedger, sql: SQL, spans: InMemorySpanExporter
) -> None:
    record_usage_event("t_1", "openai", "ai_message", 42)
    assert usage_ledger_client.flush(timeout=60)
    (own,) = [s for s in spans.get_finished_spans() if s.events and s.events[0].name == attr.USAGE_EVENT_NAME]
    assert own.name == "usage openai.ai_message"
    assert (own.attributes or {}).get(attr.SPAN_MARKER) is True
    assert own.events[0].attributes is not None and own.events[0].attributes[attr.UNITS] == 42
    assert own.context is not None
    assert sql.fetchval("SELECT trace_id FROM usage_ledger") == f"{own.context.trace_id:032x}"


def test_the_exporter_never_traces_its_own_requests(
    configured: RunningLedger, sql: SQL, spans: InMemorySpanExporter, spool_dir: Path
) -> None:
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument()
    try:
        import httpx

        httpx.get(f"{configured.url}/readyz", timeout=10)  # the app's own call: traced
        assert [s.kind for s in spans.get_finished_spans()] == [trace.SpanKind.CLIENT]
        spans.clear()
        usage_ledger_client.shutdown(timeout=0)  # the next pipeline builds its httpx client while instrumentation is on
        usage_ledger_client.configure(configured.url, TEST_INGEST_KEY, spool_dir=spool_dir, max_delay=0.05)
        with usage_tenant("t_1"):
            for _ in range(5):
                record_usage_event(None, "twilio", "call_out", 1)
        assert usage_ledger_client.flush(timeout=60)
    finally:
        instrumentor.uninstrument()
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 5
    http_spans = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    assert http_spans == [], [s.name for s in http_spans]
