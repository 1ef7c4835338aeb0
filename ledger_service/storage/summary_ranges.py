"""Where each instant of a summary window is read from: the 6-hour, hourly or 15-minute aggregate, or raw rows.

The aggregates are trusted only below `materialized_until` (W, a quarter hour) and outside the hours marked
as holding rows no refresh has seen yet (migration 0008). Within the trusted part, whole UTC hours come
from the hourly level, and hours that a local midnight cuts (zones at :30 / :45) or W cuts from the
15-minute level: a local day is a whole number of 15-minute buckets, so every bucket read falls in
exactly one day. Where six of those whole hours make a 6-hour bucket (UTC 00/06/12/18) inside one local
day, the 6-hour level answers for them with one row instead of six (migration 0012, TimescaleDB only).
Marked hours and everything from W on are read raw. Together the ranges cover [start, end) exactly once.
On plain PostgreSQL W is infinity and nothing is marked, so raw rows are never read.

Every range is then cut at the local midnights and carries the number of its day, so the query adds each
row to its day without looking at the row's time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
SIX_HOURS = timedelta(hours=6)

Range = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class SummaryRanges:
    six_hours: list[Range] = field(default_factory=list)  # 6-hour buckets inside one local day
    hours: list[Range] = field(default_factory=list)  # whole UTC hours, from the hourly aggregate
    quarters: list[Range] = field(default_factory=list)  # 15-minute aligned parts of one hour each
    raw: list[Range] = field(default_factory=list)  # raw ledger rows

    def levels(self) -> tuple[list[Range], ...]:
        """The ranges of each level, in the query's order: 6-hour, hourly, 15-minute, raw."""
        return (self.six_hours, self.hours, self.quarters, self.raw)

    def columns(self, day_starts: Sequence[datetime]) -> tuple[list[datetime] | list[int], ...]:
        """Three arrays per level for the query: the starts, ends and day numbers (1-based) of its ranges,
        each range cut at the local midnights in `day_starts` (the window's first day start first)."""
        return tuple(column for ranges in self.levels() for column in _by_day(ranges, day_starts))

    def bounds(self) -> tuple[datetime | None, ...]:
        """Where each level's ranges start and end (None: no ranges), as plain values for the planner."""
        return tuple(bound for ranges in self.levels() for bound in _bounds(ranges))


def floor_to(t: datetime, step: timedelta) -> datetime:
    """The start of t's UTC bucket of width `step` (a whole number of seconds dividing a day)."""
    return t - timedelta(seconds=t.timestamp() % step.total_seconds())


def floor_hour(t: datetime) -> datetime:
    return floor_to(t, HOUR)


def plan_ranges(
    day_starts: Sequence[datetime],
    end: datetime,
    materialized_until: datetime,
    marked_hours: Iterable[datetime],
    *,
    six_hour_level: bool = False,
) -> SummaryRanges:
    """Ranges covering [day_starts[0], end); `materialized_until` is already clamped into that window."""
    start, trusted_end = day_starts[0], materialized_until
    marked = {h for h in marked_hours if floor_hour(start) <= h < trusted_end}
    # Hours cut by a local midnight, or by W (a quarter hour: the hourly level is complete below W's hour).
    cut = {floor_hour(t) for t in (*day_starts, end, trusted_end) if t != floor_hour(t)}
    ranges = SummaryRanges()
    cursor = start  # if start is not on the hour, its hour is cut and handled in the loop
    for hour in sorted(h for h in marked | cut if h < trusted_end):
        if hour > cursor:
            ranges.hours.append((cursor, hour))
        part = (max(hour, start), min(hour + HOUR, trusted_end))
        if part[0] < part[1]:
            (ranges.raw if hour in marked else ranges.quarters).append(part)
        cursor = max(cursor, hour + HOUR)
    if cursor < trusted_end:
        ranges.hours.append((cursor, trusted_end))
    if trusted_end < end:
        ranges.raw.append((max(trusted_end, start), end))
    six_hours, hours = _six_hour_buckets(ranges.hours, day_starts) if six_hour_level else ([], ranges.hours)
    return SummaryRanges(_merged(six_hours), _merged(hours), _merged(ranges.quarters), _merged(ranges.raw))


def _six_hour_buckets(hours: list[Range], day_starts: Sequence[datetime]) -> tuple[list[Range], list[Range]]:
    """The runs of hourly hours split into the 6-hour buckets lying wholly in a run that no local midnight
    cuts, and the hours left around them."""
    buckets: list[Range] = []
    rest: list[Range] = []
    for lo, hi in hours:
        cursor, bucket = lo, floor_to(lo, SIX_HOURS)
        if bucket < lo:
            bucket += SIX_HOURS
        while bucket + SIX_HOURS <= hi:
            following = bisect_right(day_starts, bucket)  # the first midnight after the bucket's start
            if following == len(day_starts) or day_starts[following] >= bucket + SIX_HOURS:
                if cursor < bucket:
                    rest.append((cursor, bucket))
                buckets.append((bucket, bucket + SIX_HOURS))
                cursor = bucket + SIX_HOURS
            bucket += SIX_HOURS
        if cursor < hi:
            rest.append((cursor, hi))
    return buckets, rest


def _merged(ranges: list[Range]) -> list[Range]:
    """Adjacent ranges joined, so a run of hours is one index range scan."""
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _by_day(ranges: list[Range], day_starts: Sequence[datetime]) -> tuple[list[datetime], list[datetime], list[int]]:
    """The ranges cut at every local midnight, with the number of the day each part lies in."""
    starts: list[datetime] = []
    ends: list[datetime] = []
    days: list[int] = []
    for lo, hi in ranges:
        day = bisect_right(day_starts, lo)  # day n is [day_starts[n-1], day_starts[n])
        while lo < hi:
            part_end = min(hi, day_starts[day]) if day < len(day_starts) else hi
            starts.append(lo)
            ends.append(part_end)
            days.append(day)
            lo, day = part_end, day + 1
    return starts, ends, days


def _bounds(ranges: list[Range]) -> tuple[datetime | None, datetime | None]:
    return (ranges[0][0], ranges[-1][1]) if ranges else (None, None)
