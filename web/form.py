"""The filter form's menus, in the catalog's words, narrowed to what can be combined.

With a source chosen, the event type menu offers only that source's types (the page is a plain GET form:
choosing a source and pressing Apply narrows the menu, no script needed); with none, it offers every type,
grouped by source. Values are the identifiers the URL and the API take; the words are the catalog's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from usage_ledger_contract.catalog import SOURCES, Catalog, EventType
from web.query import PageQuery

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
class Option:
    value: str
    text: str
    selected: bool = False
    title: str = ""  # the identifier, for engineers (a tooltip)


@dataclass(frozen=True, slots=True)
class OptionGroup:
    label: str  # empty: the options stand alone (the menu is narrowed to one source)
    options: list[Option]


@dataclass(frozen=True, slots=True)
class FilterForm:
    """The form's current values, as the user gave them when they could not be used, so none is lost."""

    sources: list[Option]
    all_types: str  # the first option's words: "All event types", "All SMS & calls usage"
    type_groups: list[OptionGroup]
    narrowed_to: str | None  # the source label the type menu is narrowed to
    from_: str = ""
    to: str = ""
    zones: list[Option] = field(default_factory=list)


def filter_form(params: Mapping[str, str], catalog: Catalog, query: PageQuery | None) -> FilterForm:
    """The form for `query` (the view shown) or, when the URL could not be read, for the raw `params`."""
    source = (query.source if query else params.get("source")) or ""
    event_type = (query.event_type if query else params.get("eventType")) or ""
    known = next((s for s in SOURCES if s.name == source), None) if query else None
    tz = params.get("tz") or "UTC"
    zones = list(COMMON_ZONES) if tz in COMMON_ZONES else [tz, *COMMON_ZONES]
    offered = [s for s in SOURCES if catalog.types_of(s.name)]  # `system` only once an operator declares types
    return FilterForm(
        sources=[Option(s.name, f"{s.label} ({s.provider})", s.name == source, s.name) for s in offered],
        all_types=f"All {known.label} usage" if known else "All event types",
        type_groups=_type_groups(catalog, known.name if known else None, event_type),
        narrowed_to=known.label if known else None,
        from_=params.get("from", ""),
        to=params.get("to", ""),
        zones=[Option(z, z, z == tz) for z in zones],
    )


def _type_groups(catalog: Catalog, source: str | None, selected: str) -> list[OptionGroup]:
    def option(entry: EventType) -> Option:
        return Option(entry.name, entry.title, entry.name == selected, f"{entry.source} \N{MIDDLE DOT} {entry.name}")

    if source is not None:
        return [OptionGroup("", [option(t) for t in catalog.types_of(source)])]
    return [
        OptionGroup(s.label, [option(t) for t in catalog.types_of(s.name)]) for s in SOURCES if catalog.types_of(s.name)
    ]
