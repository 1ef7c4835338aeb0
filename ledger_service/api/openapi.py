"""What /schema/openapi.json says beyond the handlers' own types: security schemes, error answers, raw bodies.

- The two bearer schemes (an ingest key for ingest and OTLP, a tenant read token for the read API); each route
  names the one it takes.
- Every error answer's body, the {"error": {"code", "message"}} envelope (ErrorBody, which app.py also
  answers with), documented per status on each route; OTLP answers with a google.rpc.Status instead.
- Litestar cannot infer a request body from raw bytes (the ingest and OTLP routes read theirs for per-event
  validation and decoding), so their operation classes describe it, from the types themselves: the
  contract's UsageEvent goes through msgspec's JSON Schema generator, and the catalog fills in the sources
  and event types this ledger accepts.

Clients and schemathesis (tests/test_fuzz) read it all from /schema/openapi.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.enums import ParamType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)

from usage_ledger_contract import fields
from usage_ledger_contract.catalog import CATALOG, SOURCE_NAMES
from usage_ledger_contract.wire import EventBatch, UsageEvent

# Names of the security schemes in the document, not secrets.
INGEST_KEY = "ingestKey"
READ_TOKEN = "readToken"  # noqa: S105
ADMIN_KEY = "adminKey"
SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    INGEST_KEY: SecurityScheme(
        type="http",
        scheme="bearer",
        description="An ingest key (one of LEDGER_INGEST_KEYS): `Authorization: Bearer <key>`",
    ),
    READ_TOKEN: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="A tenant read token (`usage-ledger token --tenant T`, or mint_read_token in the host app): "
        "it names the one tenant whose usage can be read, until it expires",
    ),
    ADMIN_KEY: SecurityScheme(
        type="http",
        scheme="bearer",
        description="An admin key (one of LEDGER_ADMIN_KEYS; none by default: the admin API is off): "
        "`Authorization: Bearer <key>`. Never an ingest key; an ingest key or a read token is answered 403",
    ),
}
INGEST_SECURITY: list[SecurityRequirement] = [{INGEST_KEY: []}]
READ_SECURITY: list[SecurityRequirement] = [{READ_TOKEN: []}]
ADMIN_SECURITY: list[SecurityRequirement] = [{ADMIN_KEY: []}]


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str  # stable and machine-readable: bad_request, unauthorized, payload_too_large, ...
    message: str  # for people; starts with the parameter or field at fault when there is one


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error answer of the ledger (but OTLP's, which OTLP clients expect as a google.rpc.Status)."""

    error: ErrorDetail


_STRING = OpenAPIType.STRING
_INGEST_ERRORS = {
    "400": 'The body is not JSON or not an object {"events": [...]}',
    "401": "Missing or unknown ingest key (Authorization: Bearer <key>)",
    "413": "Too many events or bytes in one batch (the limit is named in the message)",
    "415": "Content-Type is not application/json",
    "503": "The database is unavailable; retry later",
}
_READ_ERRORS = {  # status: (when, the error's code, an example message)
    400: (
        "A parameter is unknown, not of its type, out of range or inconsistent with another (from after to, an "
        "event type of another source, an unknown tz, a cursor altered or issued to another tenant); the "
        "message starts with the parameter's name",
        "bad_request",
        "days: must be between 1 and 366 (LEDGER_SUMMARY_MAX_DAYS), not 400",
    ),
    401: (
        "Missing, expired or forged read token",
        "unauthorized",
        "the read token has expired: ask the host app for a new one",
    ),
    503: ("The database is unavailable; retry later", "storage_unavailable", "the database is unavailable"),
}
_ADMIN_ERRORS = {  # status: (when, the error's code, an example message)
    400: (
        "The body or a parameter is malformed; the message names the field",
        "bad_request",
        "body: Expected `int`, got `str` - at `$.corrections[0].units`",
    ),
    401: ("Missing or unknown admin key", "unauthorized", "the admin key is not valid"),
    403: (
        "An ingest key or a tenant read token, or the admin API is off (no LEDGER_ADMIN_KEYS)",
        "forbidden",
        "an ingest key only sends usage: corrections and conflicts take an admin key",
    ),
    413: ("Too many corrections in one request", "payload_too_large", "corrections: 1001 in one request"),
    503: ("The database is unavailable; retry later", "storage_unavailable", "the database is unavailable"),
}
_WEBHOOK_ERRORS = {
    "400": "The form or JSON body cannot be read, or a usage event it maps to is invalid (named in the message)",
    "403": "The provider's signature is missing or does not match: nothing was recorded",
    "413": "The body exceeds this endpoint's limit",
    "503": "The database is unavailable; the provider retries",
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


def read_errors() -> dict[int, ResponseSpec]:
    """The read API's error answers, for its handlers' `responses`."""
    return _error_specs(_READ_ERRORS)


def admin_errors() -> dict[int, ResponseSpec]:
    """The admin API's error answers, for its handlers' `responses`."""
    return _error_specs(_ADMIN_ERRORS)


def _error_specs(errors: dict[int, tuple[str, str, str]]) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            ErrorBody,
            description=text,
            generate_examples=False,
            examples=[Example(value={"error": {"code": code, "message": sample}})],
        )
        for status, (text, code, sample) in errors.items()
    }


