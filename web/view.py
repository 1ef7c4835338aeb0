"""What the usage page shows, computed from the read service's models; the templates only lay it out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ledger_service.read.model import EventsPage, UsageEvent, UsageSummary
from usage_ledger_contract.catalog import SOURCE_NAMES, Catalog
from web.chart import Chart, amount, build_chart
from web.query import PageLinks, PageQuery, csv_url, newest_url, next_url, previous_url

# Offered in the time zone menu; any other IANA zone works in the URL and is added to the menu.
COMMON_ZONES = (
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Helsinki",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)


@dataclass(frozen=True, slots=True)
class FilterForm:
    """The form's current values as the user typed them, so a rejected value is shown back, not lost."""

    source: str = ""
    event_type: str = ""
    from_: str = ""
    to: str = ""
    tz: str = "UTC"
    sources: tuple[str, ...] = SOURCE_NAMES
    # (source, [(event_type, unit)]) for <optgroup>s: the registry, so every type can be chosen before it has usage.
    event_types: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    time_iso: str
    time_text: str
    source: str
    event_type: str
    units: str
    trace_id: str | None
    trace_url: str | None


@dataclass(frozen=True, slots=True)
class Pager:
    previous: str | None
    next: str | None
    newest: str | None  # only when not already on the newest page


@dataclass(frozen=True, slots=True)
class UsageView:
    tenant: str
    first: date
    last: date
    zone: str
    filtered: bool
    charts: list[Chart]
    rows: list[Row]
    pager: Pager
    csv_url: str


def filter_form(params: Mapping[str, str], catalog: Catalog) -> FilterForm:
    tz = params.get("tz") or "UTC"
    grouped: dict[str, list[tuple[str, str]]] = {}
    for entry in sorted(catalog, key=lambda e: (e.source, e.name)):
        grouped.setdefault(entry.source, []).append((entry.name, entry.unit))
    zones = list(COMMON_ZONES) if tz in COMMON_ZONES else [tz, *COMMON_ZONES]
    return FilterForm(
        source=params.get("source", ""),
        event_type=params.get("eventType", ""),
        from_=params.get("from", ""),
        to=params.get("to", ""),
        tz=tz,
        event_types=[(s, grouped[s]) for s in SOURCE_NAMES if s in grouped],
        zones=zones,
    )


@dataclass(frozen=True, slots=True)
class ViewContext:
    """What the view needs besides the data: where the page lives, and the operator's settings."""

    links: PageLinks
    trace_url_template: str | None
    catalog: Catalog


def usage_view(tenant: str, query: PageQuery, summary: UsageSummary, page: EventsPage, ctx: ViewContext) -> UsageView:
    # The catalog's order (twilio, sendgrid, openai, ...), the same as the filter menu's.
    order = {(e.source, e.name): n for n, e in enumerate(ctx.catalog)}
    series = sorted(summary.series, key=lambda s: order.get((s.source, s.event_type), len(order)))
    charts = [build_chart(s, _description(ctx.catalog, s.source, s.event_type)) for s in series]
    rows = [_row(e, query.zone, ctx.trace_url_template) for e in page.events]
    links = ctx.links
    pager = Pager(
        previous_url(links, query),
        next_url(links, query, page.next_cursor),
        newest_url(links, query) if query.cursor else None,
    )
    filtered = bool(query.source or query.event_type or query.from_param or query.to_param)
    csv = csv_url(links, query)
    return UsageView(tenant, query.first, query.last, query.zone.key, filtered, charts, rows, pager, csv)


def _description(catalog: Catalog, source: str, event_type: str) -> str:
    entry = catalog.get(source, event_type)
    return entry.description if entry else ""


_EN_DASH = "\u2013"


def date_range_text(first: date, last: date) -> str:
    start = f"{first.day} {first:%b}" if first.year == last.year else f"{first.day} {first:%b %Y}"
    return f"{start} {_EN_DASH} {last.day} {last:%b %Y}"


def _row(event: UsageEvent, zone: ZoneInfo, trace_url_template: str | None) -> Row:
    local = event.occurred_at.astimezone(zone)
    trace_url = None
    if trace_url_template and event.trace_id:
        # replace, not str.format: the template is an operator's URL and may hold other braces.
        trace_url = trace_url_template.replace("{trace_id}", event.trace_id)
    return Row(
        id=str(event.id),
        time_iso=event.occurred_at.isoformat(),
        time_text=_time_text(local),
        source=event.source,
        event_type=event.event_type,
        units=amount(event.units, event.unit),
        trace_id=event.trace_id,
        trace_url=trace_url,
    )


def _time_text(local: datetime) -> str:
    return f"{local:%Y-%m-%d %H:%M:%S} {local:%Z}"
