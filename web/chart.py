"""Daily bar charts as server-rendered SVG geometry: one chart per (source, event type), so one unit per axis.

The template draws what this computes. Each chart has a value axis in its unit (round ticks, gridlines)
and a date axis. Each day is a column with a bar, an invisible full-height hit area and a <title> (the
browser's own tooltip and what a screen reader reads); a hover label in the chart shows the exact value
and date with CSS alone, so the chart needs no script. Every value is also in the card's "Daily values"
table, reachable without a mouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger_service.read.model import UsageSeries
from usage_ledger_contract.catalog import EventType
from web.axis import Tick, scale_top, ticks
from web.text import amount, axis_day, count, weekday_text

# viewBox units; the SVG scales to its card's width, which is about this many pixels on a desktop and a
# phone alike (a card is 300-420 px wide), so text set in these units reads at about its size.
WIDTH = 340.0
HEIGHT = 160.0
LEFT = 48.0  # room for the value axis' labels
RIGHT = 4.0
TOP = 24.0  # room above the tallest bar for the hover label
BOTTOM = 20.0  # room below the baseline for the date axis
ZERO_HEIGHT = 1.5  # a day with no usage still shows a sliver on the baseline


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    day_text: str
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
class DateTick:
    x: float
    label: str
    anchor: str


@dataclass(frozen=True, slots=True)
class Chart:
    key: str  # "source-event_type", for element ids
    source: str
    source_label: str
    event_type: str
    label: str  # "Outbound SMS"
    title: str  # "Outbound SMS · segments"
    unit: str
    units_label: str  # "segments": the value axis' title
    description: str
    total: str  # "12,480 segments"
    total_units: int
    total_events: int
    peak: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[DateTick]


def build_chart(series: UsageSeries, entry: EventType, source_label: str) -> Chart:
    peak = max((d.units for d in series.days), default=0)
    plot = Plot(LEFT, WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP, len(series.days) or 1)
    top = scale_top(peak)
    bars = [_bar(plot, i, top, d.date, d.units, d.events, series) for i, d in enumerate(series.days)]
    return Chart(
        key=f"{series.source}-{series.event_type}",
        source=series.source,
        source_label=source_label,
        event_type=series.event_type,
        label=series.label,
        title=entry.title,
        unit=series.unit,
        units_label=series.unit_plural,
        description=entry.description,
        total=amount(series.totals.units, series.unit, series.unit_plural),
        total_units=series.totals.units,
        total_events=series.totals.events,
        peak=peak,
        bars=bars,
        y_ticks=ticks(peak, plot.bottom, plot.height),
        x_ticks=date_ticks(plot, [d.date for d in series.days], 3),
    )


@dataclass(frozen=True, slots=True)
class Plot:
    """The plotting area inside a chart's viewBox, with `count` equal columns (one per day)."""

    left: float
    width: float
    bottom: float
    height: float
    count: int

    @property
    def step(self) -> float:
        return self.width / self.count

    def center(self, i: int) -> float:
        return self.left + (i + 0.5) * self.step


def date_ticks(plot: Plot, days: list[date], most: int) -> list[DateTick]:
    """At most `most` dates under the axis, evenly spread, the first and the last always among them."""
    if not days:
        return []
    count = min(most, len(days))
    picks = sorted({round(n * (len(days) - 1) / max(count - 1, 1)) for n in range(count)})
    ticks = []
    for i in picks:
        # The outer labels grow inwards so the chart's edges never cut them off.
        anchor = "start" if i == 0 and len(days) > 1 else "end" if i == len(days) - 1 and len(days) > 1 else "middle"
        x = plot.left if anchor == "start" else plot.left + plot.width if anchor == "end" else plot.center(i)
        ticks.append(DateTick(round(x, 2), axis_day(days[i]), anchor))
    return ticks


def _bar(plot: Plot, i: int, top: int, day: date, units: int, events: int, series: UsageSeries) -> Bar:
    height = max(plot.height * units / top, ZERO_HEIGHT) if units else ZERO_HEIGHT
    gap = min(plot.step * 0.25, 4.0)
    x = plot.left + i * plot.step + gap / 2
    width = max(plot.step - gap, 0.5)
    # Labels near the edges grow inwards so they are never cut off by the chart's border.
    anchor = "start" if i < plot.count / 3 else "end" if i >= 2 * plot.count / 3 else "middle"
    label_x = {"start": x, "middle": x + width / 2, "end": x + width}[anchor]
    value = amount(units, series.unit, series.unit_plural)
    events_text = f"{count(events)} event{'' if events == 1 else 's'}"
    return Bar(
        day=day,
        day_text=weekday_text(day),
        units=units,
        events=events,
        x=round(x, 2),
        width=round(width, 2),
        y=round(plot.bottom - height, 2),
        height=round(height, 2),
        column_x=round(plot.left + i * plot.step, 2),
        column_width=round(plot.step, 2),
        label_x=round(label_x, 2),
        label_anchor=anchor,
        title=f"{weekday_text(day)}: {value}, {events_text}",
        label=f"{axis_day(day)}: {value}",
    )
