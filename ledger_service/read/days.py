"""Local calendar days as UTC instants, for summaries in any IANA time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger_service.errors import BadRequestError

# The aggregates' bucket width. A local day is summed exactly only if it starts on a bucket boundary.
BUCKET_SECONDS = 15 * 60
# The instants Python (and so this service) can represent; PostgreSQL could go further.
_FIRST_INSTANT = "0001-01-01T00:00:00Z"
_LAST_INSTANT = "9999-12-31T23:59:59.999999Z"


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or 400 naming the tz parameter."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: keys such as '../x' or absolute paths; OSError: a directory, not a zone file.
        raise BadRequestError(f"tz: {name!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)") from None


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `zone`.

    Local midnight may not exist (a DST jump at 00:00): fold=0 reads the wall time with the offset in
    force before the jump, which lands on the first instant of the day after it.
    """
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def local_days(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC start of `first` and the UTC end of `last` (the start of the next day) in `zone`.

    At the ends of the calendar these may not exist in UTC (0001-01-01 east of UTC begins in year 0,
    9999-12-31 west of it ends in year 10000): a 400 naming the date, not an overflow.
    """
    try:
        start = day_start(first, zone)
    except OverflowError:
        raise BadRequestError(f"from: {first} in {zone.key} begins before {_FIRST_INSTANT}, the earliest") from None
    try:
        end = _day_end(last, zone)
    except OverflowError:
        raise BadRequestError(f"to: {last} in {zone.key} ends after {_LAST_INSTANT}, the latest") from None
    return start, end


def _day_end(day: date, zone: ZoneInfo) -> datetime:
    if day < date.max:
        return day_start(day + timedelta(days=1), zone)
    # 9999-12-31 has no next day to start: its end is the instant after its last microsecond.
    return datetime.combine(day, time.max, tzinfo=zone).astimezone(UTC) + timedelta(microseconds=1)


def day_starts(first: date, last: date, zone: ZoneInfo) -> tuple[list[datetime], datetime]:
    """UTC start of each local day first..last (inclusive), and the end of `last`."""
    start, end = local_days(first, last, zone)
    count = (last - first).days + 1
    starts = [start, *(day_start(first + timedelta(days=n), zone) for n in range(1, count)), end]
    for instant in starts:
        if int(instant.timestamp()) % BUCKET_SECONDS:
            raise BadRequestError(
                f"tz: {zone.key} has a day starting at {instant.astimezone(zone).isoformat()}, not on a "
                "15-minute boundary of UTC, so its days cannot be summed exactly"
            )
    return starts[:-1], starts[-1]


def today_in(zone: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(zone).date()
