"""The ingest service: a JSON batch in, valid events stored exactly once, a per-event report out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import msgspec

from ledger_service.errors import BadRequestError, PayloadTooLargeError
from ledger_service.ingest.model import BatchIn, EventError, EventIn, IngestResult
from ledger_service.ingest.validation import EventRejected, Limits, Window, check_event, decode_event
from ledger_service.settings import Settings
from ledger_service.storage.ledger import LedgerRepository, NewEvents

_batch_decoder = msgspec.json.Decoder(BatchIn)
T = TypeVar("T")


class _BatchBuilder:
    """Collects accepted events in column form, dropping repeats of a key within the batch."""

    def __init__(self) -> None:
        self.rows = NewEvents()
        self.in_batch_duplicates = 0
        self._keys: set[tuple[str, str]] = set()
        self._ids: set[uuid.UUID] = set()

    def add(self, event: EventIn, occurred_at: datetime, metadata: str) -> None:
        key = event.idempotency_key or (str(event.id) if event.id else None)
        if key is None:
            raise EventRejected("idempotencyKey", "is required (or an id) so that a retried event counts once")
        if (event.tenant_id, key) in self._keys:
            self.in_batch_duplicates += 1
            return
        if event.id is not None:
            if event.id in self._ids:
                raise EventRejected("id", "repeats the id of another event in this batch with a different key")
            self._ids.add(event.id)
        self._keys.add((event.tenant_id, key))
        rows = self.rows
        rows.ids.append(event.id)
        rows.tenant_ids.append(event.tenant_id)
        rows.idempotency_keys.append(key)
        rows.sources.append(event.source)
        rows.event_types.append(event.event_type)
        rows.units.append(event.units)
        rows.metadata.append(metadata)
        rows.occurred_at.append(occurred_at)
        rows.trace_ids.append(event.trace_id)
        rows.span_ids.append(event.span_id)


class IngestService:
    def __init__(self, repository: LedgerRepository, settings: Settings) -> None:
        self._repository = repository
        self._limits = Limits.from_settings(settings)
        self._max_events = settings.max_batch_events

    async def ingest_json(self, body: bytes) -> IngestResult:
        """Validate and store a `{"events": [...]}` body."""
        return await self.ingest_raw_events(self._decode_batch(body).events)

    async def ingest_raw_events(self, raw_events: list[msgspec.Raw] | list[bytes]) -> IngestResult:
        if len(raw_events) > self._max_events:
            raise PayloadTooLargeError(
                f"the batch has {len(raw_events)} events; the limit is {self._max_events} "
                "(LEDGER_MAX_BATCH_EVENTS): split it into smaller batches"
            )
        window = Window.around(datetime.now(UTC), self._limits)
        builder = _BatchBuilder()
        errors: list[EventError] = []
        for index, raw in enumerate(raw_events):
            try:
                event = decode_event(raw)
                builder.add(event, *check_event(event, window, self._limits))
            except EventRejected as rejected:
                errors.append(rejected.to_error(index))
        stored = await self._repository.insert_batch(builder.rows)
        return IngestResult(
            accepted=stored,
            duplicates=len(builder.rows) - stored + builder.in_batch_duplicates,
            rejected=len(errors),
            errors=errors,
        )

    @staticmethod
    def _decode_batch(body: bytes) -> BatchIn:
        try:
            return decode_json_body(_batch_decoder.decode, body)
        except msgspec.ValidationError as exc:
            raise BadRequestError(f'body must be an object {{"events": [...]}}: {exc}') from None


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
