"""Synthetic but realistic usage for a few demo tenants over the last 30 days.

Idempotency keys are derived from (tenant, day, n), so running the demo again adds only the days that
are new since the last run: the ledger's own deduplication does the work.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec
from rich.progress import Progress

from ledger_service.ingest.service import IngestService
from usage_ledger_contract.wire import UsageEvent, build_event

DEMO_TENANTS = ("t_acme", "t_globex", "t_initech")
DAYS = 30
_BATCH = 2000

# (source, event_type, mean events per day, units generator)
_PROFILE: tuple[tuple[str, str, int], ...] = (
    ("twilio", "sms_outbound", 120),
    ("twilio", "sms_inbound", 60),
    ("twilio", "mms", 8),
    ("twilio", "call_out", 15),
    ("twilio", "call_in", 12),
    ("twilio", "call_minutes", 25),
    ("twilio", "ivr", 30),
    ("sendgrid", "email_sent", 80),
    ("openai", "ai_message", 90),
    ("openai", "ai_voicemail_summary", 6),
)


def _units(event_type: str, rng: random.Random) -> int:
    match event_type:
        case "sms_outbound" | "sms_inbound":
            return rng.choice((1, 1, 1, 2, 3))
        case "call_minutes":
            return max(1, int(rng.expovariate(1 / 4)))
        case "email_sent":
            return rng.choice((1, 1, 2, 3, 25))
        case "ai_message":
            return rng.randint(150, 4000)
        case "ai_voicemail_summary":
            return rng.randint(300, 1200)
        case _:
            return 1


def _metadata(event_type: str, units: int, rng: random.Random) -> msgspec.Raw:
    metadata: dict[str, object] = {}
    if event_type == "ai_message":
        out = rng.randint(20, units // 3)
        metadata = {"gen_ai.request.model": "gpt-4o-mini"}
        metadata |= {"gen_ai.usage.input_tokens": units - out, "gen_ai.usage.output_tokens": out}
    elif event_type == "call_minutes":
        metadata = {"direction": rng.choice(("inbound", "outbound-api"))}
    return msgspec.Raw(msgspec.json.encode(metadata))


def demo_events(tenant: str, now: datetime) -> Iterator[UsageEvent]:
    """Every demo event of one tenant for the last DAYS days."""
    scale = 1 + DEMO_TENANTS.index(tenant) if tenant in DEMO_TENANTS else 1
    for day in range(DAYS):
        day_start = (now - timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        rng = random.Random(f"{tenant}:{day_start.date()}")  # noqa: S311 - seeded so reruns repeat the same days
        weekday_factor = 0.5 if day_start.weekday() >= 5 else 1.0
        for source, event_type, per_day in _PROFILE:
            count = int(rng.gauss(per_day, per_day / 5) * weekday_factor / scale)
            for n in range(max(0, count)):
                occurred = day_start + timedelta(seconds=rng.randrange(86_400))
                if occurred > now:
                    continue
                units = _units(event_type, rng)
                yield build_event(
                    tenant_id=tenant,
                    source=source,
                    event_type=event_type,
                    units=units,
                    occurred_at=occurred,
                    metadata=_metadata(event_type, units, rng),
                    idempotency_key=f"demo:{tenant}:{day_start.date()}:{event_type}:{n}",
                    trace_id=uuid.UUID(int=rng.getrandbits(128)).hex,
                )


async def seed_demo(ingest: IngestService, tenants: tuple[str, ...] = DEMO_TENANTS) -> dict[str, int]:
    """Ingest the demo tenants' usage; return events stored per tenant (0 for days already seeded)."""
    now = datetime.now(UTC)
    stored: dict[str, int] = {}
    with Progress(transient=True) as progress:
        for tenant in tenants:
            task = progress.add_task(f"seeding {tenant}", total=None)
            stored[tenant] = 0
            batch: list[UsageEvent] = []
            for event in demo_events(tenant, now):
                batch.append(event)
                if len(batch) == _BATCH:
                    stored[tenant] += (await ingest.ingest(batch)).accepted
                    progress.advance(task, len(batch))
                    batch = []
            stored[tenant] += (await ingest.ingest(batch)).accepted
            progress.advance(task, len(batch))
    return stored
