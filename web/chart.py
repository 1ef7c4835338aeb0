"""Daily bar charts as server-rendered SVG geometry: one chart per (source, event type), so one unit per axis.

The template draws what this computes. Each day is a column with a bar, an invisible full-height hit
area and a <title> (the browser's own tooltip and what a screen reader reads); a hover label in the
chart shows the exact value and date with CSS alone, so the chart needs no script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger_service.read.model import UsageSeries

# viewBox units; the SVG scales to its card's width: at the usual card width one unit is about a pixel, so the
# hover label's font size reads as set.
WIDTH = 320.0
HEIGHT = 112.0
TOP = 22.0  # room above the tallest bar for the hover label
ZERO_HEIGHT = 1.5  # a day with no usage still shows a sliver on the baseline


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    units: int
    events: int
    x: float
    width: float
    y: float
    height: float
    column_x: float
    column_width: float
    label_x: float
    label_anchor: str
    title: str
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    key: str  # "source-event_type", for element ids
    source: str
    event_type: str
    unit: str
    description: str
    total_units: int
    total_events: int
    peak: int
    bars: list[Bar]


def plural(count: int, unit: str) -> str:
    return unit if count == 1 else f"{unit}s"


def amount(count: int, unit: str) -> str:
    return f"{count:,} {plural(count, unit)}"


def day_text(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def build_chart(series: UsageSeries, description: str) -> Chart:
    peak = max((d.units for d in series.days), default=0)
    count = len(series.days) or 1
    step = WIDTH / count
    gap = min(step * 0.25, 4.0)
    bars = [
        _bar(i, count, step, gap, peak, day.date, day.units, day.events, series.unit)
        for i, day in enumerate(series.days)
    ]
    return Chart(
        key=f"{series.source}-{series.event_type}",
        source=series.source,
        event_type=series.event_type,
        unit=series.unit,
        description=description,
        total_units=series.totals.units,
        total_events=series.totals.events,
        peak=peak,
        bars=bars,
    )


def _bar(i: int, count: int, step: float, gap: float, peak: int, day: date, units: int, events: int, unit: str) -> Bar:
    plot = HEIGHT - TOP
    height = max(plot * units / peak, ZERO_HEIGHT) if peak and units else ZERO_HEIGHT
    x = i * step + gap / 2
    width = max(step - gap, 0.5)
    # Labels near the edges grow inwards so they are never cut off by the chart's border.
    anchor = "start" if i < count / 3 else "end" if i >= 2 * count / 3 else "middle"
    label_x = {"start": x, "middle": x + width / 2, "end": x + width}[anchor]
    value = f"{amount(units, unit)}, {amount(events, 'event')}"
    return Bar(
        day=day,
        units=units,
        events=events,
        x=round(x, 2),
        width=round(width, 2),
        y=round(HEIGHT - height, 2),
        height=round(height, 2),
        column_x=round(i * step, 2),
        column_width=round(step, 2),
        label_x=round(label_x, 2),
        label_anchor=anchor,
        title=f"{day_text(day)}: {value}",
        label=f"{day:%d %b}: {amount(units, unit)}",
    )
