"""The page's URL: filters (source, eventType, from, to, tz) and the table's position (cursor, back).

Everything the page shows is decided by its query string, so a view can be bookmarked and shared, and
the filter form works as a plain GET form with JavaScript off. Dates are calendar days in `tz`; the
events table gets the same window as the graph, as UTC instants.

Paging: the read API pages forward only (keyset, newest first). To go back, the URL keeps the start
cursors of the pages before this one in `back` (most recent last). The trail is capped so the URL stays
short; beyond it, "Previous" lands on the newest page, which the page also always links to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ledger_service.errors import BadRequestError
from ledger_service.read.days import day_start, load_zone, today_in
from ledger_service.read.params import parse_type_filter
from usage_ledger_contract.catalog import Catalog

PAGE_PATH = "/settings/billing/usage"
CSV_PATH = f"{PAGE_PATH}/events.csv"
PAGE_SIZE = 25
DEFAULT_DAYS = 30
MAX_TRAIL = 30
_TRAIL_SEPARATOR = "~"  # never in a cursor (base64url and ".")


@dataclass(frozen=True, slots=True)
class PageQuery:
    zone: ZoneInfo
    first: date
    last: date
    source: str | None = None
    event_type: str | None = None
    from_param: date | None = None  # as given: absent means "the last 30 days", rolling
    to_param: date | None = None
    tz_param: str | None = None
    cursor: str | None = None
    trail: tuple[str, ...] = ()


def parse_page(params: Mapping[str, str], catalog: Catalog) -> PageQuery:
    """The page's view from its query string; BadRequestError names the parameter that is wrong."""
    tz_param = params.get("tz") or None
    zone = load_zone(tz_param or "UTC")
    source, event_type = parse_type_filter(params, catalog)
    from_param, to_param = _date(params, "from"), _date(params, "to")
    last = to_param or today_in(zone)
    first = from_param or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise BadRequestError(f"from: {first} is after to ({last})")
    trail = tuple(c for c in (params.get("back") or "").split(_TRAIL_SEPARATOR) if c)
    return PageQuery(
        zone,
        first,
        last,
        source,
        event_type,
        from_param,
        to_param,
        tz_param,
        params.get("cursor") or None,
        trail[-MAX_TRAIL:],
    )


def summary_params(query: PageQuery) -> dict[str, str]:
    params = {"from": query.first.isoformat(), "to": query.last.isoformat(), "tz": query.zone.key}
    return params | _type_filter(query)


def events_params(query: PageQuery, limit: int = PAGE_SIZE) -> dict[str, str]:
    params = csv_params(query) | {"limit": str(limit)}
    return params | ({"cursor": query.cursor} if query.cursor else {})


def csv_params(query: PageQuery) -> dict[str, str]:
    # The graph's local days as a half-open UTC window: from the start of `first` to the start of the
    # day after `last`, so an event at 23:59 local on the last day is in both the graph and the table.
    start = day_start(query.first, query.zone)
    end = day_start(query.last + timedelta(days=1), query.zone)
    return {"from": start.isoformat(), "to": end.isoformat()} | _type_filter(query)


def page_url(query: PageQuery) -> str:
    return _url(PAGE_PATH, query)


def newest_url(query: PageQuery) -> str:
    return page_url(replace(query, cursor=None, trail=()))


def next_url(query: PageQuery, next_cursor: str | None) -> str | None:
    if next_cursor is None:
        return None
    trail = (*query.trail, query.cursor) if query.cursor else query.trail
    return page_url(replace(query, cursor=next_cursor, trail=trail[-MAX_TRAIL:]))


def previous_url(query: PageQuery) -> str | None:
    if query.cursor is None:
        return None
    if not query.trail:
        return newest_url(query)
    return page_url(replace(query, cursor=query.trail[-1], trail=query.trail[:-1]))


def csv_url(query: PageQuery) -> str:
    return _url(CSV_PATH, replace(query, cursor=None, trail=()))


def _url(path: str, query: PageQuery) -> str:
    # Only what the user chose goes in the URL: no dates means "the last 30 days" whenever it is opened.
    items = [
        ("source", query.source),
        ("eventType", query.event_type),
        ("from", query.from_param.isoformat() if query.from_param else None),
        ("to", query.to_param.isoformat() if query.to_param else None),
        ("tz", query.tz_param),
        ("cursor", query.cursor),
        ("back", _TRAIL_SEPARATOR.join(query.trail) or None),
    ]
    pairs = [(k, v) for k, v in items if v]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def _type_filter(query: PageQuery) -> dict[str, str]:
    pairs = {"source": query.source, "eventType": query.event_type}
    return {k: v for k, v in pairs.items() if v}


def _date(params: Mapping[str, str], name: str) -> date | None:
    text = params.get(name)
    if not text:
        return None  # an empty date box in the filter form means "not set"
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None
