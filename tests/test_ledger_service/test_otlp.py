"""POST /v1/traces against the real service and a real PostgreSQL, fed by the official OTLP exporter and by hand."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from pydantic import SecretStr

from ledger_service.api.otlp import decompress_limited
from ledger_service.errors import PayloadTooLargeError
from ledger_service.settings import Settings
from tests.conftest import TEST_INGEST_KEY
from tests.support.postgres import SQL
from tests.support.server import RunningLedger, start_ledger
from usage_ledger_contract import attributes as usage

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@dataclass
class Pipeline:
    tracer: Tracer
    exporter: OTLPSpanExporter
    finished: InMemorySpanExporter


@pytest.fixture
def pipeline(ledger: RunningLedger, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    """A real SDK TracerProvider exporting each span, as it ends, to the ledger with the official exporter."""
    compression = getattr(request, "param", Compression.NoCompression)
    exporter = OTLPSpanExporter(
        endpoint=f"{ledger.url}/v1/traces",
        headers={"Authorization": f"Bearer {TEST_INGEST_KEY}"},
        compression=compression,
        timeout=10,
    )
    finished = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(SimpleSpanProcessor(finished))
    try:
        yield Pipeline(provider.get_tracer("test_otlp"), exporter, finished)
    finally:
        provider.shutdown()


def usage_attributes(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        usage.TENANT_ID: "t_acme",
        usage.SOURCE: "twilio",
        usage.EVENT_TYPE: "sms_outbound",
        usage.UNITS: 2,
        usage.IDEMPOTENCY_KEY: f"SM{uuid.uuid4().hex}:sms_outbound",
        usage.METADATA: json.dumps({"to": "+15550100", "status": "queued"}),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def rows(sql: SQL) -> list[dict[str, Any]]:
    return [dict(r) for r in sql.fetch("SELECT * FROM usage_ledger ORDER BY units")]


def as_datetime(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def send_usage_spans(tracer: Tracer) -> dict[str, Any]:
    """Three spans as an instrumented app produces them; returns what the ledger should hold."""
    with tracer.start_as_current_span("GET /health"):
        pass  # an ordinary span: ignored
    event_time = time.time_ns() - 3_600 * 10**9
    sms = usage_attributes()
    with tracer.start_as_current_span("twilio.messages.create") as span:
        span.add_event("exception", {"exception.message": "retried"})  # not a usage event: ignored
        span.add_event(usage.USAGE_EVENT_NAME, sms, timestamp=event_time)
        span.set_attribute(
            usage.SPAN_MARKER, True
        )  # as usage_ledger_client.record_usage_event marks it: not a usage record
        sms_ids = span.get_span_context()
    ai = usage_attributes(**{usage.SOURCE: "openai", usage.EVENT_TYPE: "ai_message", usage.UNITS: 1234})
    del ai[usage.METADATA]
    with tracer.start_as_current_span("openai.chat", attributes=ai) as span:  # the span-attribute form
        ai_ids = span.get_span_context()
    return {"sms": sms, "sms_ids": sms_ids, "event_time": event_time, "ai": ai, "ai_ids": ai_ids}


def test_exporter_spans_with_usage_are_stored_once_and_ordinary_spans_ignored(pipeline: Pipeline, sql: SQL) -> None:
    sent = send_usage_spans(pipeline.tracer)
    sms_row, ai_row = rows(sql)
    assert (sms_row["tenant_id"], sms_row["source"], sms_row["event_type"], sms_row["units"]) == (
        "t_acme",
        "twilio",
        "sms_outbound",
        2,
    )
    assert sms_row["idempotency_key"] == sent["sms"][usage.IDEMPOTENCY_KEY]
    assert json.loads(sms_row["metadata"]) == {"to": "+15550100", "status": "queued"}
    assert sms_row["occurred_at"] == as_datetime(sent["event_time"])
    assert sms_row["trace_id"] == format(sent["sms_ids"].trace_id, "032x")
    assert sms_row["span_id"] == format(sent["sms_ids"].span_id, "016x")
    assert (ai_row["source"], ai_row["event_type"], ai_row["units"]) == ("openai", "ai_message", 1234)
    assert ai_row["idempotency_key"] == sent["ai"][usage.IDEMPOTENCY_KEY]
    assert ai_row["span_id"] == format(sent["ai_ids"].span_id, "016x")
    assert json.loads(ai_row["metadata"]) == {}
    # At-least-once delivery: the exporter (or a Collector) sending the same spans again stores nothing new.
    spans = pipeline.finished.get_finished_spans()
    assert len(spans) == 3
    assert pipeline.exporter.export(spans) == SpanExportResult.SUCCESS
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 2


@pytest.mark.parametrize("pipeline", [Compression.Gzip, Compression.Deflate], indirect=True)
def test_compressed_export_is_stored(pipeline: Pipeline, sql: SQL) -> None:
    send_usage_spans(pipeline.tracer)
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 2


def otlp_json_body(trace_id: str, span_id: str, event_time_ns: int, key: str) -> dict[str, Any]:
    """An OTLP/JSON request as another language's SDK sends it: hex ids, int64 as strings, AnyValue objects."""

    def kv(key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"key": key, "value": value}

    event_attributes = [
        kv(usage.TENANT_ID, {"stringValue": "t_json"}),
        kv(usage.SOURCE, {"stringValue": "sendgrid"}),
        kv(usage.EVENT_TYPE, {"stringValue": "email_sent"}),
        kv(usage.UNITS, {"intValue": "3"}),
        kv(usage.IDEMPOTENCY_KEY, {"stringValue": key}),
        kv(usage.METADATA, {"stringValue": '{"sg_message_id": "abc"}'}),
    ]
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "sendgrid.send",
        "kind": 3,
        "startTimeUnixNano": str(event_time_ns - 1000),
        "endTimeUnixNano": str(event_time_ns + 1000),
        "events": [{"timeUnixNano": str(event_time_ns), "name": "usage", "attributes": event_attributes}],
        "aFieldFromTheFuture": True,  # receivers must ignore unknown fields
    }
    ordinary = {"traceId": trace_id, "spanId": "00f067aa0ba902b8", "name": "GET /", "kind": 2}
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv("service.name", {"stringValue": "mailer"})]},
                "scopeSpans": [{"scope": {"name": "mailer"}, "spans": [span, ordinary]}],
            }
        ]
    }


