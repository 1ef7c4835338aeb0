"""OpenAPI for the routes that read their raw body (for per-event validation and OTLP decoding).

Litestar cannot infer a request body from `request.stream()`, so these operation classes describe the
body and the error answers by hand; the handlers' behaviour does not depend on them. Clients and
schemathesis (tests/test_fuzz) read them from /schema/openapi.json.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, RequestBody, Schema

from otel.event_types import MAX_UNITS, SOURCES, all_event_types

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


def _event_schema() -> Schema:
    types = sorted({event_type for _, event_type in all_event_types()})
    return Schema(
        type=OpenAPIType.OBJECT,
        required=["tenantId", "source", "eventType", "units"],
        additional_properties=False,
        properties={
            "tenantId": Schema(type=_STRING, min_length=1, max_length=128),
            "source": Schema(type=_STRING, enum=list(SOURCES)),
            "eventType": Schema(type=_STRING, enum=list(types)),
            "units": Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=MAX_UNITS),
            "idempotencyKey": Schema(
                type=_STRING,
                min_length=1,
                max_length=256,
                description="Required unless `id` is given: a retried event with the same key counts once",
            ),
            "metadata": Schema(type=OpenAPIType.OBJECT, description="Small JSON object (ids, counts, statuses)"),
            "occurredAt": Schema(type=_STRING, format="date-time"),  # type: ignore[arg-type]
            "id": Schema(type=_STRING, format="uuid"),  # type: ignore[arg-type]
            "traceId": Schema(type=_STRING, pattern="^[0-9a-f]{32}$"),
            "spanId": Schema(type=_STRING, pattern="^[0-9a-f]{16}$"),
        },
    )


def _errors(descriptions: dict[str, str], media_type: str = "application/json") -> dict[str, OpenAPIResponse]:
    return {
        status: OpenAPIResponse(description=text, content={media_type: OpenAPIMediaType(schema=_ERROR_SCHEMA)})
        for status, text in descriptions.items()
    }


@dataclass
class IngestOperation(Operation):
    def __post_init__(self) -> None:
        batch = Schema(
            type=OpenAPIType.OBJECT,
            required=["events"],
            additional_properties=False,
            properties={"events": Schema(type=OpenAPIType.ARRAY, items=_event_schema())},
        )
        self.request_body = RequestBody(
            required=True,
            description="Events are validated one by one: an invalid one is reported in `errors`, the rest stored",
            content={"application/json": OpenAPIMediaType(schema=batch)},
        )
        self.responses = {**(self.responses or {}), **_errors(_INGEST_ERRORS)}


@dataclass
class OtlpOperation(Operation):
    def __post_init__(self) -> None:
        protobuf = OpenAPIMediaType(schema=Schema(type=_STRING, format="binary"))  # type: ignore[arg-type]
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
