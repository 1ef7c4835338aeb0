"""The ingest service: typed events in, valid ones stored exactly once, a per-event outcome out.

Every event is exactly one of: accepted (stored now), duplicate (its key holds the same event), conflict
(its key holds another event: reported, kept in usage_conflicts, changes nothing) or rejected.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from ledger_service.errors import PayloadTooLargeError
from ledger_service.ingest.content import Content, against_stored
from ledger_service.ingest.metrics import IngestCounters
from ledger_service.ingest.model import (
    Conflict,
    Difference,
    EventRejected,
    IngestItem,
    IngestOptions,
    IngestResult,
    Rejection,
    wire_name,
)
from ledger_service.ingest.validation import Limits, Window, check_event
from ledger_service.offload import off_loop
from ledger_service.settings import Settings
from ledger_service.storage.ledger import ConflictRecord, Inserted, KeyLookup, LedgerRepository, NewEvents
from usage_ledger_contract import fields
from usage_ledger_contract.wire import UsageEvent


@dataclass(frozen=True, slots=True)
class _Repeat:
    """An event whose key came earlier in the same batch (at row `first`)."""

    index: int
    first: int
    content: Content


@dataclass(slots=True)
class _Found:
    """A conflict being assembled, with the content that was sent (kept with it)."""

    index: int
    tenant_id: str
    idempotency_key: str
    differences: list[Difference]
    content: Content
    event_id: UUID | None = None

    @property
    def conflict(self) -> Conflict:
        return Conflict(self.index, self.tenant_id, self.idempotency_key, self.event_id, self.differences)


@dataclass(slots=True)
class _BatchBuilder:
    """Collects accepted events in column form; a key's later events in the batch are set aside as repeats."""

    rows: NewEvents = field(default_factory=NewEvents)
    items: list[int] = field(default_factory=list)  # the item index of each row
    contents: list[Content] = field(default_factory=list)
    repeats: list[_Repeat] = field(default_factory=list)
    _rows_by_key: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, index: int, event: UsageEvent, occurred_at: datetime, metadata: str) -> None:
        key = event.idempotency_key or (str(event.id) if event.id else None)
        if key is None:
            raise EventRejected(fields.IDEMPOTENCY_KEY, "is required (or an id) so that a retried event counts once")
        assigned = event.occurred_at is None
        content = Content(event.source, event.event_type, event.units, occurred_at, assigned, metadata)
        first = self._rows_by_key.get((event.tenant_id, key))
        if first is not None:
            self.repeats.append(_Repeat(index, first, content))
            return
        self._rows_by_key[(event.tenant_id, key)] = len(self.items)
        self.items.append(index)
        self.contents.append(content)
        rows = self.rows
        rows.tenant_ids.append(event.tenant_id)
        rows.idempotency_keys.append(key)
        rows.sources.append(event.source)
        rows.event_types.append(event.event_type)
        rows.units.append(event.units)
        rows.metadata.append(metadata)
        rows.occurred_at.append(occurred_at)
        rows.trace_ids.append(event.trace_id)
        rows.span_ids.append(event.span_id)
        rows.time_assigned.append(assigned)

    def found(self, row: int, index: int, differences: list[Difference], content: Content, event_id: UUID) -> _Found:
        """A conflict of item `index` (sent as `content`) with the event stored under the key of row `row`."""
        rows = self.rows
        return _Found(index, rows.tenant_ids[row], rows.idempotency_keys[row], differences, content, event_id)


# Below this many events checking a batch takes well under a millisecond: a thread hop would cost more.
INLINE_EVENTS = 200


class _Prepared:
    """A checked batch: the rows to insert and the rejections, in the items' order."""

    def __init__(self, backfill: bool) -> None:
        self.builder = _BatchBuilder()
        self.builder.rows.backfilled = backfill
        self.rejections: list[Rejection] = []


