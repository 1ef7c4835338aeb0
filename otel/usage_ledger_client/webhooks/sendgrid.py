"""SendGrid's Signed Event Webhook in the app's own handler: verify, then record what the batch bills.

What is billed, and why, is the contract's (usage_ledger_contract.webhooks.sendgrid), the same mapping
the ledger's own endpoint uses. An event that cannot be read is refused on its own, as the ledger does:
the others are recorded, then ValueError names the bad ones (answer 400; SendGrid's retry then finds the
good ones already recorded).
"""

from __future__ import annotations

from usage_ledger_client.record import record_usage_event
from usage_ledger_contract.webhooks._spec import UsageSpec
from usage_ledger_contract.webhooks.sendgrid import (
    DEFAULT_MAX_AGE_SECONDS,
    event_usage,
    parse_events,
    verify_signature,
)


class SendGridEventWebhook:
    """App-side helper: verify, then record what the batch bills. Returns the idempotency keys recorded."""

    def __init__(self, public_key: str, max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS) -> None:
        self._key = public_key
        self._max_age = max_age_seconds

    def record(
        self, payload: bytes, signature: str | None, timestamp: str | None, *, tenant_id: str | None = None
    ) -> list[str]:
        verify_signature(self._key, payload, signature, timestamp, max_age_seconds=self._max_age)
        usage = event_usage(parse_events(payload))
        keys = [_record(spec, tenant_id) for spec in usage.specs]
        if usage.problems:
            reasons = "; ".join(f"event {p.index}: {p.reason}" for p in usage.problems[:5])
            raise ValueError(f"{len(usage.problems)} event(s) of the batch were refused: {reasons}")
        return keys


def _record(spec: UsageSpec, tenant_id: str | None) -> str:
    tenant = spec.tenant_id or tenant_id
    return record_usage_event(
        tenant,
        spec.source,
        spec.event_type,
        spec.units,
        spec.metadata,
        occurred_at=spec.occurred_at,
        idempotency_key=spec.idempotency_key,
    )
