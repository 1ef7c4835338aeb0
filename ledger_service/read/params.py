"""Typed read requests, and the rules that make them from a caller's parameters.

The API's handlers declare each parameter with its type and bounds (Litestar converts and documents them);
the page builds the same requests from its own URL. What a type cannot say is checked here: days together
with from/to, from after to, an event type of another source, a time zone that does not exist. Every problem
is a 400 whose message starts with the parameter's name and says what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ledger_service.errors import BadRequestError
from ledger_service.read.days import load_zone, today_in
from usage_ledger_contract.catalog import SOURCE_NAMES, Catalog

DEFAULT_DAYS = 30
DEFAULT_PAGE = 50
# Wide enough for any stored row; concrete values keep one query plan for bounded and unbounded windows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
# The setting that bounds a parameter, named in its message so an operator knows what to change.
BOUND_BY = {"days": "LEDGER_SUMMARY_MAX_DAYS", "limit": "LEDGER_EVENTS_PAGE_MAX"}
_WHOLE_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)")  # what the API's integer parameters accept (JSON's integers)


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    """Local days first..last (both inclusive) in `zone`, optionally of one source and/or event type."""

    zone: ZoneInfo
    first: date
    last: date
    source: str | None = None
    event_type: str | None = None


@dataclass(frozen=True, slots=True)
class EventSelection:
    """Which rows: occurred in [start, end) (UTC), optionally of one source and/or event type."""

    start: datetime = EARLIEST
    end: datetime = LATEST
    source: str | None = None
    event_type: str | None = None


@dataclass(frozen=True, slots=True)
class EventsRequest:
    """One page of the selection, newest first, after `cursor` (a previous page's nextCursor)."""

    selection: EventSelection
    limit: int = DEFAULT_PAGE
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SummaryParams:
    """The summary's parameters once their types are checked: each None when not given."""

    days: int | None = None
    first: date | None = None
    last: date | None = None
    tz: str | None = None
    source: str | None = None
    event_type: str | None = None


def summary_request(params: SummaryParams, catalog: Catalog, today: date | None = None) -> SummaryRequest:
    zone = load_zone(params.tz or "UTC")
    source, event_type = type_filter(catalog, params.source, params.event_type)
    if params.days is not None and (params.first is not None or params.last is not None):
        raise BadRequestError("days: cannot be combined with from/to; give either a number of days or dates")
    last = params.last or today or today_in(zone)
    first = params.first or window_start(last, params.days or DEFAULT_DAYS)
    if first > last:
        raise BadRequestError(f"from: {first} is after to ({last})")
    return SummaryRequest(zone, first, last, source, event_type)


def selection(
    catalog: Catalog, start: datetime | None, end: datetime | None, source: str | None, event_type: str | None
) -> EventSelection:
    """The rows between two instants (each must carry its UTC offset), with the catalog-checked filters."""
    source, event_type = type_filter(catalog, source, event_type)
    first, last = _utc("from", start, EARLIEST), _utc("to", end, LATEST)
    if first > last:
        raise BadRequestError(f"from: {first.isoformat()} is after to ({last.isoformat()})")
    return EventSelection(first, last, source, event_type)


def type_filter(catalog: Catalog, source: str | None, event_type: str | None) -> tuple[str | None, str | None]:
    """source / eventType filters checked against the catalog; empty means no filter."""
    source, event_type = source or None, event_type or None
    if source is not None and source not in SOURCE_NAMES:
        raise BadRequestError(f"source: {source!r} is not one of {', '.join(SOURCE_NAMES)}")
    if event_type is not None:
        known = {t.name for t in catalog.types_of(source)}
        if event_type not in known:
            within = f"an event type of source {source!r}" if source else "a registered event type"
            raise BadRequestError(f"eventType: {event_type!r} is not {within} (known: {', '.join(sorted(known))})")
    return source, event_type


def check_known(given: Iterable[str], accepted: Iterable[str]) -> None:
    """A parameter the endpoint does not take is refused, so none can ever select another tenant's data."""
    allowed = sorted(accepted)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise BadRequestError(f"{unknown[0]}: unknown parameter (accepted: {', '.join(allowed)})")


def invalid_value(name: str, kind: type, text: str, low: int | None = None, high: int | None = None) -> str:
    """The message for a value that is not of its parameter's type, or outside its bounds."""
    if issubclass(kind, datetime):
        return _instant_problem(name, text)
    if issubclass(kind, date):
        return f"{name}: {text!r} is not a date (YYYY-MM-DD, a day in tz)"
    if issubclass(kind, int) and _WHOLE_NUMBER.fullmatch(text):
        setting = f" ({BOUND_BY[name]})" if name in BOUND_BY else ""
        return f"{name}: must be between {low} and {high}{setting}, not {int(text)}"
    if issubclass(kind, int):
        return f"{name}: {text!r} is not a whole number (digits only, e.g. 30)"
    return f"{name}: {text!r} is not a valid value"


def _instant_problem(name: str, text: str) -> str:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return f"{name}: {text!r} is not an ISO 8601 date-time (e.g. 2026-11-01T00:00:00Z)"
    if parsed.tzinfo is None:
        return f"{name}: {text!r} has no UTC offset; add Z or +HH:MM"
    # A real instant whose UTC time falls outside years 1..9999 (e.g. 0001-01-01T00:00:00+05:00).
    return f"{name}: {text!r} is outside the instants this ledger can represent (years 1 to 9999 in UTC)"


def _utc(name: str, value: datetime | None, default: datetime) -> datetime:
    if value is None:
        return default
    if value.utcoffset() is None:
        raise BadRequestError(_instant_problem(name, value.isoformat()))
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is in year 10000 in UTC
        raise BadRequestError(_instant_problem(name, value.isoformat())) from None
    return min(max(utc, EARLIEST), LATEST)


def window_start(last: date, days: int) -> date:
    """The first of `days` local days ending with `last`."""
    if (last - date.min).days < days - 1:
        raise BadRequestError(f"to: {last} leaves no room for {days} days before it; give from as well")
    return last - timedelta(days=days - 1)
