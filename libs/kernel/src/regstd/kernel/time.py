"""Time as the services count it: moments are timezone-aware UTC; the dates the law counts
(publication, implementation, deadlines) are calendar dates in China Standard Time."""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

Now = Callable[[], datetime]
"""Where a service reads the time: `utc_now`, or a controllable clock in tests."""


def utc_now() -> datetime:
    """The current moment, timezone-aware UTC."""
    return datetime.now(UTC)


def to_milliseconds(moment: datetime) -> datetime:
    """The moment in UTC to the millisecond: what the store keeps of it, so an answer built from it
    is what a later read returns."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def china_date(moment: datetime) -> date:
    """The calendar date in China Standard Time (UTC+8) at a moment."""
    if moment.tzinfo is None:
        raise ValueError("a moment must be timezone-aware")
    return moment.astimezone(CHINA_STANDARD_TIME).date()


def start_of_china_day(day: date) -> datetime:
    """Midnight at the start of a China Standard Time calendar date, as a UTC moment."""
    return datetime.combine(day, time(0), CHINA_STANDARD_TIME).astimezone(UTC)
