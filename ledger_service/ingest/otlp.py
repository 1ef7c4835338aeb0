"""OTLP traces in, typed usage events out: the ledger side of the OpenTelemetry path.

An ExportTraceServiceRequest (binary protobuf or OTLP/JSON) is searched for span events named `usage` and
for spans that carry the `usage.*` attributes themselves (usage_ledger_contract.attributes). Each becomes
the contract's UsageEvent and goes through IngestService.ingest, so OTLP usage gets the same validation and
the same exactly-once path as POST /api/usage/events; rejections name the attribute the sender set.
Ordinary spans are ignored, never rejected.

GenAI spans made by other languages' instrumentations (OpenTelemetry GenAI semantic conventions) are usage
too when they carry token counts and name a tenant (`usage.tenant_id`, or `tenant.id` copied from baggage)
and carry no `usage` event: the `usage.*` attributes they lack are derived from the `gen_ai.*` ones
(`_genai_defaults`), older spellings included, and the token breakdown goes into the row's metadata.
"""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Iterator
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
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ledger_service.errors import BadRequestError
from ledger_service.ingest.json_batch import decode_json_body
from ledger_service.ingest.model import EventRejected, IngestOptions, rejected_by_msgspec
from ledger_service.ingest.service import INLINE_EVENTS, IngestService
from ledger_service.offload import off_loop
from usage_ledger_contract import attributes as usage
from usage_ledger_contract import fields
from usage_ledger_contract.fields import Field
from usage_ledger_contract.wire import UsageEvent, build_event

log = logging.getLogger(__name__)

OtlpFormat = Literal["protobuf", "json"]

_USAGE_ATTRIBUTES = frozenset(f.attribute for f in usage.CARRIED)
# OTLP/JSON carries ids as hex, where protobuf's own JSON mapping (json_format) expects base64.
_HEX_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_MAX_REASONS = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One usage record found in the request: an event, or why it cannot be one."""

    span: bytes  # trace_id + span_id: rejected_spans counts spans, not records
    where: str
    time_attribute: str  # where occurredAt came from, for messages
    event: UsageEvent | EventRejected

    def name_of(self, field: Field) -> str:
        """A field in the sender's words: its attribute, or the span field the time was taken from."""
        if field is fields.OCCURRED_AT:
            return self.time_attribute
        return field.attribute or field.name


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
    has_event = False
    for number, event in enumerate(span.events):
        if event.name == usage.USAGE_EVENT_NAME:
            has_event = True
            attrs = {kv.key: kv.value for kv in event.attributes}
            yield _record(span, f"{name} event #{number}", attrs, event.time_unix_nano, "time_unix_nano")
    attrs = {kv.key: kv.value for kv in span.attributes}
    genai = None if has_event else _genai_defaults(attrs)
    if genai is not None:
        yield _record(span, name, genai, span.end_time_unix_nano, "end_time_unix_nano")
    elif any(key in _USAGE_ATTRIBUTES for key in attrs):
        yield _record(span, name, attrs, span.end_time_unix_nano, "end_time_unix_nano")


def _record(span: Span, where: str, attrs: dict[str, AnyValue], time_ns: int, time_field: str) -> UsageRecord:
    time_attribute = fields.OCCURRED_AT.attribute if fields.OCCURRED_AT.attribute in attrs else time_field
    key = span.trace_id + span.span_id
    try:
        event: UsageEvent | EventRejected = _event(attrs, time_ns, span)
    except EventRejected as rejected:
        event = rejected
    return UsageRecord(key, where, time_attribute, event)


def _event(attrs: dict[str, AnyValue], time_ns: int, span: Span) -> UsageEvent:
    missing = [f.attribute for f in usage.REQUIRED if f.attribute not in attrs]
    if missing:
        raise EventRejected(None, f"missing {', '.join(missing)}")
    trace_id, span_id = _ids(span)
    try:
        return build_event(
            tenant_id=_required(attrs, fields.TENANT_ID),
            source=_required(attrs, fields.SOURCE),
            event_type=_required(attrs, fields.EVENT_TYPE),
            units=_units(attrs[fields.UNITS.attribute]),
            idempotency_key=_required(attrs, fields.IDEMPOTENCY_KEY),
            metadata=_metadata(attrs),
            occurred_at=_occurred_at(attrs, time_ns),
            trace_id=trace_id,
            span_id=span_id,
        )
    except msgspec.ValidationError as exc:
        raise rejected_by_msgspec(exc, fields.BY_NAME) from None