def test_otlp_json_is_stored_with_hex_ids_and_event_time(client: httpx.Client, sql: SQL) -> None:
    event_time = time.time_ns() - 60 * 10**9
    body = otlp_json_body("4BF92F3577B34DA6A3CE929D0E0E4736", "00f067aa0ba902b7", event_time, "sg-1:a@example.com")
    response = client.post("/v1/traces", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}  # no partial_success: everything was accepted
    (row,) = rows(sql)
    assert (row["tenant_id"], row["source"], row["event_type"], row["units"]) == ("t_json", "sendgrid", "email_sent", 3)
    assert (row["trace_id"], row["span_id"]) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert row["occurred_at"] == as_datetime(event_time)
    assert json.loads(row["metadata"]) == {"sg_message_id": "abc"}
    assert client.post("/v1/traces", json=body).json() == {}
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 1


def any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(string_value=str(value))


def proto_span(span_number: int, events: list[dict[str, Any]]) -> Span:
    return Span(
        trace_id=bytes.fromhex("ab" * 16),
        span_id=span_number.to_bytes(8, "big"),
        name=f"call {span_number}",
        end_time_unix_nano=time.time_ns(),
        events=[
            Span.Event(
                name="usage",
                time_unix_nano=time.time_ns(),
                attributes=[KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()],
            )
            for attrs in events
        ],
    )


def proto_request(spans: list[Span]) -> bytes:
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    return request.SerializeToString()


def test_rejected_usage_is_reported_in_partial_success_and_the_rest_stored(client: httpx.Client, sql: SQL) -> None:
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    good = usage_attributes(**{usage.UNITS: 5, usage.OCCURRED_AT: occurred.isoformat()})  # wins over event time
    body = proto_request(
        [
            proto_span(1, [good, usage_attributes(**{usage.EVENT_TYPE: "carrier_pigeon"})]),
            proto_span(2, [usage_attributes(**{usage.TENANT_ID: ...})]),
            proto_span(3, [usage_attributes(**{usage.UNITS: "7"})]),
        ]
    )
    response = client.post("/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 3
    message = partial.error_message
    assert message.startswith("3 usage record(s) rejected")
    assert "span 0000000000000001 event #1: usage.event_type: 'carrier_pigeon' is not a twilio event type" in message
    assert "span 0000000000000002 event #0: missing usage.tenant_id" in message
    assert "usage.units must be an int attribute, not string_value" in message
    (row,) = rows(sql)
    assert (row["idempotency_key"], row["units"], row["occurred_at"]) == (good[usage.IDEMPOTENCY_KEY], 5, occurred)


def test_partial_success_in_otlp_json(client: httpx.Client, sql: SQL) -> None:
    body = otlp_json_body("ab" * 16, "cd" * 8, time.time_ns(), "k1")
    event = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"][0]
    event["attributes"] = [a for a in event["attributes"] if a["key"] != usage.IDEMPOTENCY_KEY]
    response = client.post("/v1/traces", json=body)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"  # int64 is a string in OTLP/JSON
    assert "missing usage.idempotency_key" in partial["errorMessage"]
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 0


def test_a_wrong_key_gets_401(ledger: RunningLedger, sql: SQL) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{ledger.url}/v1/traces", headers={"Authorization": "Bearer wrong"})
    provider = TracerProvider()
    finished = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(finished))
    send_usage_spans(provider.get_tracer("test"))
    assert exporter.export(finished.get_finished_spans()) == SpanExportResult.FAILURE
    response = httpx.post(f"{ledger.url}/v1/traces", content=proto_request([]), headers=PROTOBUF)
    assert response.status_code == 401
    status = Status.FromString(response.content)  # OTLP/HTTP error bodies are google.rpc.Status
    assert (status.code, status.message) == (16, "missing ingest key: send 'Authorization: Bearer <key>'")
    assert sql.fetchval("SELECT count(*) FROM usage_ledger") == 0


