"""The ingest service: typed events in, valid ones stored exactly once, a per-event outcome out."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from ledger_service.errors import PayloadTooLargeError
from ledger_service.ingest.model import EventRejected, IngestItem, IngestResult, Rejection
from ledger_service.ingest.validation import Limits, Window, check_event
from ledger_service.offload import off_loop
from ledger_service.settings import Settings
from ledger_service.storage.ledger import LedgerRepository, NewEvents
from usage_ledger_contract import fields
from usage_ledger_contract.wire import UsageEvent


class _BatchBuilder:
    """Collects accepted events in column form, dropping repeats of a key within the batch."""

    def __init__(self) -> None:
        self.rows = NewEvents()
        self.in_batch_duplicates = 0
        self._keys: set[tuple[str, str]] = set()
        self._ids: set[uuid.UUID] = set()

    def add(self, event: UsageEvent, occurred_at: datetime, metadata: str) -> None:
        key = event.idempotency_key or (str(event.id) if event.id else None)
        if key is None:
            raise EventRejected(fields.IDEMPOTENCY_KEY, "is required (or an id) so that a retried event counts once")
        if (event.tenant_id, key) in self._keys:
            self.in_batch_duplicates += 1
            return
        if event.id is not None:
            if event.id in self._ids:
                raise EventRejected(fields.ID, "repeats the id of another event in this batch with a different key")
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


# Below this many events checking a batch takes well under a millisecond: a thread hop would cost more.
INLINE_EVENTS = 200


class _Prepared:
    """A checked batch: the rows to insert and the rejections, in the items' order."""

    def __init__(self) -> None:
        self.builder = _BatchBuilder()
        self.rejections: list[Rejection] = []


class IngestService:
    def __init__(self, repository: LedgerRepository, settings: Settings) -> None:
        self._repository = repository
        self._limits = Limits.from_settings(settings)
        self._catalog = settings.catalog
        self._max_events = settings.max_batch_events

    async def ingest(self, items: Sequence[IngestItem]) -> IngestResult:
        """Check every event, store the valid ones exactly once; the outcome keeps each item's index."""
        if len(items) > self._max_events:
            raise PayloadTooLargeError(
                f"the batch has {len(items)} events; the limit is {self._max_events} "
                "(LEDGER_MAX_BATCH_EVENTS): split it into smaller batches"
            )
        # Checking 10,000 events is tens of milliseconds of CPU: not on the event loop, which must keep
        # answering everyone else (health probes included) meanwhile.
        prepare = functools.partial(self._prepare, items, Window.around(datetime.now(UTC), self._limits))
        prepared = prepare() if len(items) <= INLINE_EVENTS else await off_loop(prepare)
        builder = prepared.builder
        stored = await self._repository.insert_batch(builder.rows)
        duplicates = len(builder.rows) - stored + builder.in_batch_duplicates
        return IngestResult(accepted=stored, duplicates=duplicates, rejections=prepared.rejections)

    def _prepare(self, items: Sequence[IngestItem], window: Window) -> _Prepared:
        prepared = _Prepared()
        for index, item in enumerate(items):
            if isinstance(item, EventRejected):  # the adapter could not make an event of it
                prepared.rejections.append(Rejection(index, item))
                continue
            try:
                prepared.builder.add(item, *check_event(item, window, self._limits, self._catalog))
            except EventRejected as rejected:
                prepared.rejections.append(Rejection(index, rejected))
        return prepared