def _string(attrs: dict[str, AnyValue], field: Field) -> str | None:
    value = attrs.get(field.attribute)
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind != "string_value":
        raise EventRejected(None, f"{field.attribute} must be a string attribute, not {kind or 'empty'}")
    return value.string_value


def _required(attrs: dict[str, AnyValue], field: Field) -> str:
    value = _string(attrs, field)
    if value is None:
        raise EventRejected(None, f"missing {field.attribute}")
    return value


def _units(value: AnyValue) -> int:
    if value.WhichOneof("value") != "int_value":
        kind = value.WhichOneof("value") or "empty"
        raise EventRejected(None, f"{fields.UNITS.attribute} must be an int attribute, not {kind}")
    return value.int_value


def _metadata(attrs: dict[str, AnyValue]) -> msgspec.Raw:
    text = _string(attrs, fields.METADATA)
    if text is None:
        return msgspec.Raw(b"{}")
    try:
        parsed = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise EventRejected(fields.METADATA, "is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise EventRejected(fields.METADATA, "must be a JSON object")
    # Passed on as written: the ingest path checks size and depth on the text itself.
    return msgspec.Raw(text.encode("utf-8"))


def _occurred_at(attrs: dict[str, AnyValue], time_ns: int) -> datetime | None:
    text = _string(attrs, fields.OCCURRED_AT)
    if text is not None:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise EventRejected(fields.OCCURRED_AT, f"{text[:64]!r} is not an RFC 3339 date-time") from None
        if value.tzinfo is None:
            raise EventRejected(fields.OCCURRED_AT, "must carry a UTC offset (e.g. Z or +02:00)")
        return value
    return _EPOCH + timedelta(microseconds=time_ns // 1000) if time_ns else None


def _ids(span: Span) -> tuple[str | None, str | None]:
    # Ids only link a row back to its trace: a malformed one is left out rather than costing the usage.
    trace_id = span.trace_id.hex() if len(span.trace_id) == 16 and any(span.trace_id) else None
    span_id = span.span_id.hex() if len(span.span_id) == 8 and any(span.span_id) else None
    return trace_id, span_id


# --- GenAI spans ----------------------------------------------------------------------------------


def _genai_value(attrs: dict[str, AnyValue], name: str) -> AnyValue | None:
    """An attribute under its current GenAI name, else under an older spelling other emitters use."""
    for key in (name, *usage.GEN_AI_ALIASES.get(name, ())):
        if key in attrs:
            return attrs[key]
    return None


def _genai_count(attrs: dict[str, AnyValue], name: str) -> int | None:
    value = _genai_value(attrs, name)
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "int_value" and value.int_value >= 0:
        return value.int_value
    if kind == "double_value" and value.double_value >= 0 and value.double_value.is_integer():
        return int(value.double_value)
    return None


def _genai_text(attrs: dict[str, AnyValue], name: str) -> str | None:
    value = _genai_value(attrs, name)
    return value.string_value if value is not None and value.WhichOneof("value") == "string_value" else None


def _genai_defaults(attrs: dict[str, AnyValue]) -> dict[str, AnyValue] | None:
    """A GenAI span's attributes completed with the `usage.*` ones it lacks; None when it is not usage."""
    counts = {name: _genai_count(attrs, name) for name in usage.GEN_AI_TOKEN_COUNTS}
    tenant = attrs.get(fields.TENANT_ID.attribute) or attrs.get(usage.BAGGAGE_TENANT)
    if tenant is None or (counts[usage.GEN_AI_INPUT_TOKENS] is None and counts[usage.GEN_AI_OUTPUT_TOKENS] is None):
        return None
    derived: dict[str, AnyValue] = {
        fields.TENANT_ID.attribute: tenant,
        fields.EVENT_TYPE.attribute: _text(usage.GEN_AI_EVENT_TYPE),
    }
    provider = _genai_text(attrs, usage.GEN_AI_PROVIDER)
    if provider is not None:
        derived[fields.SOURCE.attribute] = _text(provider)
    response_id = _genai_text(attrs, usage.GEN_AI_RESPONSE_ID)
    if response_id is not None:
        derived[fields.IDEMPOTENCY_KEY.attribute] = _text(response_id)
    total = (counts[usage.GEN_AI_INPUT_TOKENS] or 0) + (counts[usage.GEN_AI_OUTPUT_TOKENS] or 0)
    derived[fields.UNITS.attribute] = AnyValue(int_value=total)
    breakdown: dict[str, object] = {name: count for name, count in counts.items() if count is not None}
    for name in (
        usage.GEN_AI_REQUEST_MODEL,
        usage.GEN_AI_RESPONSE_MODEL,
        usage.GEN_AI_PROVIDER,
        usage.GEN_AI_RESPONSE_ID,
    ):
        text = _genai_text(attrs, name)
        if text is not None:
            breakdown[name] = text
    derived[fields.METADATA.attribute] = _text(_merged_metadata(attrs, breakdown))
    return {**derived, **{k: v for k, v in attrs.items() if k in _USAGE_ATTRIBUTES and k != fields.METADATA.attribute}}


def _merged_metadata(attrs: dict[str, AnyValue], breakdown: dict[str, object]) -> str:
    """The sender's own `usage.metadata` (when it is a JSON object) with the token breakdown added."""
    given = attrs.get(fields.METADATA.attribute)
    if given is not None and given.WhichOneof("value") == "string_value":
        try:
            parsed = msgspec.json.decode(given.string_value)
        except msgspec.DecodeError:
            return given.string_value  # _metadata() rejects it, naming usage.metadata
        if not isinstance(parsed, dict):
            return given.string_value
        breakdown = {**breakdown, **parsed}
    return msgspec.json.encode(breakdown).decode()


def _text(value: str) -> AnyValue:
    return AnyValue(string_value=value)


# --- ingest ---------------------------------------------------------------------------------------


async def ingest_traces(
    service: IngestService, request: ExportTraceServiceRequest, max_batch_events: int
) -> ExportTraceServiceResponse:
    """Store the request's usage records; rejected and conflicting ones are reported in partial_success."""
    # Walking every span of a large export is CPU work: off the event loop unless the export is small.
    spans = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
    extract = functools.partial(extract_usage, request)
    records = extract() if spans <= INLINE_EVENTS else await off_loop(extract)
    refused: list[tuple[UsageRecord, str]] = []
    # A Collector batch may hold more records than one ingest batch allows; a 413 would make it drop them.
    for start in range(0, len(records), max_batch_events):
        chunk = records[start : start + max_batch_events]
        result = await service.ingest([record.event for record in chunk], _VIA)
        refused.extend((chunk[r.index], r.reason.text(chunk[r.index].name_of)) for r in result.rejections)
        refused.extend((chunk[c.index], c.text(chunk[c.index].name_of)) for c in result.conflicts)
    return _response(refused)


_VIA = IngestOptions(via="otlp")


def _response(refused: list[tuple[UsageRecord, str]]) -> ExportTraceServiceResponse:
    """Rejected records and conflicts (a record whose key holds other content: nothing was stored for it,
    and sending it again changes nothing) are both refused spans, each named with its reason."""
    if not refused:
        return ExportTraceServiceResponse()
    reasons = [f"{record.where}: {text}" for record, text in refused[:_MAX_REASONS]]
    if len(refused) > _MAX_REASONS:
        reasons.append(f"and {len(refused) - _MAX_REASONS} more")
    message = f"{len(refused)} usage record(s) rejected: " + "; ".join(reasons)
    log.warning("OTLP: %s", message)
    spans = len({record.span for record, _ in refused})
    return ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=spans, error_message=message)
    )
