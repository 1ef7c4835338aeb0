"""Query parameters of the read API, validated into typed requests. Every problem is a 400 that names
the parameter and says what is wrong with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ledger_service.errors import BadRequestError
from ledger_service.read.days import load_zone, today_in
from usage_ledger_contract.catalog import SOURCE_NAMES, Catalog

SUMMARY_PARAMS = frozenset({"days", "from", "to", "tz", "source", "eventType"})
EXPORT_PARAMS = frozenset({"from", "to", "source", "eventType"})
EVENTS_PARAMS = EXPORT_PARAMS | {"limit", "cursor"}
DEFAULT_DAYS = 30
DEFAULT_PAGE = 50
# Wide enough for any stored row; concrete values keep one query plan for bounded and unbounded windows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    zone: ZoneInfo
    first: date
    last: date
    source: str | None
    event_type: str | None


@dataclass(frozen=True, slots=True)
class EventsRequest:
    limit: int
    cursor: str | None
    start: datetime
    end: datetime
    source: str | None
    event_type: str | None


def check_known(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequestError(f"{unknown[0]}: unknown parameter (accepted: {', '.join(sorted(allowed))})")


def parse_summary(
    params: Mapping[str, str], max_days: int, catalog: Catalog, now: datetime | None = None
) -> SummaryRequest:
    check_known(params, SUMMARY_PARAMS)
    zone = load_zone(params.get("tz") or "UTC")
    source, event_type = parse_type_filter(params, catalog)
    if "days" in params and ("from" in params or "to" in params):
        raise BadRequestError("days: cannot be combined with from/to; give either a number of days or dates")
    days = _int(params, "days", DEFAULT_DAYS, 1, max_days, "LEDGER_SUMMARY_MAX_DAYS")
    last = _date(params, "to") or today_in(zone, now)
    first = _date(params, "from") or last - timedelta(days=days - 1)
    if first > last:
        raise BadRequestError(f"from: {first} is after to ({last})")
    span = (last - first).days + 1
    if span > max_days:
        raise BadRequestError(f"from: the window is {span} days; the limit is {max_days} (LEDGER_SUMMARY_MAX_DAYS)")
    return SummaryRequest(zone, first, last, source, event_type)


def parse_events(params: Mapping[str, str], max_limit: int, catalog: Catalog, *, export: bool = False) -> EventsRequest:
    """An events page, or with export=True the whole listing (no limit or cursor) for the CSV export."""
    check_known(params, EXPORT_PARAMS if export else EVENTS_PARAMS)
    source, event_type = parse_type_filter(params, catalog)
    start = _instant(params, "from") or EARLIEST
    end = _instant(params, "to") or LATEST
    if start > end:
        raise BadRequestError(f"from: {start.isoformat()} is after to ({end.isoformat()})")
    limit = _int(params, "limit", min(DEFAULT_PAGE, max_limit), 1, max_limit, "LEDGER_EVENTS_PAGE_MAX")
    return EventsRequest(limit, params.get("cursor") or None, start, end, source, event_type)


def parse_type_filter(params: Mapping[str, str], catalog: Catalog) -> tuple[str | None, str | None]:
    """source / eventType filters, checked against the catalog."""
    source = params.get("source") or None
    event_type = params.get("eventType") or None
    if source is not None and source not in SOURCE_NAMES:
        raise BadRequestError(f"source: {source!r} is not one of {', '.join(SOURCE_NAMES)}")
    if event_type is not None:
        known = {t.name for t in catalog.types_of(source)}
        if event_type not in known:
            within = f"an event type of source {source!r}" if source else "a registered event type"
            raise BadRequestError(f"eventType: {event_type!r} is not {within} (known: {', '.join(sorted(known))})")
    return source, event_type


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int, setting: str) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.strip().isdigit():
        raise BadRequestError(f"{name}: {text!r} is not a whole number")
    value = int(text)
    if not low <= value <= high:
        raise BadRequestError(f"{name}: must be between {low} and {high} ({setting}), not {value}")
    return value


def _date(params: Mapping[str, str], name: str) -> date | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"{name}: {text!r} is not a date (YYYY-MM-DD, a day in tz)") from None


def _instant(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"{name}: {text!r} is not an ISO 8601 date-time (e.g. 2026-11-01T00:00:00Z)") from None
    if value.tzinfo is None:
        raise BadRequestError(f"{name}: {text!r} has no UTC offset; add Z or +HH:MM")
    return min(max(value.astimezone(UTC), EARLIEST), LATEST)
