"""The summary reads every instant of its window exactly once, and from a level that can answer for it:
whole hours inside one local day from the hourly aggregate, quarter hours from the 15-minute one, both only
below W and outside marked hours, and everything else from raw rows (storage/summary_ranges.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from ledger_service.read.days import day_starts
from ledger_service.storage.summary_ranges import HOUR, Range, floor_hour, plan_ranges

ZONES = (
    "UTC",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
)
QUARTER = timedelta(minutes=15)


@st.composite
def windows(draw: st.DrawFn) -> tuple[list[datetime], datetime, datetime, list[datetime]]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    first = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 1)))
    starts, end = day_starts(first, first + timedelta(days=draw(st.integers(0, 40))), zone)
    hours = int((end - floor_hour(starts[0])) / HOUR)
    # W is the quarter hour the last refresh reached, clamped into the window as summary_state does.
    watermark = floor_hour(starts[0]) + QUARTER * draw(st.integers(-20, 4 * hours + 20))
    watermark = min(max(watermark, starts[0]), end)
    marks = draw(st.lists(st.integers(0, hours), max_size=12))
    marked = sorted({floor_hour(starts[0]) + HOUR * n for n in marks if floor_hour(starts[0]) + HOUR * n < watermark})
    return starts, end, watermark, marked


@given(windows())
def test_every_instant_is_read_once_from_a_level_that_can_answer_for_it(
    window: tuple[list[datetime], datetime, datetime, list[datetime]],
) -> None:
    starts, end, watermark, marked = window
    ranges = plan_ranges(starts, end, watermark, marked)
    every = sorted(ranges.hours + ranges.quarters + ranges.raw)
    assert every[0][0] == starts[0] and every[-1][1] == end
    assert all(lo < hi for lo, hi in every)
    assert all(a[1] == b[0] for a, b in pairwise(every)), "a gap or an overlap"
    midnights = [*starts[1:], end]
    for lo, hi in ranges.hours:
        assert lo == floor_hour(lo) and hi == floor_hour(hi) and hi <= floor_hour(watermark)
        assert not any(lo < m < hi and m != floor_hour(m) for m in midnights), "an hour that a midnight cuts"
        assert not any(lo <= h < hi for h in marked)
    for lo, hi in ranges.quarters:
        assert aligned(lo, QUARTER) and aligned(hi, QUARTER) and hi <= watermark
        assert not any(lo < h + HOUR and h < hi for h in marked)  # (adjacent parts are merged into one scan)
    for hour in marked:
        assert inside((max(hour, starts[0]), min(hour + HOUR, watermark)), ranges.raw)
    if watermark < end:
        assert inside((watermark, end), ranges.raw)


def test_plain_postgresql_never_reads_raw_rows_and_utc_days_are_one_hourly_scan() -> None:
    starts, end = day_starts(date(2026, 3, 1), date(2026, 3, 30), ZoneInfo("UTC"))
    ranges = plan_ranges(starts, end, end, [])  # W = infinity, clamped to the window's end
    assert (ranges.hours, ranges.quarters, ranges.raw) == ([(starts[0], end)], [], [])


def test_a_marked_hour_is_read_raw_and_splits_the_hourly_scan() -> None:
    starts, end = day_starts(date(2026, 3, 1), date(2026, 3, 2), ZoneInfo("UTC"))
    marked = datetime(2026, 3, 1, 5, tzinfo=UTC)
    watermark = datetime(2026, 3, 2, 12, tzinfo=UTC)
    ranges = plan_ranges(starts, end, watermark, [marked])
    assert ranges.hours == [(starts[0], marked), (marked + HOUR, watermark)]
    assert ranges.raw == [(marked, marked + HOUR), (watermark, end)]


def aligned(t: datetime, step: timedelta) -> bool:
    return t.timestamp() % step.total_seconds() == 0


def inside(part: Range, ranges: list[Range]) -> bool:
    return any(lo <= part[0] and part[1] <= hi for lo, hi in ranges)
