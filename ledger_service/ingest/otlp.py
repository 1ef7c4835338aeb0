"""OTLP traces in, usage events out: the ledger side of the OpenTelemetry path (see otel/attributes.py).

An ExportTraceServiceRequest (binary protobuf or OTLP/JSON) is searched for span events named `usage` and
for spans that carry the `usage.*` attributes themselves. Each becomes one ingest JSON event and goes
through IngestService.ingest_raw_events, so OTLP usage gets the same validation and the same
exactly-once path as POST /api/usage/events. Ordinary spans are ignored, never rejected.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ledger_service.errors import BadRequestError
from ledger_service.ingest.service import IngestService, decode_json_body
from otel import attributes as usage

log = logging.getLogger(__name__)

OtlpFormat = Literal["protobuf", "json"]

# Ingest wire field -> the OTLP attribute a sender sets, so a rejection names what the sender can fix.
_STRING_ATTRIBUTES = {
    usage.TENANT_ID: "tenantId",
    usage.SOURCE: "source",
    usage.EVENT_TYPE: "eventType",
    usage.IDEMPOTENCY_KEY: "idempotencyKey",
    usage.OCCURRED_AT: "occurredAt",
}
_FIELD_NAMES = {
    **{field: name for name, field in _STRING_ATTRIBUTES.items()},
    "units": usage.UNITS,
    "metadata": usage.METADATA,
    "traceId": "trace_id",
    "spanId": "span_id",
}
_USAGE_ATTRIBUTES = frozenset((*usage.REQUIRED, usage.OCCURRED_AT, usage.METADATA))
# OTLP/JSON carries ids as hex, where protobuf's own JSON mapping (json_format) expects base64.
_HEX_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_MAX_REASONS = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Rejected(Exception):
    pass


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One usage record found in the request: either an ingest event or the reason it cannot be one."""

    span: bytes  # trace_id + span_id: rejected_spans counts spans, not records
    where: str
    time_attribute: str  # where occurredAt came from, for messages
    event: bytes | None = None
    reason: str | None = None


# --- decoding -------------------------------------------------------------------------------------


