"""OpenTelemetry names that carry usage: the client library writes them, the ledger's OTLP receiver reads them.

A usage record travels as a span event named USAGE_EVENT_NAME (on the provider call's span, or on a short
span of its own) whose attributes are the `usage.*` ones named in fields.py. A span that itself carries
`usage.source` etc. is read the same way, for senders that cannot add span events.
"""

from __future__ import annotations

from typing import Final

from usage_ledger_contract import fields

USAGE_EVENT_NAME: Final = "usage"

# The attribute names, as defined with their fields in fields.py.
TENANT_ID: Final = fields.TENANT_ID.attribute
SOURCE: Final = fields.SOURCE.attribute
EVENT_TYPE: Final = fields.EVENT_TYPE.attribute
UNITS: Final = fields.UNITS.attribute
IDEMPOTENCY_KEY: Final = fields.IDEMPOTENCY_KEY.attribute
OCCURRED_AT: Final = fields.OCCURRED_AT.attribute
METADATA: Final = fields.METADATA.attribute

# The fields carried as attributes, and those a usage record cannot do without.
CARRIED: Final = tuple(f for f in fields.ALL if f.attribute)
REQUIRED: Final = (fields.TENANT_ID, fields.SOURCE, fields.EVENT_TYPE, fields.UNITS, fields.IDEMPOTENCY_KEY)

# Set (True) on every span that carries a `usage` span event, so an OpenTelemetry Collector can route
# usage spans to the ledger with a plain attribute condition (collector/config.yaml) and send the rest
# only to the trace UI. The ledger's OTLP receiver does not treat it as usage.
SPAN_MARKER: Final = "usage.recorded"

# Baggage key carrying the tenant across process boundaries with the trace context.
BAGGAGE_TENANT: Final = "tenant.id"

# Used when usage is recorded with no tenant in scope: stored, counted and warned about, never dropped.
UNATTRIBUTED_TENANT: Final = "unattributed"
