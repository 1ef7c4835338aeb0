"""The page's URL: filters (source, eventType, from, to, tz) and the table's position (cursor, back).

Everything the page shows is decided by its query string, so a view can be bookmarked and shared, and
the filter form works as a plain GET form with JavaScript off. Dates are calendar days in `tz`; the
events table gets the same window as the graph, as UTC instants. The page asks the read service with the
same typed requests the API's handlers build (summary_request, events_request, csv_selection).

Paging: the read API pages forward only (keyset, newest first). To go back, the URL keeps the start
cursors of the pages before this one in `back` (most recent last). The trail is capped so the URL stays
short; beyond it, "Previous" lands on the newest page, which the page also always links to. `row` is the
position of the page's first row (26 on the second page), for "Showing 26-50 of N": only a label, so a
value that is not a whole number is dropped rather than refused.

Filters a person picks in the form are answered in plain words: an event type of another source than the
one chosen (the source was changed, the type left as it was) shows the chosen source with a note, and a
value no menu offers says so without parameter names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ledger_service.errors import BadRequestError
from ledger_service.read.days import load_zone, local_days, today_in
from ledger_service.read.params import EventSelection, EventsRequest, SummaryRequest, window_start
from usage_ledger_contract.catalog import SOURCE_NAMES, Catalog
from web.text import day_text

PAGE_PATH = "/settings/billing/usage"  # the page's route (web/routes.py); links to it come from url_for
PAGE_ROUTE, CSV_ROUTE, STATIC_ROUTE = "usage_page", "usage_csv", "usage_static"  # route names, for url_for
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
    row: int | None = None  # the first row's position, with a cursor
    dropped_type: str | None = None  # an event type of another source than the chosen one, set aside


def parse_page(params: Mapping[str, str], catalog: Catalog, max_days: int | None = None) -> PageQuery:
    """The page's view from its query string; BadRequestError says in plain words what is wrong."""
    tz_param = params.get("tz") or None
    zone = load_zone(tz_param or "UTC")
    source, event_type, dropped = _types(catalog, params.get("source") or None, params.get("eventType") or None)
    from_param, to_param = _date(params, "from"), _date(params, "to")
    last = to_param or today_in(zone)
    first = from_param or window_start(last, DEFAULT_DAYS)
    if first > last:
        raise BadRequestError(f"The start date ({day_text(first)}) is after the end date ({day_text(last)}).")
    span = (last - first).days + 1
    if max_days is not None and span > max_days:
        raise BadRequestError(f"The period is {span:,} days long; choose at most {max_days:,} days.")
    trail = tuple(c for c in (params.get("back") or "").split(_TRAIL_SEPARATOR) if c)
    cursor = params.get("cursor") or None
    return PageQuery(
        zone,
        first,
        last,
        source,
        event_type,
        from_param,
        to_param,
        tz_param,
        cursor,
        trail[-MAX_TRAIL:],
        _row(params.get("row")) if cursor else None,
        dropped,
    )


def _types(catalog: Catalog, source: str | None, event_type: str | None) -> tuple[str | None, str | None, str | None]:
    """(source, event type, the event type set aside): checked against the catalog, in plain words."""
    if source is not None and source not in SOURCE_NAMES:
        raise BadRequestError(f"There is no source \u201c{source}\u201d: choose one from the Source menu.")
    if event_type is None or event_type in {t.name for t in catalog.types_of(source)}:
        return source, event_type, None
    if event_type in {t.name for t in catalog}:
        return source, None, event_type  # a type of another source: the chosen source wins, with a note
    raise BadRequestError(f"There is no event type \u201c{event_type}\u201d: choose one from the Event type menu.")


def _row(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and 1 < int(text) < 10**12 else None


@dataclass(frozen=True, slots=True)
class PageLinks:
    """Where the page and its CSV download are served (from url_for, so they follow the routes)."""

    page: str
    csv: str


def summary_request(query: PageQuery) -> SummaryRequest:
    return SummaryRequest(query.zone, query.first, query.last, query.source, query.event_type)


def events_request(query: PageQuery, limit: int = PAGE_SIZE) -> EventsRequest:
    return EventsRequest(csv_selection(query), limit, query.cursor)


def csv_selection(query: PageQuery) -> EventSelection:
    # The graph's local days as a half-open UTC window: from the start of `first` to the start of the
    # day after `last`, so an event at 23:59 local on the last day is in both the graph and the table.
    start, end = local_days(query.first, query.last, query.zone)
    return EventSelection(start, end, query.source, query.event_type)


def page_url(links: PageLinks, query: PageQuery) -> str:
    return _url(links.page, query)


def newest_url(links: PageLinks, query: PageQuery) -> str:
    return page_url(links, replace(query, cursor=None, trail=(), row=None))


def next_url(links: PageLinks, query: PageQuery, next_cursor: str | None) -> str | None:
    if next_cursor is None:
        return None
    trail = (*query.trail, query.cursor) if query.cursor else query.trail
    first = first_row(query)
    row = first + PAGE_SIZE if first else None  # a page with a next one is full
    return page_url(links, replace(query, cursor=next_cursor, trail=trail[-MAX_TRAIL:], row=row))


def previous_url(links: PageLinks, query: PageQuery) -> str | None:
    if query.cursor is None:
        return None
    if not query.trail:
        return newest_url(links, query)
    row = query.row - PAGE_SIZE if query.row and query.row > PAGE_SIZE + 1 else None
    return page_url(links, replace(query, cursor=query.trail[-1], trail=query.trail[:-1], row=row))


def first_row(query: PageQuery) -> int | None:
    """The position of the page's first row: 1 on the newest page, from `row` on the others (None when
    a hand-made URL has a cursor without it)."""
    return 1 if query.cursor is None else query.row


def csv_url(links: PageLinks, query: PageQuery) -> str:
    return _url(links.csv, replace(query, cursor=None, trail=(), row=None))


def type_url(links: PageLinks, query: PageQuery, source: str, event_type: str) -> str:
    """The same view, of one event type (a note's "show that type instead")."""
    return page_url(links, replace(query, source=source, event_type=event_type, cursor=None, trail=(), row=None))


def day_url(links: PageLinks, query: PageQuery, day: date) -> str:
    """The same view of one local day (where an event and its corrections are listed together)."""
    return page_url(
        links, replace(query, from_param=day, to_param=day, first=day, last=day, cursor=None, trail=(), row=None)
    )


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
        ("row", str(query.row) if query.cursor and query.row else None),
    ]
    pairs = [(k, v) for k, v in items if v]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def _date(params: Mapping[str, str], name: str) -> date | None:
    text = params.get(name)
    if not text:
        return None  # an empty date box in the filter form means "not set"
    try:
        return date.fromisoformat(text)
    except ValueError:
        which = "start" if name == "from" else "end"
        raise BadRequestError(f"The {which} date \u201c{text}\u201d is not a date (YYYY-MM-DD).") from None
