"""The fields of a usage event, each under every name it goes by.

One definition per field: the Python keyword (record_usage_event, the typed event), the JSON wire name
(POST /api/usage/events, the CSV header) and the OpenTelemetry attribute that carries it on a `usage`
span event (OTLP). An error about a field is raised with the Field itself, and whoever answers the caller
names it in the caller's own vocabulary, so no side keeps a table translating one name into another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # Python: record_usage_event(tenant_id=...), UsageEvent.tenant_id
    wire: str  # JSON: {"tenantId": ...}
    attribute: str = ""  # OTel: usage.tenant_id; "" where the span itself supplies it (ids, trace context)


TENANT_ID: Final = Field("tenant_id", "tenantId", "usage.tenant_id")
SOURCE: Final = Field("source", "source", "usage.source")
EVENT_TYPE: Final = Field("event_type", "eventType", "usage.event_type")
UNITS: Final = Field("units", "units", "usage.units")
IDEMPOTENCY_KEY: Final = Field("idempotency_key", "idempotencyKey", "usage.idempotency_key")
# RFC 3339 with an offset; on a span event, when absent, the event's own timestamp is the occurrence time.
OCCURRED_AT: Final = Field("occurred_at", "occurredAt", "usage.occurred_at")
# A JSON object; as an attribute it is one JSON string (OTel attribute values cannot be nested maps).
METADATA: Final = Field("metadata", "metadata", "usage.metadata")
ID: Final = Field("id", "id")
TRACE_ID: Final = Field("trace_id", "traceId")
SPAN_ID: Final = Field("span_id", "spanId")
# Not a field: the event as a whole (it is not an object, not valid JSON, ...).
EVENT: Final = Field("event", "event")

ALL: Final = (TENANT_ID, SOURCE, EVENT_TYPE, UNITS, IDEMPOTENCY_KEY, OCCURRED_AT, METADATA, ID, TRACE_ID, SPAN_ID)
BY_WIRE: Final = {f.wire: f for f in (*ALL, EVENT)}
BY_NAME: Final = {f.name: f for f in (*ALL, EVENT)}
WIRE_NAMES: Final = {f.name: f.wire for f in ALL}