class IngestService:
    def __init__(self, repository: LedgerRepository, settings: Settings) -> None:
        self._repository = repository
        self._limits = Limits.from_settings(settings)
        self._catalog = settings.catalog
        self._max_events = settings.max_batch_events
        self.counters = IngestCounters()

    async def ingest(self, items: Sequence[IngestItem], options: IngestOptions | None = None) -> IngestResult:
        """Check every event, store the valid ones exactly once; the outcome keeps each item's index."""
        options = options or IngestOptions()
        if len(items) > self._max_events:
            raise PayloadTooLargeError(
                f"the batch has {len(items)} events; the limit is {self._max_events} "
                "(LEDGER_MAX_BATCH_EVENTS): split it into smaller batches"
            )
        # Checking 10,000 events is tens of milliseconds of CPU: not on the event loop, which must keep
        # answering everyone else (health probes included) meanwhile.
        window = Window.around(datetime.now(UTC), self._limits, backfill=options.backfill)
        prepare = functools.partial(self._prepare, items, window, options.backfill)
        prepared = prepare() if len(items) <= INLINE_EVENTS else await off_loop(prepare)
        builder = prepared.builder
        inserted = await self._repository.insert_batch(builder.rows)
        found = await self._conflicts(builder, inserted)
        await self._repository.record_conflicts(_records(found), options.via)
        conflicts = [f.conflict for f in found]
        duplicates = len(builder.rows) - inserted.stored + len(builder.repeats) - len(conflicts)
        result = IngestResult(inserted.stored, duplicates, prepared.rejections, conflicts)
        self.counters.count(result)
        return result

    def _prepare(self, items: Sequence[IngestItem], window: Window, backfill: bool) -> _Prepared:
        prepared = _Prepared(backfill)
        for index, item in enumerate(items):
            if isinstance(item, EventRejected):  # the adapter could not make an event of it
                prepared.rejections.append(Rejection(index, item))
                continue
            try:
                prepared.builder.add(index, item, *check_event(item, window, self._limits, self._catalog))
            except EventRejected as rejected:
                prepared.rejections.append(Rejection(index, rejected))
        return prepared

    async def _conflicts(self, builder: _BatchBuilder, inserted: Inserted) -> list[_Found]:
        """Events not stored whose key holds other content. Every one is compared with the event stored under
        its key, a key's later events in the batch too (with the batch's first, if that was stored now): a
        conflict names what differs from what the ledger holds, never from another event of the batch."""
        rows = builder.rows
        lookups = [
            KeyLookup(row, rows.tenant_ids[row], rows.idempotency_keys[row], rows.metadata[row])
            for row in inserted.not_stored
        ]
        lookups += [  # negative tags: the repeats, by position
            KeyLookup(-1 - n, rows.tenant_ids[r.first], rows.idempotency_keys[r.first], r.content.metadata)
            for n, r in enumerate(builder.repeats)
        ]
        found: list[_Found] = []
        for stored in await self._repository.stored_content(lookups):
            if stored.index >= 0:
                row, index, content = stored.index, builder.items[stored.index], builder.contents[stored.index]
            else:
                repeat = builder.repeats[-1 - stored.index]
                row, index, content = repeat.first, repeat.index, repeat.content
            differences = against_stored(content, stored)
            if differences:
                found.append(builder.found(row, index, differences, content, stored.event_id))
        return sorted(found, key=lambda f: f.index)


def _records(found: list[_Found]) -> list[ConflictRecord]:
    """One record per (tenant, key, content sent): a batch may hold the same conflicting event twice."""
    records: dict[tuple[str, str, str], ConflictRecord] = {}
    for f in found:
        sent = f.content.sent_json()
        conflict = f.conflict
        records.setdefault(
            (conflict.tenant_id, conflict.idempotency_key, sent),
            ConflictRecord(
                conflict.tenant_id,
                conflict.idempotency_key,
                conflict.event_id,
                conflict.field_names(wire_name),
                conflict.text(wire_name),
                sent,
            ),
        )
    return list(records.values())
