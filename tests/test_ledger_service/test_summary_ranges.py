"""The summary reads every instant of its window exactly once, and from a level that can answer for it:
6-hour buckets and whole hours inside one local day from the 6-hour and hourly aggregates, quarter hours
from the 15-minute one, all only below W and outside marked hours, and everything else from raw rows; each
range cut at the local midnights carries its day (storage/summary_ranges.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from ledger_service.read.days import day_starts
from ledger_service.storage.summary_ranges import HOUR, SIX_HOURS, Range, floor_hour, plan_ranges

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


@given(windows(), st.booleans())
def test_every_instant_is_read_once_from_a_level_that_can_answer_for_it(
    window: tuple[list[datetime], datetime, datetime, list[datetime]], six_hour_level: bool
) -> None:
    starts, end, watermark, marked = window
    ranges = plan_ranges(starts, end, watermark, marked, six_hour_level=six_hour_level)
    every = sorted(ranges.six_hours + ranges.hours + ranges.quarters + ranges.raw)
    assert every[0][0] == starts[0] and every[-1][1] == end
    assert all(lo < hi for lo, hi in every)
    assert all(a[1] == b[0] for a, b in pairwise(every)), "a gap or an overlap"
    midnights = [*starts[1:], end]
    for lo, hi in ranges.hours:
        assert lo == floor_hour(lo) and hi == floor_hour(hi) and hi <= floor_hour(watermark)
        assert not any(lo < m < hi and m != floor_hour(m) for m in midnights), "an hour that a midnight cuts"
        assert not any(lo <= h < hi for h in marked)
    assert six_hour_level or not ranges.six_hours
    for lo, hi in ranges.six_hours:
        assert aligned(lo, SIX_HOURS) and aligned(hi, SIX_HOURS) and hi <= floor_hour(watermark)
        for bucket in range(int((hi - lo) / SIX_HOURS)):
            bucket_start = lo + bucket * SIX_HOURS
            assert not any(bucket_start < m < bucket_start + SIX_HOURS for m in midnights), "a midnight cuts it"
        assert not any(lo <= h < hi for h in marked)
    assert_days(ranges.columns(starts), starts)
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
    assert ranges.levels() == ([], [(starts[0], end)], [], [])


def test_whole_utc_days_below_w_come_from_the_six_hour_level() -> None:
    starts, end = day_starts(date(2026, 3, 1), date(2026, 3, 3), ZoneInfo("UTC"))
    watermark = datetime(2026, 3, 3, 9, 45, tzinfo=UTC)
    ranges = plan_ranges(starts, end, watermark, [], six_hour_level=True)
    six_until = datetime(2026, 3, 3, 6, tzinfo=UTC)
    assert ranges.levels() == (
        [(starts[0], six_until)],
        [(six_until, floor_hour(watermark))],
        [(floor_hour(watermark), watermark)],
        [(watermark, end)],
    )
    lows, highs, days = ranges.columns(starts)[:3]  # the 6-hour level, cut at each midnight
    assert (lows, highs, days) == ([starts[0], starts[1], starts[2]], [starts[1], starts[2], six_until], [1, 2, 3])


def test_a_midnight_inside_a_six_hour_bucket_leaves_it_to_the_hourly_level() -> None:
    # Los Angeles' midnight is 08:00 UTC in winter: the bucket 06:00-12:00 UTC of Jan 11 lies in two local days.
    starts, end = day_starts(date(2026, 1, 10), date(2026, 1, 11), ZoneInfo("America/Los_Angeles"))
    ranges = plan_ranges(starts, end, end, [], six_hour_level=True)
    jan = [datetime(2026, 1, d, h, tzinfo=UTC) for d, h in ((10, 8), (10, 12), (11, 6), (11, 12), (12, 6), (12, 8))]
    assert ranges.six_hours == [(jan[1], jan[2]), (jan[3], jan[4])]
    assert ranges.hours == [(jan[0], jan[1]), (jan[2], jan[3]), (jan[4], jan[5])]


def test_a_marked_hour_is_read_raw_and_splits_the_hourly_scan() -> None:
    starts, end = day_starts(date(2026, 3, 1), date(2026, 3, 2), ZoneInfo("UTC"))
    marked = datetime(2026, 3, 1, 5, tzinfo=UTC)
    watermark = datetime(2026, 3, 2, 12, tzinfo=UTC)
    ranges = plan_ranges(starts, end, watermark, [marked])
    assert ranges.hours == [(starts[0], marked), (marked + HOUR, watermark)]
    assert ranges.raw == [(marked, marked + HOUR), (watermark, end)]


def assert_days(columns: tuple[list[datetime] | list[int], ...], starts: list[datetime]) -> None:
    """Every range of every level lies in the one local day its number names."""
    bounds = [*starts[1:], datetime.max.replace(tzinfo=UTC)]
    for level in range(4):
        lows, highs, days = columns[3 * level : 3 * level + 3]
        for lo, hi, day in zip(lows, highs, days, strict=True):
            assert isinstance(lo, datetime) and isinstance(hi, datetime) and isinstance(day, int)
            assert starts[day - 1] <= lo < hi <= bounds[day - 1]


def aligned(t: datetime, step: timedelta) -> bool:
    return t.timestamp() % step.total_seconds() == 0


def inside(part: Range, ranges: list[Range]) -> bool:
    return any(lo <= part[0] and part[1] <= hi for lo, hi in ranges)
