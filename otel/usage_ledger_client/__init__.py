"""usage-ledger client library: record billable usage as OpenTelemetry events and ship it to the ledger.

The event types, their units and every limit come from the contract (usage_ledger_contract), which the
ledger validates against too.
"""

from usage_ledger_client.client import configure, flush, metrics, shutdown
from usage_ledger_client.errors import UsageValidationError
from usage_ledger_client.record import record_usage_event
from usage_ledger_client.stats import UsageClientMetrics
from usage_ledger_client.tenant import current_tenant, usage_tenant
from usage_ledger_contract.catalog import CATALOG, EventType

__all__ = [
    "CATALOG",
    "EventType",
    "UsageClientMetrics",
    "UsageValidationError",
    "configure",
    "current_tenant",
    "flush",
    "metrics",
    "record_usage_event",
    "shutdown",
    "usage_tenant",
]
