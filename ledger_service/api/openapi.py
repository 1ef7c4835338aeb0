"""OpenAPI for the routes that read their raw body (for per-event validation and OTLP decoding).

Litestar cannot infer a request body from raw bytes, so these operation classes describe it, from the
types themselves: the contract's UsageEvent goes through msgspec's JSON Schema generator, and the
catalog fills in the sources and event types this ledger accepts. Clients and schemathesis
(tests/test_fuzz) read them from /schema/openapi.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

from usage_ledger_contract import fields
from usage_ledger_contract.catalog import CATALOG, SOURCE_NAMES
from usage_ledger_contract.wire import EventBatch, UsageEvent

_STRING = OpenAPIType.STRING
_ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["error"],
    properties={
        "error": Schema(
            type=OpenAPIType.OBJECT,
            required=["code", "message"],
            properties={"code": Schema(type=_STRING), "message": Schema(type=_STRING)},
        )
    },
)
_INGEST_ERRORS = {
    "400": 'The body is not JSON or not an object {"events": [...]}',
    "401": "Missing or unknown ingest key (Authorization: Bearer <key>)",
    "413": "Too many events or bytes in one batch (the limit is named in the message)",
    "415": "Content-Type is not application/json",
    "503": "The database is unavailable; retry later",
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf")


def schema_of(struct: type[msgspec.Struct]) -> Schema:
    """The OpenAPI schema of a msgspec Struct, from msgspec's own JSON Schema of it."""
    document = msgspec.json.schema(struct)
    return _convert(document, document.get("$defs", {}))


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> Schema:
    if "$ref" in node:
        return _convert(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    kwargs: dict[str, Any] = {}
    for key, value in node.items():
        name = _CAMEL.sub("_", key).lower()
        if key in ("$defs", "$ref"):
            continue
        if key == "type":
            value = OpenAPIType(value)
        elif key == "format":
            value = OpenAPIFormat(value)
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            value = _convert(value, defs)
        elif key == "properties":
            value = {k: _convert(v, defs) for k, v in value.items()}
        elif key in _SUBSCHEMA_LISTS:
            value = [_convert(v, defs) for v in value]
        kwargs[name] = value
    return Schema(**kwargs)


def event_schema() -> Schema:
    """UsageEvent as the contract defines it, with the catalog's sources and event types as enums."""
    schema = schema_of(UsageEvent)
    properties = dict(schema.properties or {})
    properties[fields.SOURCE.wire] = Schema(type=_STRING, enum=list(SOURCE_NAMES))
    properties[fields.EVENT_TYPE.wire] = Schema(
        type=_STRING,
        enum=sorted({t.name for t in CATALOG}),
        description="A type of the catalog, or a `system` type the operator declared in LEDGER_EVENT_TYPES",
    )
    properties[fields.METADATA.wire] = Schema(
        type=OpenAPIType.OBJECT, description="Small JSON object (ids, counts, statuses)"
    )
    schema.properties = properties
    schema.additional_properties = False
    return schema


def batch_schema() -> Schema:
    schema = schema_of(EventBatch)
    schema.properties = {"events": Schema(type=OpenAPIType.ARRAY, items=event_schema())}
    schema.additional_properties = False
    return schema


def _errors(descriptions: dict[str, str], media_type: str = "application/json") -> dict[str, OpenAPIResponse]:
    return {
        status: OpenAPIResponse(description=text, content={media_type: OpenAPIMediaType(schema=_ERROR_SCHEMA)})
        for status, text in descriptions.items()
    }


@dataclass
class IngestOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="Events are validated one by one: an invalid one is reported in `errors`, the rest stored",
            content={"application/json": OpenAPIMediaType(schema=batch_schema())},
        )
        self.responses = {**(self.responses or {}), **_errors(_INGEST_ERRORS)}


@dataclass
class OtlpOperation(Operation):
    def __post_init__(self) -> None:
        protobuf = OpenAPIMediaType(schema=Schema(type=_STRING, format=OpenAPIFormat.BINARY))
        as_json = OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT, description="ExportTraceServiceRequest"))
        self.request_body = RequestBody(
            required=True, content={"application/x-protobuf": protobuf, "application/json": as_json}
        )
        # Answers (ExportTraceServiceResponse, or a google.rpc.Status on error) come in the request's encoding.
        status = Schema(type=OpenAPIType.OBJECT, description="google.rpc.Status")
        errors = {
            code: OpenAPIResponse(
                description=text,
                content={"application/json": OpenAPIMediaType(schema=status), "application/x-protobuf": protobuf},
            )
            for code, text in {**_INGEST_ERRORS, "415": "Content-Type or Content-Encoding not supported"}.items()
        }
        ok = OpenAPIResponse(
            description="ExportTraceServiceResponse; rejected usage is reported in partial_success",
            content={
                "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT)),
                "application/x-protobuf": protobuf,
            },
        )
        self.responses = {**(self.responses or {}), "200": ok, **errors}
