"""A usage event read from a provider webhook, before anyone records it.

The mapping from webhook parameters to usage is shared: the app-side helpers (usage_ledger_client.webhooks) record these
with record_usage_event, the ledger's own webhook endpoints store them directly. Same keys both ways, so
a webhook delivered to both (or retried) counts once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class InvalidSignatureError(ValueError):
    """The webhook's signature is missing or does not match: treat the request as forged (answer 403)."""


@dataclass(frozen=True, slots=True)
class UsageSpec:
    source: str
    event_type: str
    units: int
    idempotency_key: str
    metadata: dict[str, object] = field(default_factory=dict)
    occurred_at: datetime | None = None
    tenant_id: str | None = None  # set when the webhook itself names the tenant (SendGrid custom args)
