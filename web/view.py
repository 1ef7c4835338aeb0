"""What the usage page shows, computed from the read service's models; the templates only lay it out.

Every name a person reads comes from the catalog (usage_ledger_contract.catalog): the same label and unit
words the read API returns and the docs list. The raw identifiers stay available to engineers, in a
tooltip and in each event's details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from ledger_service.read.model import EventsPage, UsageSeries, UsageSummary
from usage_ledger_contract.catalog import Catalog, EventType, source
from web.chart import Chart, build_chart
from web.events import EventRow, event_row
from web.overview import Overview, build_overview
from web.query import (
    PageLinks,
    PageQuery,
    csv_url,
    day_url,
    first_row,
    newest_url,
    next_url,
    previous_url,
    type_url,
)
from web.text import count, period_text


@dataclass(frozen=True, slots=True)
class Pager:
    previous: str | None
    next: str | None
    newest: str | None  # only when not already on the newest page


@dataclass(frozen=True, slots=True)
class TotalRow:
    source: str
    event_type: str
    label: str
    identifier: str  # "twilio · sms_outbound", for engineers
    amount: str
    units: int
    events: int


@dataclass(frozen=True, slots=True)
class TotalsGroup:
    source: str
    label: str  # "SMS & calls"
    provider: str  # "Twilio"
    rows: list[TotalRow]

    @property
    def events(self) -> int:
        return sum(r.events for r in self.rows)  # events, not units: like added to like


@dataclass(frozen=True, slots=True)
class Notice:
    """A filter set aside (an event type of another source than the one chosen), and the way to it."""

    text: str
    link_text: str
    href: str


@dataclass(frozen=True, slots=True)
class UsageView:
    tenant: str
    first: date
    last: date
    period: str  # "3 Nov 2025 - 2 Dec 2025", with an en dash
    zone: str
    scope: str  # what is shown: "all usage", "Email", "Outbound SMS"
    filtered: bool
    total_events: int
    overview: Overview
    charts: list[Chart]
    totals: list[TotalsGroup]
    rows: list[EventRow]
    showing: str  # "Showing 1-25 of 97 events", with an en dash
    pager: Pager
    csv_url: str
    notice: Notice | None


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
    charts = [build_chart(s, _entry(ctx.catalog, s), _source_label(s.source)) for s in series]
    links = ctx.links

    def link(row_id: UUID, occurred_at: datetime) -> str:
        day = occurred_at.astimezone(query.zone).date()
        return f"{day_url(links, query, day)}#event-{row_id}"

    rows = [event_row(e, query.zone, ctx.trace_url_template, ctx.catalog, link) for e in page.events]
    pager = Pager(
        previous_url(links, query),
        next_url(links, query, page.next_cursor),
        newest_url(links, query) if query.cursor else None,
    )
    return UsageView(
        tenant=tenant,
        first=query.first,
        last=query.last,
        period=period_text(query.first, query.last),
        zone=query.zone.key,
        scope=scope_text(query, ctx.catalog),
        filtered=bool(query.source or query.event_type or query.from_param or query.to_param),
        total_events=summary.total_events,
        overview=build_overview(summary),
        charts=charts,
        totals=_totals(charts),
        rows=rows,
        showing=showing_text(first_row(query), len(rows), summary.total_events),
        pager=pager,
        csv_url=csv_url(links, query),
        notice=_notice(query, ctx),
    )


def showing_text(first: int | None, shown: int, total: int) -> str:
    """ "Showing 26-50 of 97 events" (an en dash); without the position when it is not known or does not add up."""
    noun = "event" if total == 1 else "events"
    if first is None or first + shown - 1 > total or not shown:
        return f"Showing {count(shown)} of {count(total)} {noun}"
    return f"Showing {count(first)}\u2013{count(first + shown - 1)} of {count(total)} {noun}"


def scope_text(query: PageQuery, catalog: Catalog) -> str:
    if query.event_type:
        entry = next((t for t in catalog.types_of(query.source) if t.name == query.event_type), None)
        return entry.label if entry else query.event_type
    return _source_label(query.source) if query.source else "all usage"


def _source_label(name: str) -> str:
    found = source(name)
    return found.label if found else name


def _entry(catalog: Catalog, series: UsageSeries) -> EventType:
    known = catalog.get(series.source, series.event_type)
    return known or EventType(series.source, series.event_type, series.unit, series.label, "", series.unit_plural)


def _totals(charts: list[Chart]) -> list[TotalsGroup]:
    groups: dict[str, TotalsGroup] = {}
    for c in charts:
        found = source(c.source)
        group = groups.setdefault(
            c.source, TotalsGroup(c.source, c.source_label, found.provider if found else c.source, [])
        )
        identifier = f"{c.source} \N{MIDDLE DOT} {c.event_type}"
        group.rows.append(TotalRow(c.source, c.event_type, c.label, identifier, c.total, c.total_units, c.total_events))
    return list(groups.values())


def _notice(query: PageQuery, ctx: ViewContext) -> Notice | None:
    if query.dropped_type is None:
        return None
    entry = next(t for t in ctx.catalog if t.name == query.dropped_type)
    chosen = _source_label(query.source or "")
    return Notice(
        text=f"{entry.label} is not a kind of {chosen} usage, so this shows all {chosen} usage.",
        link_text=f"Show {entry.label} ({_source_label(entry.source)}) instead",
        href=type_url(ctx.links, query, entry.source, entry.name),
    )
