"""Usage records to the ledger's wire format (POST /api/usage/events). Encoding only; no transport here.

An event is encoded once into its JSON object bytes; that is what the spool stores and what a batch
body is joined from, so a replayed event is byte-for-byte the one first sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import msgspec


class UsageRecord(NamedTuple):
    """One recorded usage event as it waits in memory (a tuple: cheap to make on the caller's thread)."""

    tenant_id: str
    source: str
    event_type: str
    units: int
    occurred_at_ns: int  # Unix epoch nanoseconds
    idempotency_key: str
    metadata: bytes  # a JSON object, already validated
    trace_id: int  # 0 when there was no span context
    span_id: int


_encoder = msgspec.json.Encoder()


def rfc3339(epoch_ns: int) -> str:
    seconds, rest = divmod(epoch_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000).isoformat()


def encode_event(record: UsageRecord) -> bytes:
    doc: dict[str, object] = {
        "tenantId": record.tenant_id,
        "source": record.source,
        "eventType": record.event_type,
        "units": record.units,
        "occurredAt": rfc3339(record.occurred_at_ns),
        "idempotencyKey": record.idempotency_key,
        "metadata": msgspec.Raw(record.metadata),
    }
    if record.trace_id:
        doc["traceId"] = f"{record.trace_id:032x}"
        doc["spanId"] = f"{record.span_id:016x}"
    return _encoder.encode(doc)


def encode_body(events: Sequence[bytes]) -> bytes:
    return b'{"events":[' + b",".join(events) + b"]}"


class EventError(msgspec.Struct, frozen=True):
    index: int
    field: str
    message: str


class IngestReport(msgspec.Struct, frozen=True):
    """The ledger's 200 answer."""

    accepted: int
    duplicates: int
    rejected: int
    errors: list[EventError] = []


_report_decoder = msgspec.json.Decoder(IngestReport)


def decode_report(body: bytes) -> IngestReport:
    return _report_decoder.decode(body)
