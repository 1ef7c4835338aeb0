"""Where each instant of a summary window is read from: the hourly aggregate, the 15-minute one, or raw rows.

The aggregates are trusted only below `materialized_until` (W, a quarter hour) and outside the hours marked
as holding rows no refresh has seen yet (migration 0008). Within the trusted part, whole UTC hours come
from the hourly level, and hours that a local midnight cuts (zones at :30 / :45) or W cuts from the
15-minute level: a local day is a whole number of 15-minute buckets, so every bucket read falls in
exactly one day. Marked hours and
everything from W on are read raw. Together the ranges cover [start, end) exactly once.
On plain PostgreSQL W is infinity and nothing is marked, so raw rows are never read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)

Range = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class SummaryRanges:
    hours: list[Range] = field(default_factory=list)  # whole UTC hours, from the hourly aggregate
    quarters: list[Range] = field(default_factory=list)  # 15-minute aligned parts of one hour each
    raw: list[Range] = field(default_factory=list)  # raw ledger rows

    def columns(self) -> tuple[list[datetime], ...]:
        """Six arrays for the query: starts and ends of the hourly, 15-minute and raw ranges."""
        return (*_split(self.hours), *_split(self.quarters), *_split(self.raw))

    def bounds(self) -> tuple[datetime | None, ...]:
        """Where each level's ranges start and end (None: no ranges), as plain values for the planner."""
        return (*_bounds(self.hours), *_bounds(self.quarters), *_bounds(self.raw))


def floor_hour(t: datetime) -> datetime:
    return t - timedelta(seconds=t.timestamp() % 3600)


def plan_ranges(
    day_starts: Sequence[datetime], end: datetime, materialized_until: datetime, marked_hours: Iterable[datetime]
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
    return SummaryRanges(_merged(ranges.hours), _merged(ranges.quarters), _merged(ranges.raw))


def _merged(ranges: list[Range]) -> list[Range]:
    """Adjacent ranges joined, so a run of hours is one index range scan."""
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _split(ranges: list[Range]) -> tuple[list[datetime], list[datetime]]:
    return [lo for lo, _ in ranges], [hi for _, hi in ranges]


def _bounds(ranges: list[Range]) -> tuple[datetime | None, datetime | None]:
    return (ranges[0][0], ranges[-1][1]) if ranges else (None, None)
