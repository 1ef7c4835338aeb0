"""Usage records to the ledger's wire format (the contract's UsageEvent). Encoding only; no transport here.

An event is encoded once into its JSON object bytes; that is what the spool stores and what a batch
body is joined from, so a replayed event is byte-for-byte the one first sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

import msgspec

from usage_ledger_contract.wire import IngestReport, UsageEvent


class UsageRecord(NamedTuple):
    """One recorded usage event as it waits in memory (a tuple: cheap to make on the caller's thread)."""

    tenant_id: str
    source: str
    event_type: str
    units: int
    occurred_at_ns: int  # Unix epoch nanoseconds
    idempotency_key: str
    metadata: bytes  # a JSON object, already validated
    trace_id: int  # 0 when there was no span context; OWN_SPAN until the worker made the event's own span
    span_id: int


OWN_SPAN = -1


_encoder = msgspec.json.Encoder()
_report_decoder = msgspec.json.Decoder(IngestReport)


def occurred_at(epoch_ns: int) -> datetime:
    seconds, rest = divmod(epoch_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)


def encode_event(record: UsageRecord) -> bytes:
    traced = record.trace_id > 0
    event = UsageEvent(
        tenant_id=record.tenant_id,
        source=record.source,
        event_type=record.event_type,
        units=record.units,
        idempotency_key=record.idempotency_key,
        metadata=msgspec.Raw(record.metadata),
        occurred_at=occurred_at(record.occurred_at_ns),
        trace_id=f"{record.trace_id:032x}" if traced else None,
        span_id=f"{record.span_id:016x}" if traced else None,
    )
    return _encoder.encode(event)


def decode_report(body: bytes) -> IngestReport:
    return _report_decoder.decode(body)
