"""GenAI spans from other languages' instrumentations, through POST /v1/traces, become ledger rows.

The spans are made by a real SDK and sent by the official OTLP exporter, shaped as a GenAI instrumentation
in another language makes them (semantic-convention attributes, older spellings from other emitters),
with the tenant named by `usage.tenant_id` or by baggage `tenant.id` copied onto the span.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Tracer

from tests.conftest import TEST_INGEST_KEY
from tests.support.postgres import SQL
from tests.support.server import RunningLedger
from usage_ledger_contract import attributes as attr


@pytest.fixture
def tracer(ledger: RunningLedger) -> Iterator[Tracer]:
    exporter = OTLPSpanExporter(
        endpoint=f"{ledger.url}/v1/traces", headers={"Authorization": f"Bearer {TEST_INGEST_KEY}"}, timeout=10
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider.get_tracer("another-language-genai")
    finally:
        provider.shutdown()


def chat_span(tracer: Tracer, attributes: dict[str, Any], usage_event: dict[str, Any] | None = None) -> None:
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=attributes) as span:
        if usage_event is not None:
            span.add_event(attr.USAGE_EVENT_NAME, usage_event)


def rows(sql: SQL) -> list[dict[str, Any]]:
    found = sql.fetch("SELECT tenant_id, source, event_type, units, idempotency_key, metadata::text FROM usage_ledger")
    return [{**dict(r), "metadata": json.loads(r["metadata"])} for r in found]


def test_a_genai_span_with_current_names_is_one_row_with_the_token_breakdown(tracer: Tracer, sql: SQL) -> None:
    attributes = {
        attr.GEN_AI_OPERATION: "chat",
        attr.GEN_AI_PROVIDER: "openai",
        attr.GEN_AI_REQUEST_MODEL: "gpt-4o",
        attr.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
        attr.GEN_AI_RESPONSE_ID: "chatcmpl-from-node",
        attr.GEN_AI_INPUT_TOKENS: 120,
        attr.GEN_AI_OUTPUT_TOKENS: 30,
        attr.GEN_AI_CACHE_READ_TOKENS: 100,
        attr.GEN_AI_CACHE_CREATION_TOKENS: 20,
        attr.GEN_AI_REASONING_TOKENS: 12,
        attr.TENANT_ID: "t_node",
    }
    chat_span(tracer, attributes)
    chat_span(tracer, attributes)  # the sender retried: same response id, stored once
    (row,) = rows(sql)
    assert (row["tenant_id"], row["source"], row["event_type"]) == ("t_node", "openai", "ai_message")
    assert (row["units"], row["idempotency_key"]) == (150, "chatcmpl-from-node")
    assert row["metadata"] == {
        attr.GEN_AI_INPUT_TOKENS: 120,
        attr.GEN_AI_OUTPUT_TOKENS: 30,
        attr.GEN_AI_CACHE_READ_TOKENS: 100,
        attr.GEN_AI_CACHE_CREATION_TOKENS: 20,
        attr.GEN_AI_REASONING_TOKENS: 12,
        attr.GEN_AI_REQUEST_MODEL: "gpt-4o",
        attr.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
        attr.GEN_AI_PROVIDER: "openai",
        attr.GEN_AI_RESPONSE_ID: "chatcmpl-from-node",
    }


def test_older_spellings_and_a_baggage_tenant_are_read_under_the_current_names(tracer: Tracer, sql: SQL) -> None:
    chat_span(
        tracer,
        {
            "gen_ai.system": "openai",
            attr.GEN_AI_RESPONSE_ID: "chatcmpl-from-java",
            "gen_ai.usage.prompt_tokens": 40,
            "gen_ai.usage.completion_tokens": 8,
            "gen_ai.usage.cache_read_input_tokens": 16,
            "gen_ai.usage.cache_write_tokens": 4,
            "llm.token_count.completion_details.reasoning": 2,
            attr.BAGGAGE_TENANT: "t_java",  # what BaggageSpanProcessor copies from the `tenant.id` baggage entry
            "usage.metadata": json.dumps({"feature": "summaries"}),
        },
    )
    (row,) = rows(sql)
    assert (row["tenant_id"], row["units"], row["idempotency_key"]) == ("t_java", 48, "chatcmpl-from-java")
    metadata = row["metadata"]
    assert metadata["feature"] == "summaries"  # the sender's own metadata is kept beside the breakdown
    assert [metadata[name] for name in attr.GEN_AI_TOKEN_COUNTS] == [40, 8, 16, 4, 2]


def test_genai_spans_without_a_tenant_are_ordinary_spans(tracer: Tracer, sql: SQL) -> None:
    chat_span(tracer, {attr.GEN_AI_PROVIDER: "openai", attr.GEN_AI_INPUT_TOKENS: 5, attr.GEN_AI_OUTPUT_TOKENS: 5})
    assert rows(sql) == []


def test_a_genai_span_carrying_a_usage_event_counts_once(tracer: Tracer, sql: SQL) -> None:
    """What our own client sends (the usage event on the contrib GenAI span) is not counted a second time."""
    event = {
        attr.TENANT_ID: "t_py",
        attr.SOURCE: "openai",
        attr.EVENT_TYPE: "ai_message",
        attr.UNITS: 48,
        attr.IDEMPOTENCY_KEY: "chatcmpl-from-python",
    }
    genai = {attr.GEN_AI_INPUT_TOKENS: 40, attr.GEN_AI_OUTPUT_TOKENS: 8, attr.TENANT_ID: "t_py"}
    chat_span(tracer, {**genai, attr.GEN_AI_RESPONSE_ID: "chatcmpl-from-python"}, usage_event=event)
    assert [(r["tenant_id"], r["units"]) for r in rows(sql)] == [("t_py", 48)]


def test_a_tenant_named_genai_span_without_a_response_id_is_rejected_naming_the_attribute(
    tracer: Tracer, sql: SQL, caplog: pytest.LogCaptureFixture
) -> None:
    chat_span(tracer, {attr.GEN_AI_PROVIDER: "openai", attr.GEN_AI_INPUT_TOKENS: 5, attr.TENANT_ID: "t_x"})
    assert rows(sql) == []
    assert any("usage.idempotency_key" in r.getMessage() for r in caplog.records)
