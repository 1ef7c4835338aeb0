"""How the page writes dates, times, counts and amounts: one format for each, used everywhere on the page.

Dates read "3 Nov 2025" (day, month name, year: the same in every English locale, never 03/11 vs 11/03),
with the weekday where a day stands alone ("Mon 3 Nov 2025") and without the year on a chart's axis, where
the period above it says the year. Times are "3 Nov 2025, 14:02:11" in the page's time zone, which the
page states once.
"""

from __future__ import annotations

from datetime import date, datetime

EN_DASH = "\u2013"


def day_text(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def weekday_text(day: date) -> str:
    return f"{day:%a} {day_text(day)}"


def axis_day(day: date) -> str:
    return f"{day.day} {day:%b}"


def period_text(first: date, last: date) -> str:
    return day_text(first) if first == last else f"{day_text(first)} {EN_DASH} {day_text(last)}"


def time_text(local: datetime) -> str:
    return f"{day_text(local.date())}, {local:%H:%M:%S}"


def count(n: int) -> str:
    return f"{n:,}"


def amount(n: int, unit: str, unit_plural: str) -> str:
    """`n` with its unit: "1 segment", "12,480 tokens"."""
    return f"{n:,} {unit if n == 1 else unit_plural}"


def compact(n: int, scale: int | None = None) -> str:
    """A tick label short enough for a chart's axis: 950, 9,500, 95k, 1.2M (exact values are in the tables).

    `scale` (the axis' top value) makes every label of one axis alike: 0, 5k, 10k, 15k, not 5,000 next to 10k.
    """
    top = max(n, scale or 0)
    if top < 10_000:
        return f"{n:,}"
    if top < 1_000_000:
        return _short(n / 1000, "k")
    return _short(n / 1_000_000, "M")


def _short(value: float, suffix: str) -> str:
    # Two decimals at most (a tick of 1,250,000 is 1.25M), none that are zeros.
    return "0" if value == 0 else f"{value:.2f}".rstrip("0").rstrip(".") + suffix


def duration_text(seconds: int) -> str:
    """A call's length: "45 s", "3 min 25 s", "1 h 2 min"."""
    minutes, secs = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
