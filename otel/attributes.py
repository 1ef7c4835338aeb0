"""OpenTelemetry attribute and event names that carry usage. The ledger's OTLP receiver reads the same names.

A usage record travels as a span event named USAGE_EVENT_NAME (on the provider call's span, or on a short
span of its own) whose attributes are the ones below. A span that itself carries `usage.source` etc. is
read the same way, for senders that cannot add span events.
"""

from __future__ import annotations

from typing import Final

USAGE_EVENT_NAME: Final = "usage"

TENANT_ID: Final = "usage.tenant_id"
SOURCE: Final = "usage.source"
EVENT_TYPE: Final = "usage.event_type"
UNITS: Final = "usage.units"
IDEMPOTENCY_KEY: Final = "usage.idempotency_key"
# RFC 3339 timestamp with offset; when absent the span event's own timestamp is the occurrence time.
OCCURRED_AT: Final = "usage.occurred_at"
# Metadata as one JSON object string (OTel attribute values cannot be nested maps).
METADATA: Final = "usage.metadata"

# Set (True) on every span that carries a `usage` span event, so an OpenTelemetry Collector can route
# usage spans to the ledger with a plain attribute condition (collector/config.yaml) and send the rest
# only to the trace UI. The ledger's OTLP receiver does not treat it as usage.
SPAN_MARKER: Final = "usage.recorded"

# Baggage key carrying the tenant across process boundaries with the trace context.
BAGGAGE_TENANT: Final = "tenant.id"

# Used when usage is recorded with no tenant in scope: stored, counted and warned about, never dropped.
UNATTRIBUTED_TENANT: Final = "unattributed"

REQUIRED: Final = (TENANT_ID, SOURCE, EVENT_TYPE, UNITS, IDEMPOTENCY_KEY)
