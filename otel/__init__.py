"""usage-ledger client library: record billable usage as OpenTelemetry events and ship it to the ledger."""

from otel.client import configure, flush, metrics, shutdown
from otel.errors import UsageValidationError
from otel.event_types import EventType, UnknownEventTypeError, all_event_types, lookup, register_event_type
from otel.record import record_usage_event
from otel.stats import UsageClientMetrics
from otel.tenant import current_tenant, usage_tenant

__all__ = [
    "EventType",
    "UnknownEventTypeError",
    "UsageClientMetrics",
    "UsageValidationError",
    "all_event_types",
    "configure",
    "current_tenant",
    "flush",
    "lookup",
    "metrics",
    "record_usage_event",
    "register_event_type",
    "shutdown",
    "usage_tenant",
]
