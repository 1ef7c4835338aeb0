"""Builders for ingest payloads in the wire format (camelCase JSON)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "tenantId": "t_acme",
        "source": "twilio",
        "eventType": "sms_outbound",
        "units": 1,
        "occurredAt": datetime.now(UTC).isoformat(),
        "idempotencyKey": f"key-{uuid.uuid4()}",
        "metadata": {"to": "+15550100", "status": "queued"},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}