def decode_request(body: bytes, fmt: OtlpFormat) -> ExportTraceServiceRequest:
    if fmt == "protobuf":
        try:
            return ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            raise BadRequestError(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    return _decode_json(body)


def _decode_json(body: bytes) -> ExportTraceServiceRequest:
    document = decode_json_body(msgspec.json.decode, body)
    if not isinstance(document, dict):
        raise BadRequestError("body must be a JSON object (an OTLP/JSON ExportTraceServiceRequest)")
    for span in _json_spans(document):
        _hex_ids_to_base64(span)
        for link in _json_list(span.get("links")):
            _hex_ids_to_base64(link)
    try:
        # The spec requires receivers to ignore unknown fields (newer senders may add some).
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise BadRequestError(f"body is not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None
    except RecursionError:
        raise BadRequestError("body is not an OTLP/JSON ExportTraceServiceRequest: values nested too deeply") from None


def _json_list(value: object) -> list[dict[str, object]]:
    # Wrong shapes are left for ParseDict, which names them in its error.
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _json_spans(document: dict[str, object]) -> Iterator[dict[str, object]]:
    for resource_spans in _json_list(document.get("resourceSpans", document.get("resource_spans"))):
        for scope_spans in _json_list(resource_spans.get("scopeSpans", resource_spans.get("scope_spans"))):
            yield from _json_list(scope_spans.get("spans"))


def _hex_ids_to_base64(item: dict[str, object]) -> None:
    for key in _HEX_ID_KEYS:
        value = item.get(key)
        if not isinstance(value, str):
            continue
        try:
            item[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
        except ValueError:
            raise BadRequestError(
                f"{key} {value[:64]!r} is not hex (OTLP/JSON encodes trace and span ids as hex)"
            ) from None


def encode_message(message: Message, fmt: OtlpFormat) -> bytes:
    """A response (or google.rpc.Status) in the request's encoding, as the OTLP/HTTP spec asks."""
    if fmt == "protobuf":
        return message.SerializeToString()
    return json_format.MessageToJson(message, indent=None).encode("utf-8")


# --- extraction -----------------------------------------------------------------------------------


def extract_usage(request: ExportTraceServiceRequest) -> list[UsageRecord]:
    records: list[UsageRecord] = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                records.extend(_span_usage(span))
    return records


def _span_usage(span: Span) -> Iterator[UsageRecord]:
    name = f"span {span.span_id.hex() or '?'}"
    for number, event in enumerate(span.events):
        if event.name == usage.USAGE_EVENT_NAME:
            yield _record(span, f"{name} event #{number}", event.attributes, event.time_unix_nano, "time_unix_nano")
    if any(kv.key in _USAGE_ATTRIBUTES for kv in span.attributes):
        yield _record(span, name, span.attributes, span.end_time_unix_nano, "end_time_unix_nano")


def _record(span: Span, where: str, kvs: Iterable[KeyValue], time_ns: int, time_field: str) -> UsageRecord:
    attrs = {kv.key: kv.value for kv in kvs}
    time_attribute = usage.OCCURRED_AT if usage.OCCURRED_AT in attrs else time_field
    key = span.trace_id + span.span_id
    try:
        event = _event(attrs, time_ns)
    except _Rejected as rejected:
        return UsageRecord(key, where, time_attribute, reason=str(rejected))
    event.update(_ids(span))
    return UsageRecord(key, where, time_attribute, event=msgspec.json.encode(event))


def _event(attrs: dict[str, AnyValue], time_ns: int) -> dict[str, object]:
    missing = [name for name in usage.REQUIRED if name not in attrs]
    if missing:
        raise _Rejected(f"missing {', '.join(missing)}")
    event: dict[str, object] = {}
    for name, field in _STRING_ATTRIBUTES.items():
        if name in attrs:
            event[field] = _string(attrs[name], name)
    units = attrs[usage.UNITS]
    if units.WhichOneof("value") != "int_value":
        raise _Rejected(f"{usage.UNITS} must be an int attribute, not {units.WhichOneof('value') or 'empty'}")
    event["units"] = units.int_value
    if usage.METADATA in attrs:
        event["metadata"] = _metadata(attrs[usage.METADATA])
    if "occurredAt" not in event and time_ns:
        event["occurredAt"] = (_EPOCH + timedelta(microseconds=time_ns // 1000)).isoformat()
    return event


def _string(value: AnyValue, name: str) -> str:
    kind = value.WhichOneof("value")
    if kind != "string_value":
        raise _Rejected(f"{name} must be a string attribute, not {kind or 'empty'}")
    return value.string_value


def _metadata(value: AnyValue) -> msgspec.Raw:
    text = _string(value, usage.METADATA)
    try:
        parsed = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise _Rejected(f"{usage.METADATA} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _Rejected(f"{usage.METADATA} must be a JSON object")
    # Passed on as written: the ingest path checks size and depth on the text itself.
    return msgspec.Raw(text.encode("utf-8"))


def _ids(span: Span) -> dict[str, str]:
    # Ids only link a row back to its trace: a malformed one is left out rather than costing the usage.
    ids: dict[str, str] = {}
    if len(span.trace_id) == 16 and any(span.trace_id):
        ids["traceId"] = span.trace_id.hex()
    if len(span.span_id) == 8 and any(span.span_id):
        ids["spanId"] = span.span_id.hex()
    return ids


# --- ingest ---------------------------------------------------------------------------------------


async def ingest_traces(
    service: IngestService, request: ExportTraceServiceRequest, max_batch_events: int
) -> ExportTraceServiceResponse:
    """Store the request's usage records; rejected ones are reported in partial_success."""
    records = extract_usage(request)
    rejected = [(record, record.reason) for record in records if record.reason is not None]
    valid = [(record, record.event) for record in records if record.event is not None]
    # A Collector batch may hold more records than one ingest batch allows; a 413 would make it drop them.
    for start in range(0, len(valid), max_batch_events):
        chunk = valid[start : start + max_batch_events]
        result = await service.ingest_raw_events([event for _, event in chunk])
        for error in result.errors:
            record = chunk[error.index][0]
            field = record.time_attribute if error.field == "occurredAt" else _FIELD_NAMES.get(error.field, error.field)
            rejected.append((record, f"{field}: {error.message}"))
    return _response(rejected)


def _response(rejected: list[tuple[UsageRecord, str]]) -> ExportTraceServiceResponse:
    if not rejected:
        return ExportTraceServiceResponse()
    reasons = [f"{record.where}: {reason}" for record, reason in rejected[:_MAX_REASONS]]
    if len(rejected) > _MAX_REASONS:
        reasons.append(f"and {len(rejected) - _MAX_REASONS} more")
    message = f"{len(rejected)} usage record(s) rejected: " + "; ".join(reasons)
    log.warning("OTLP: %s", message)
    spans = len({record.span for record, _ in rejected})
    return ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=spans, error_message=message)
    )
