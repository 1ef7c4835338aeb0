"""The JSON adapter: a `{"events": [...]}` body into typed events, and the outcome into the JSON report.

Each event is decoded on its own (msgspec checks its shape and the contract's constraints), so one bad
event rejects only itself. Problems are named by the events' own (camelCase) field names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from ledger_service.errors import BadRequestError
from ledger_service.ingest.model import EventRejected, IngestItem, IngestResult, rejected_by_msgspec, wire_name
from usage_ledger_contract import fields
from usage_ledger_contract.wire import EventBatch, EventError, IngestReport, UsageEvent

T = TypeVar("T")

_batch_decoder = msgspec.json.Decoder(EventBatch)
_event_decoder = msgspec.json.Decoder(UsageEvent)


def decode_events(body: bytes) -> list[IngestItem]:
    """The body's events, each decoded or rejected; a body that is not such a batch is a 400."""
    try:
        batch = decode_json_body(_batch_decoder.decode, body)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f'body must be an object {{"events": [...]}}: {exc}') from None
    return [_decode_event(raw) for raw in batch.events]


def report(result: IngestResult) -> IngestReport:
    errors = [EventError(r.index, r.reason.field_name(wire_name), r.reason.message) for r in result.rejections]
    return IngestReport(result.accepted, result.duplicates, result.rejected, errors)


def _decode_event(raw: msgspec.Raw) -> IngestItem:
    try:
        return _event_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return rejected_by_msgspec(exc, fields.BY_WIRE)
    except msgspec.DecodeError as exc:
        return EventRejected(fields.EVENT, f"not valid JSON: {exc}")
    except RecursionError:
        return EventRejected(fields.EVENT, "not valid JSON: nested too deeply")
    except UnicodeDecodeError as exc:
        return EventRejected(fields.EVENT, f"not valid UTF-8: {exc.reason}")


def decode_json_body(decode: Callable[[bytes], T], body: bytes) -> T:
    """`decode(body)`, with every way a body can fail to be JSON as a 400 (never a 500).

    A msgspec.ValidationError (valid JSON of the wrong shape) is left to the caller, which knows the shape.
    """
    try:
        return decode(body)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError("body is not valid JSON: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"body is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
