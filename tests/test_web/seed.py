"""A fixed set of usage events for three tenants, and what the page should show for them."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

ACME, OTHER, EMPTY = "t_acme", "t_other", "t_empty"
TRACE_TEMPLATE = "http://traces.test/trace/{trace_id}"
# Content an app with content capture turned on would have stored: the page must never show any of it.
CONTENT = ("Your code is 4711", "Quarterly invoice attached", "Summarise this voicemail", "Sure, here is a summary")


@dataclass(frozen=True)
class Seeded:
    events: list[dict[str, Any]]

    def of(self, tenant: str, **match: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["tenantId"] == tenant and all(e[k] == v for k, v in match.items())]

    def totals(self, tenant: str) -> dict[tuple[str, str], int]:
        sums: Counter[tuple[str, str]] = Counter()
        for e in self.of(tenant):
            sums[(e["source"], e["eventType"])] += e["units"]
        return dict(sums)

    def on_day(self, tenant: str, day: date) -> list[dict[str, Any]]:
        return [e for e in self.of(tenant) if datetime.fromisoformat(e["occurredAt"]).date() == day]


def build(now: datetime) -> Seeded:
    """97 events for ACME (4 pages of 25) over the last 28 days, 5 for OTHER; every third has a trace."""
    plan: list[tuple[str, str, str, int, Callable[[int], int]]] = [  # units: of the n-th event of its kind
        (ACME, "twilio", "sms_outbound", 60, lambda n: 1 + n % 3),
        (ACME, "twilio", "call_minutes", 10, lambda n: 5),
        (ACME, "sendgrid", "email_sent", 15, lambda n: 2),
        (ACME, "openai", "ai_message", 12, lambda n: 1000 + n),
        (OTHER, "openai", "ai_message", 5, lambda n: 777),
    ]
    events, serial = [], 0
    for tenant, source, event_type, count, units in plan:
        for n in range(count):
            serial += 1
            # Distinct instants, all within the last 30 UTC days whatever the time of day now.
            at = now - timedelta(days=serial % 28, hours=1, minutes=serial)
            event: dict[str, Any] = {
                "tenantId": tenant,
                "source": source,
                "eventType": event_type,
                "units": units(n),
                "occurredAt": at.isoformat(),
                "idempotencyKey": f"page-{serial}",
                "metadata": metadata(event_type, serial, units(n)),
            }
            if serial % 3 == 0:
                event["traceId"] = uuid.uuid5(uuid.NAMESPACE_URL, f"trace-{serial}").hex
            events.append(event)
    return Seeded(events)


def metadata(event_type: str, serial: int, units: int) -> dict[str, Any]:
    """What the client library's instrumentors record for each kind, content capture turned on."""
    if event_type == "sms_outbound":
        return {"message_sid": f"SM{serial:032x}", "status": "sent", "num_segments": units, "body": CONTENT[0]}
    if event_type == "call_minutes":
        seconds = units * 60 - 35  # rounded up to `units` minutes
        return {"call_sid": f"CA{serial:032x}", "direction": "outbound-api", "call_duration_seconds": seconds}
    if event_type == "email_sent":
        recipients = {"recipients": units, "to_count": 1, "cc_count": units - 1}
        return {"x_message_id": f"sg-{serial}", **recipients, "subject": CONTENT[1]}
    return ai_metadata(serial, units)


def ai_metadata(serial: int, units: int) -> dict[str, Any]:
    output = units // 4
    return {
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{serial}",
        "gen_ai.usage.input_tokens": units - output,
        "gen_ai.usage.cache_read.input_tokens": 256,
        "gen_ai.usage.output_tokens": output,
        "gen_ai.usage.reasoning.output_tokens": 64,
        "gen_ai.prompt": CONTENT[2],
        "gen_ai.completion": CONTENT[3],
        "gen_ai.input.messages": [{"role": "user", "content": CONTENT[2]}],
    }


def ingest(base_url: str, ingest_key: str, events: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ingest_key}"}, timeout=30) as http:
        response = http.post("/api/usage/events", json={"events": events})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events), response.text


def utc_now() -> datetime:
    return datetime.now(UTC)
