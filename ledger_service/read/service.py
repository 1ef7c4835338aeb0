"""The read service: summaries and event listings for one tenant, the tenant always from the caller's
verified token."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, timedelta
from uuid import UUID

import msgspec

from ledger_service.errors import BadRequestError
from ledger_service.read.cursor import decode_cursor, encode_cursor
from ledger_service.read.days import day_starts
from ledger_service.read.model import (
    CorrectionLink,
    DayUsage,
    EventsPage,
    Kind,
    Totals,
    UsageEvent,
    UsageSeries,
    UsageSummary,
)
from ledger_service.read.params import LATEST, EventSelection, EventsRequest, SummaryRequest
from ledger_service.settings import Settings
from ledger_service.storage.database import Database
from ledger_service.storage.usage_read import (
    CorrectionRecord,
    EventFilter,
    EventRecord,
    Policies,
    Position,
    SummaryRow,
    SummaryWindow,
    UsageReadRepository,
)
from usage_ledger_contract.catalog import Catalog, EventType

# The JSON event's fields, in this order; the catalog's words last, so columns that came before keep their place.
CSV_COLUMNS = (
    "id",
    "source",
    "eventType",
    "unit",
    "units",
    "occurredAt",
    "createdAt",
    "traceId",
    "metadata",
    "label",
    "unitPlural",
    "idempotencyKey",
    "kind",
    "corrects",
    "correctedBy",
    "netUnits",
    "reason",
    "correctionKey",
    "backfilled",
)
_CSV_CHUNK_ROWS = 1000
# Sorts after every real id, so the first page starts "after" (infinity, this) = at the newest row.
_MAX_UUID = UUID(int=(1 << 128) - 1)


def words_of(catalog: Catalog, source: str, event_type: str) -> EventType:
    """The catalog's entry; for a type it no longer has (stored rows outlive a removed declaration), the
    identifier as its label and "unknown" as its unit."""
    known = catalog.get(source, event_type)
    return known or EventType(source, event_type, "unknown", event_type, unit_plural="unknown")


class ReadService:
    def __init__(self, repository: UsageReadRepository, settings: Settings) -> None:
        self._repository = repository
        self._settings = settings
        self._secret = settings.secret_key.get_secret_value()
        self.catalog = settings.catalog

    @classmethod
    async def start(cls, database: Database, settings: Settings) -> ReadService:
        """Sync the unit registry into the database and install the aggregate policies, then serve."""
        repository = UsageReadRepository(database.pool, database.variant)
        entries = [(e.source, e.name, e.unit, e.description) for e in settings.catalog]
        await repository.sync_event_types(entries)
        await repository.apply_policies(policies_from(settings))
        return cls(repository, settings)

    async def summary(self, tenant_id: str, request: SummaryRequest) -> UsageSummary:
        self._check_window(request)
        starts, end = day_starts(request.first, request.last, request.zone)
        window = SummaryWindow(starts, end, request.source, request.event_type)
        rows = await self._repository.summary(tenant_id, window)
        dates = [request.first + timedelta(days=n) for n in range(len(starts))]
        series = build_series(self.catalog, rows, dates)
        return UsageSummary(
            tenant_id=tenant_id,
            timezone=request.zone.key,
            from_=request.first,
            to=request.last,
            series=series,
            total_events=sum(r.entries for r in rows),
        )

    async def events(self, tenant_id: str, request: EventsRequest) -> EventsPage:
        after = self._start_position(tenant_id, request)
        # One row more than asked tells whether another page exists without a second query.
        where = _filter(request.selection)
        rows = await self._repository.events_page(tenant_id, where, after, request.limit + 1)
        page, more = rows.records[: request.limit], len(rows.records) > request.limit
        cursor = encode_cursor(self._secret, tenant_id, _position(page[-1])) if more else None
        links = Links(rows.corrections)
        return EventsPage(events=[to_event(self.catalog, r, links) for r in page], next_cursor=cursor)

    def events_csv(self, tenant_id: str, selection: EventSelection) -> AsyncIterator[bytes]:
        """Every row of the selection as CSV lines, the header first."""
        return self._csv_rows(tenant_id, _filter(selection))

    async def _csv_rows(self, tenant_id: str, where: EventFilter) -> AsyncIterator[bytes]:
        # The same keyset query as the JSON pages, in short transactions: a slow download never holds a
        # connection or a snapshot open for long.
        yield _csv_line(CSV_COLUMNS)
        after = Position(LATEST, _MAX_UUID)
        while True:
            rows = await self._repository.events_page(tenant_id, where, after, _CSV_CHUNK_ROWS)
            links = Links(rows.corrections)
            if rows.records:
                yield b"".join(_csv_line(csv_fields(to_event(self.catalog, r, links))) for r in rows.records)
            if len(rows.records) < _CSV_CHUNK_ROWS:
                return
            after = _position(rows.records[-1])

    def _check_window(self, request: SummaryRequest) -> None:
        span = (request.last - request.first).days + 1
        limit = self._settings.summary_max_days
        if span > limit:
            raise BadRequestError(f"from: the window is {span} days; the limit is {limit} (LEDGER_SUMMARY_MAX_DAYS)")

    def _start_position(self, tenant_id: str, request: EventsRequest) -> Position:
        if request.cursor is None:
            return Position(LATEST, _MAX_UUID)
        return decode_cursor(self._secret, tenant_id, request.cursor)


def policies_from(settings: Settings) -> Policies:
    def days(n: int) -> timedelta | None:
        return timedelta(days=n) if n else None

    return Policies(
        # The late window + 1 day: raw rows must be kept longer than that (TimescaleDB refuses shorter retention).
        refresh_window=timedelta(days=settings.late_window_days + 1),
        refresh_every=timedelta(minutes=settings.aggregate_refresh_minutes),
        compress_after=days(settings.compress_after_days),
        drop_after=days(settings.raw_retention_days),
    )


def build_series(catalog: Catalog, rows: list[SummaryRow], dates: list[date]) -> list[UsageSeries]:
    """Zero-filled daily series per (source, event_type); rows arrive ordered by (source, type, day)."""
    grouped: dict[tuple[str, str], list[SummaryRow]] = {}
    for row in rows:
        grouped.setdefault((row.source, row.event_type), []).append(row)
    series = []
    for (source, event_type), items in grouped.items():
        by_day = {r.day: (r.units, r.events) for r in items}
        days = [DayUsage(d, *by_day.get(i, (0, 0))) for i, d in enumerate(dates, start=1)]
        totals = Totals(units=sum(r.units for r in items), events=sum(r.events for r in items))
        words = words_of(catalog, source, event_type)
        series.append(UsageSeries(source, event_type, words.unit, totals, days, words.label, words.units_label))
    return series


class Links:
    """The corrections read with a page, by the row they correct and by their own row."""

    def __init__(self, corrections: list[CorrectionRecord]) -> None:
        self.of_event: dict[UUID, list[CorrectionLink]] = {}
        self.by_row: dict[UUID, CorrectionLink] = {}
        for c in corrections:  # oldest first
            link = CorrectionLink(c.row_id, c.action, c.units, c.reason, c.correction_key, c.created_at)  # type: ignore[arg-type]
            self.of_event.setdefault(c.corrects, []).append(link)
            self.by_row[c.row_id] = link


_KINDS: dict[int, Kind] = {1: "event", -1: "void", 0: "amend"}


def to_event(catalog: Catalog, record: EventRecord, links: Links | None = None) -> UsageEvent:
    words = words_of(catalog, record.source, record.event_type)
    links = links or Links([])
    corrections = [] if record.corrects else links.of_event.get(record.id, [])
    return UsageEvent(
        id=record.id,
        source=record.source,
        event_type=record.event_type,
        unit=words.unit,
        units=record.units,
        occurred_at=record.occurred_at,
        created_at=record.created_at,
        metadata=msgspec.Raw(record.metadata.encode()),
        trace_id=record.trace_id,
        label=words.label,
        unit_plural=words.units_label,
        idempotency_key=record.idempotency_key,
        kind=_KINDS[record.events],
        backfilled=record.backfilled,
        corrects=record.corrects,
        correction=links.by_row.get(record.id) if record.corrects else None,
        corrections=corrections,
        net_units=None if record.corrects else (corrections[-1].units if corrections else record.units),
    )


def csv_fields(event: UsageEvent) -> tuple[object, ...]:
    # to_builtins formats ids and instants exactly as the JSON API does, so the two exports agree.
    text = msgspec.to_builtins
    return (
        text(event.id),
        event.source,
        event.event_type,
        event.unit,
        event.units,
        text(event.occurred_at),
        text(event.created_at),
        event.trace_id or "",
        bytes(event.metadata).decode(),
        event.label,
        event.unit_plural,
        event.idempotency_key,
        event.kind,
        text(event.corrects) if event.corrects else "",
        " ".join(text(c.id) for c in event.corrections),
        "" if event.net_units is None else event.net_units,
        event.correction.reason if event.correction else "",
        event.correction.correction_key if event.correction else "",
        "true" if event.backfilled else "false",
    )


def _csv_line(fields: tuple[object, ...]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    return buffer.getvalue().encode()


def _filter(selection: EventSelection) -> EventFilter:
    return EventFilter(selection.start, selection.end, selection.source, selection.event_type)


def _position(record: EventRecord) -> Position:
    return Position(record.occurred_at, record.id)