def _errors(descriptions: dict[str, str]) -> dict[str, OpenAPIResponse]:
    schema = schema_of(ErrorBody)
    return {
        status: OpenAPIResponse(description=text, content={"application/json": OpenAPIMediaType(schema=schema)})
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
        self.security = INGEST_SECURITY


@dataclass
class WebhookOperation(Operation):
    """A provider webhook: signed by the provider (no bearer scheme), errors in the ledger's envelope."""

    def __post_init__(self) -> None:
        self.responses = {**(self.responses or {}), **_errors(_WEBHOOK_ERRORS)}


def _strings(*names: str) -> dict[str, Schema | Reference]:
    return {name: Schema(type=_STRING) for name in names}


def _query(name: str, description: str) -> Parameter:
    return Parameter(
        name=name, param_in=ParamType.QUERY, required=False, schema=Schema(type=_STRING), description=description
    )


@dataclass
class TwilioWebhookOperation(WebhookOperation):
    """Twilio's form post in, TwiML out; the query parameters are part of the URL Twilio signs."""

    def __post_init__(self) -> None:
        super().__post_init__()
        fields_read = _strings(
            "MessageSid",
            "SmsSid",
            "CallSid",
            "AccountSid",
            "From",
            "To",
            "NumSegments",
            "NumMedia",
            "CallStatus",
            "CallDuration",
            "Direction",
            "Digits",
        )
        form = Schema(type=OpenAPIType.OBJECT, properties=fields_read, additional_properties=True)
        self.request_body = RequestBody(
            required=True,
            description="Twilio's webhook parameters, as Twilio posts them (the ones the ledger reads are listed)",
            content={"application/x-www-form-urlencoded": OpenAPIMediaType(schema=form)},
        )
        self.parameters = [
            *(self.parameters or []),
            _query("step", "IVR: the step's name in the usage key (ivr endpoint only)"),
            _query("visit", "IVR: tells apart visits of one step in one call (ivr endpoint only)"),
            _query("next", "sms and ivr: an http(s) URL the TwiML answer redirects Twilio to"),
        ]
        twiml = Schema(type=_STRING, description="TwiML: an empty <Response/> or a <Redirect>")
        ok = OpenAPIResponse(description="TwiML", content={"application/xml": OpenAPIMediaType(schema=twiml)})
        self.responses = {**(self.responses or {}), "200": ok}


@dataclass
class SendGridWebhookOperation(WebhookOperation):
    """SendGrid's Signed Event Webhook: a JSON array of events, signed over timestamp + body."""

    def __post_init__(self) -> None:
        super().__post_init__()
        event = Schema(
            type=OpenAPIType.OBJECT,
            properties=_strings("event", "sg_message_id", "sg_event_id", "usage_tenant_id", "usage_recorded_at_send")
            | {"timestamp": Schema(type=OpenAPIType.INTEGER, description="Unix seconds")},
            additional_properties=True,
        )
        self.request_body = RequestBody(
            required=True,
            description="The events SendGrid batches; only `processed` ones not billed at send time are usage",
            content={"application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.ARRAY, items=event))},
        )


@dataclass
class OtlpOperation(Operation):
    def __post_init__(self) -> None:
        protobuf = OpenAPIMediaType(schema=Schema(type=_STRING, format=OpenAPIFormat.BINARY))
        as_json = OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT, description="ExportTraceServiceRequest"))
        self.request_body = RequestBody(
            required=True, content={"application/x-protobuf": protobuf, "application/json": as_json}
        )
        # Answers (ExportTraceServiceResponse, or a google.rpc.Status on error) come in the request's encoding.
        status = Schema(
            type=OpenAPIType.OBJECT,
            description="google.rpc.Status",
            properties={
                "code": Schema(type=OpenAPIType.INTEGER, description="google.rpc.Code"),
                "message": Schema(type=_STRING),
            },
        )
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
        self.security = INGEST_SECURITY
