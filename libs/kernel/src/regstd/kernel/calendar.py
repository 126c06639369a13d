"""The Chinese working-day calendar and month arithmetic, for deadlines.

Working days follow the official public-holiday calendar, including the weekend days that become
working days (调休), from the `chinesecalendar` library. It knows only the years the State Council has
announced; a date outside them raises `CalendarUnknown` instead of guessing.
"""

import calendar
from datetime import date, timedelta

import chinese_calendar


class CalendarUnknown(ValueError):
    """A working-day count reached a year the holiday calendar does not know yet."""


def is_working_day(day: date) -> bool:
    """Whether people work on this date in China (weekdays minus holidays plus 调休 weekend days)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as error:
        raise CalendarUnknown(
            f"cannot count Chinese working days on {day}: the holiday calendar (chinesecalendar "
            f"{getattr(chinese_calendar, '__version__', '?')}) does not know {day.year} yet ({error}); "
            "upgrade the library once the State Council has announced that year's holidays"
        ) from error


def add_working_days(start: date, days: int) -> date:
    """The `days`-th working day after `start` (start itself does not count)."""
    if days < 0:
        raise ValueError("a period cannot be negative")
    day, left = start, days
    while left:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def add_months(start: date, months: int) -> date:
    """The same day `months` later; the month's last day when that month is shorter."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
