"""One row of the events list: a one-line summary, and the details it expands to (what was billed and why,
the provider's ids, the way to the trace, corrections)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger_service.read.model import CorrectionLink, UsageEvent
from usage_ledger_contract.catalog import Catalog, source
from web.detail import Details, details, parse_metadata
from web.text import amount, time_text


@dataclass(frozen=True, slots=True)
class Trace:
    id: str
    url: str | None  # with LEDGER_TRACE_URL_TEMPLATE set; else the id is shown to copy


@dataclass(frozen=True, slots=True)
class Correction:
    """A row that corrects another: its amount, why and when, and a link to the other row.

    Corrections are new ledger rows (the ledger is append-only) and arrive with a later change; an event's
    details list the corrections to it, and a correction's details link to the event it corrects.
    """

    amount: str
    reason: str
    time_text: str
    href: str | None


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    time_iso: str
    time_text: str
    source: str
    source_label: str  # "SMS & calls"
    provider: str  # "Twilio"
    event_type: str
    label: str  # "Outbound SMS"
    identifier: str  # "twilio · sms_outbound"
    units: int
    amount: str  # "2 segments"
    why: str  # the catalog's description: what makes one
    recorded_text: str  # when the ledger stored it
    details: Details
    trace: Trace | None
    corrections: tuple[Correction, ...] = ()
    corrects: Correction | None = None
    kind: str = "event"  # or "void" / "amend": a correction row, its units the change it made
    net: str | None = None  # an event that was corrected: what is billed now ("Voided: nothing is billed")


# Where a row is listed: a page URL (its local day, its type) with the row's anchor; the view makes it.
RowLink = Callable[[UUID, datetime], str]
_KIND_WORDS = {"void": "void", "amend": "amendment"}


def _anchor_only(row_id: UUID, _: datetime) -> str:
    return f"#event-{row_id}"


def event_row(
    event: UsageEvent,
    zone: ZoneInfo,
    trace_url_template: str | None,
    catalog: Catalog,
    link: RowLink = _anchor_only,
) -> EventRow:
    entry = catalog.get(event.source, event.event_type)
    found = source(event.source)
    units_text = amount(event.units, event.unit, event.unit_plural)
    corrections = tuple(_correction(c, event, zone, link) for c in event.corrections)
    kind_word = _KIND_WORDS.get(event.kind)
    return EventRow(
        id=str(event.id),
        time_iso=event.occurred_at.isoformat(),
        time_text=time_text(event.occurred_at.astimezone(zone)),
        source=event.source,
        source_label=found.label if found else event.source,
        provider=found.provider if found else event.source,
        event_type=event.event_type,
        label=f"{event.label} ({kind_word})" if kind_word else event.label,
        identifier=f"{event.source} \N{MIDDLE DOT} {event.event_type}",
        units=event.units,
        amount=units_text,
        why=entry.description if entry else "",
        recorded_text=time_text(event.created_at.astimezone(zone)),
        details=details(parse_metadata(bytes(event.metadata)), units_text),
        trace=_trace(event.trace_id, trace_url_template),
        corrections=corrections,
        corrects=_corrected(event, zone, link),
        kind=event.kind,
        net=_net(event) if corrections else None,
    )


def _correction(c: CorrectionLink, event: UsageEvent, zone: ZoneInfo, link: RowLink) -> Correction:
    """One of an event's corrections, linked to its row."""
    what = "Voided" if c.action == "void" else f"Amended to {amount(c.units, event.unit, event.unit_plural)}"
    return Correction(what, c.reason, time_text(c.corrected_at.astimezone(zone)), link(c.id, event.occurred_at))


def _corrected(event: UsageEvent, zone: ZoneInfo, link: RowLink) -> Correction | None:
    """A correction row's own record, linked to the event it corrects."""
    c = event.correction
    if event.corrects is None or c is None:
        return None
    done = "Voided" if c.action == "void" else f"Amended to {amount(c.units, event.unit, event.unit_plural)}"
    return Correction(
        done, c.reason, time_text(c.corrected_at.astimezone(zone)), link(event.corrects, event.occurred_at)
    )


def _net(event: UsageEvent) -> str:
    units = event.net_units or 0
    if event.corrections and event.corrections[-1].action == "void":
        return "Voided: nothing is billed"
    return f"Amended: {amount(units, event.unit, event.unit_plural)} billed"


def _trace(trace_id: str | None, template: str | None) -> Trace | None:
    if not trace_id:
        return None
    # replace, not str.format: the template is an operator's URL and may hold other braces.
    return Trace(trace_id, template.replace("{trace_id}", trace_id) if template else None)
