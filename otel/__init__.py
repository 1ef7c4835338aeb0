"""usage-ledger client library: record billable usage as OpenTelemetry events and ship it to the ledger."""

from otel.event_types import EventType, UnknownEventTypeError, all_event_types, lookup, register_event_type

__all__ = ["EventType", "UnknownEventTypeError", "all_event_types", "lookup", "register_event_type"]