def test_malformed_bodies_get_400_with_a_status(client: httpx.Client) -> None:
    response = client.post("/v1/traces", content=b"this is not protobuf", headers=PROTOBUF)
    assert response.status_code == 400
    status = Status.FromString(response.content)
    assert status.code == 3 and "not a protobuf ExportTraceServiceRequest" in status.message
    response = client.post("/v1/traces", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["message"]
    bad_id = otlp_json_body("not-hex", "cd" * 8, time.time_ns(), "k")
    response = client.post("/v1/traces", json=bad_id)
    assert response.status_code == 400 and "traceId 'not-hex' is not hex" in response.json()["message"]
    response = client.post("/v1/traces", json={"resourceSpans": "many"})
    assert response.status_code == 400 and "ExportTraceServiceRequest" in response.json()["message"]
    corrupt = {**PROTOBUF, "Content-Encoding": "gzip"}
    response = client.post("/v1/traces", content=gzip.compress(proto_request([]))[:-6], headers=corrupt)
    assert response.status_code == 400 and "gzip" in Status.FromString(response.content).message


def test_other_content_types_and_encodings_get_415(client: httpx.Client) -> None:
    response = client.post("/v1/traces", content=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert response.status_code == 415
    assert "application/x-protobuf or application/json" in response.json()["message"]
    response = client.post("/v1/traces", content=b"x", headers={**PROTOBUF, "Content-Encoding": "br"})
    assert response.status_code == 415


def gzip_bomb(decompressed_bytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    parts = [compressor.compress(zeros) for _ in range(decompressed_bytes >> 20)]
    return b"".join([*parts, compressor.flush()])


def test_a_gzip_bomb_gets_413(client: httpx.Client, ledger: RunningLedger) -> None:
    bomb = gzip_bomb(4 * ledger.settings.max_body_bytes)  # 64 MiB of zeros in about 64 KiB
    assert len(bomb) < ledger.settings.max_body_bytes
    response = client.post("/v1/traces", content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompresses to more than" in Status.FromString(response.content).message
    assert client.get("/healthz").status_code == 200


def test_gunzip_stops_at_the_limit_instead_of_inflating_the_bomb() -> None:
    bomb = gzip_bomb(256 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLargeError):
            decompress_limited(bomb, 1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # about the 1 MiB limit, nowhere near 256 MiB
    assert decompress_limited(gzip.compress(b"a") + gzip.compress(b"b"), 10) == b"ab"  # multi-member gzip


def test_more_usage_than_one_ingest_batch_is_stored_in_chunks(database_url: str, tmp_path: Path, sql: SQL) -> None:
    settings = Settings(
        database_url=database_url,
        ingest_keys=[SecretStr(TEST_INGEST_KEY)],
        data_dir=tmp_path / "data",
        max_batch_events=2,
    )
    running = start_ledger(settings)
    try:
        body = proto_request([proto_span(n, [usage_attributes(**{usage.UNITS: n})]) for n in range(1, 6)])
        headers = {**PROTOBUF, "Authorization": f"Bearer {TEST_INGEST_KEY}"}
        response = httpx.post(f"{running.url}/v1/traces", content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    finally:
        running.stop()
    assert sql.fetchval("SELECT sum(units) FROM usage_ledger") == 15


def test_the_route_is_in_the_openapi_schema(ledger: RunningLedger) -> None:
    schema = httpx.get(f"{ledger.url}/schema/openapi.json").json()
    operation = schema["paths"]["/v1/traces"]["post"]
    assert operation["summary"].startswith("OTLP/HTTP trace receiver")
    assert operation["tags"] == ["ingest"]
