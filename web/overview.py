"""The overview: billable events per day with one line per category (source), as server-rendered SVG.

A category bills in several units (Twilio: segments, calls, minutes, steps), and unlike units are never
added. What every category has in common is the billable event (one SMS, one call, one email, one AI
reply: one ledger row), so the overview counts events, on one axis titled so; the charts below it show
each kind of usage in its own unit.

Drawn twice, for a wide and a narrow screen (the stylesheet shows one): text in an SVG scales with its
width, so a single drawing would have either giant labels on a desktop or unreadable ones on a phone.
Lines differ by dash pattern as well as colour, so they can be told apart without colour vision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger_service.read.model import UsageSummary
from usage_ledger_contract.catalog import SOURCES
from web.axis import Tick, scale_top, ticks
from web.chart import DateTick, Plot, date_ticks
from web.text import count, period_text, weekday_text

MARKERS_UP_TO_DAYS = 62  # a dot per day reads well up to about two months; beyond, the line alone


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    dates: int  # date labels under the axis


WIDE = Layout("wide", 960.0, 280.0, 56.0, 12.0, 14.0, 30.0, 6)
NARROW = Layout("narrow", 360.0, 230.0, 44.0, 8.0, 12.0, 26.0, 3)


@dataclass(frozen=True, slots=True)
class Line:
    source: str
    style: int  # 0.. : the dash pattern and marker (usage.css .line-N)
    points: str  # the polyline's "x,y x,y ..."
    markers: list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Column:
    x: float
    width: float
    title: str


@dataclass(frozen=True, slots=True)
class Drawing:
    layout: Layout
    plot_left: float
    plot_right: float
    plot_top: float
    baseline: float
    lines: list[Line]
    columns: list[Column]
    y_ticks: list[Tick]
    x_ticks: list[DateTick]


@dataclass(frozen=True, slots=True)
class Category:
    source: str
    label: str  # "SMS & calls"
    provider: str  # "Twilio"
    style: int
    total_events: int
    per_day: list[int]


@dataclass(frozen=True, slots=True)
class DayRow:
    day: date
    text: str
    events: list[int]  # per category, in the categories' order


@dataclass(frozen=True, slots=True)
class Overview:
    categories: list[Category]
    drawings: list[Drawing]  # wide, narrow
    days: list[DayRow]
    peak: int
    description: str  # the chart's text alternative


def build_overview(summary: UsageSummary) -> Overview:
    dates = [d.date for d in summary.series[0].days] if summary.series else []
    categories = _categories(summary, len(dates))
    peak = max((n for c in categories for n in c.per_day), default=0)
    days = [DayRow(d, weekday_text(d), [c.per_day[i] for c in categories]) for i, d in enumerate(dates)]
    totals = ", ".join(f"{c.label} {count(c.total_events)}" for c in categories)
    description = (
        f"Billable events per day by category, {period_text(summary.from_, summary.to)}: {totals} in total; "
        f"at most {count(peak)} in one category on one day. Exact values are in the table below the chart."
    )
    drawings = [_draw(layout, categories, dates, peak) for layout in (WIDE, NARROW)]
    return Overview(categories, drawings, days, peak, description)


def _categories(summary: UsageSummary, days: int) -> list[Category]:
    per_source: dict[str, list[int]] = {}
    for series in summary.series:
        daily = per_source.setdefault(series.source, [0] * days)
        for i, day in enumerate(series.days):
            daily[i] += day.events  # events, never units: like is added to like
    present = [s for s in SOURCES if s.name in per_source]
    return [
        Category(s.name, s.label, s.provider, style, sum(per_source[s.name]), per_source[s.name])
        for style, s in enumerate(present)
    ]


def _draw(layout: Layout, categories: list[Category], dates: list[date], peak: int) -> Drawing:
    baseline = layout.height - layout.bottom
    width = layout.width - layout.left - layout.right
    plot = Plot(layout.left, width, baseline, baseline - layout.top, len(dates) or 1)
    top = scale_top(peak)

    def y(value: int) -> float:
        return round(baseline - plot.height * value / top, 2)

    lines = []
    for c in categories:
        points = [(round(plot.center(i), 2), y(v)) for i, v in enumerate(c.per_day)]
        markers = points if len(dates) <= MARKERS_UP_TO_DAYS else []
        lines.append(Line(c.source, c.style, " ".join(f"{px},{py}" for px, py in points), markers))
    columns = [
        Column(round(plot.left + i * plot.step, 2), round(plot.step, 2), _column_title(day, categories, i))
        for i, day in enumerate(dates)
    ]
    return Drawing(
        layout=layout,
        plot_left=plot.left,
        plot_right=plot.left + plot.width,
        plot_top=layout.top,
        baseline=baseline,
        lines=lines,
        columns=columns,
        y_ticks=ticks(peak, baseline, plot.height, most=5),
        x_ticks=date_ticks(plot, dates, layout.dates),
    )


def _column_title(day: date, categories: list[Category], i: int) -> str:
    values = ", ".join(f"{c.label} {count(c.per_day[i])}" for c in categories)
    return f"{weekday_text(day)}: {values} events"
