"""The JSON adapter: a `{"events": [...]}` body into typed events, and the outcome into the JSON report.

Each event is decoded on its own (msgspec checks its shape and the contract's constraints), so one bad
event rejects only itself. Problems are named by the events' own (camelCase) field names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import msgspec

from ledger_service.errors import BadRequestError
from ledger_service.ingest.json_split import split_events
from ledger_service.ingest.model import (
    Conflict,
    EventRejected,
    IngestItem,
    IngestResult,
    rejected_by_msgspec,
    wire_name,
)
from usage_ledger_contract import fields
from usage_ledger_contract.wire import EventBatch, EventConflict, EventError, IngestReport, UsageEvent

T = TypeVar("T")

_batch_decoder = msgspec.json.Decoder(EventBatch)
_event_decoder = msgspec.json.Decoder(UsageEvent)
# Every way bytes can fail to decode as JSON (a ValidationError, a shape problem, is a DecodeError too).
_NOT_JSON = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)
# A \uD800-\uDFFF escape that is not a high surrogate followed by a low one (preceded by an even run of
# backslashes, so it is an escape and not an escaped backslash followed by "u").
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u(?:d[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})"
    rb"|(?<!\\ud[89ab][0-9a-f]{2}\\u)d[c-f][0-9a-f]{2})",
    re.IGNORECASE,
)


def decode_events(body: bytes) -> list[IngestItem]:
    """The body's events, each decoded or rejected; a body that is not such a batch is a 400.

    The fast path decodes the whole batch at once. When that fails for a problem inside one event (a bad
    string escape, a byte that is not UTF-8, nesting too deep), the events are found by structure alone and
    decoded one by one, so only the bad event is rejected.
    """
    try:
        batch = _batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f'body must be an object {{"events": [...]}}: {exc}') from None
    except _NOT_JSON as exc:
        raws = split_events(body)
        if raws is None:  # not even shaped like a batch: the whole body is refused, saying why
            raise not_json(body, exc) from None
        return [decode_event(raw) for raw in raws]
    return [decode_event(raw) for raw in batch.events]


def report(result: IngestResult) -> IngestReport:
    errors = [EventError(r.index, r.reason.field_name(wire_name), r.reason.message) for r in result.rejections]
    return IngestReport(
        result.accepted,
        result.duplicates,
        result.rejected,
        errors,
        conflicts=len(result.conflicts),
        conflict_details=conflict_details(result.conflicts),
    )


def conflict_details(conflicts: list[Conflict]) -> list[EventConflict]:
    """Each conflict by its index, key and what differs, in the JSON callers' words."""
    return [EventConflict(c.index, c.idempotency_key, c.field_names(wire_name), c.text(wire_name)) for c in conflicts]


def decode_event(raw: msgspec.Raw | bytes) -> IngestItem:
    """One event's JSON, decoded, or why it cannot be one."""
    try:
        return _event_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return rejected_by_msgspec(exc, fields.BY_WIRE)
    except msgspec.DecodeError as exc:
        return EventRejected(fields.EVENT, f"not valid JSON: {_lone_surrogate(bytes(raw)) or exc}")
    except RecursionError:
        return EventRejected(fields.EVENT, "not valid JSON: nested too deeply")
    except UnicodeDecodeError as exc:
        return EventRejected(fields.EVENT, f"not valid UTF-8: {exc.reason}")


def _lone_surrogate(raw: bytes) -> str | None:
    """msgspec calls a lone surrogate escape "truncated input"; name it instead."""
    found = _LONE_SURROGATE.search(raw)
    if found is None:
        return None
    escape = found.group(0).lstrip(b"\\").decode("ascii")
    return f"\\{escape} is half of a UTF-16 surrogate pair without its other half, which is not a character"


def decode_json_body(decode: Callable[[bytes], T], body: bytes) -> T:
    """`decode(body)`, with every way a body can fail to be JSON as a 400 (never a 500).

    A msgspec.ValidationError (valid JSON of the wrong shape) is left to the caller, which knows the shape.
    """
    try:
        return decode(body)
    except msgspec.ValidationError:
        raise
    except _NOT_JSON as exc:
        raise not_json(body, exc) from None


def not_json(body: bytes, exc: Exception) -> BadRequestError:
    """The 400 for a body that does not decode, saying why."""
    if isinstance(exc, RecursionError):
        return BadRequestError("body is not valid JSON: nested too deeply")
    if isinstance(exc, UnicodeDecodeError):
        return BadRequestError(f"body is not valid UTF-8: {exc.reason} at byte {exc.start}")
    return BadRequestError(f"body is not valid JSON: {_lone_surrogate(body) or exc}")
