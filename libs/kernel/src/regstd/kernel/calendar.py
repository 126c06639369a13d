"""The Chinese working-day calendar and month arithmetic, for deadlines.

A day is a working day when it is a weekday and not a holiday, or a weekend day the year's holiday
arrangement (放假安排) makes a working day (调休). The State Council announces each year's arrangement
late in the year before, so a deadline can reach a year nobody knows yet. `WorkingDayCalendar`
therefore takes a year's days, in this order, from:

1. an arrangement the operator supplied (the runtime reads it from a data file, decision 24);
2. the `chinesecalendar` library, which carries the announced arrangements of the years it knows;
3. for any other year, China's statutory holidays computed *by rule* with the `holidays` library:
   the festivals of the 全国年节及纪念日放假办法, plus the weekday given in place of one falling on a
   weekend (its "observed" days, the 补假 of article 6), and no 调休 working weekends (they cannot be
   foreseen). A deadline counted over such a year is *provisional*.

Only a year outside every source (beyond the lunar calendar `holidays` computes) raises
`CalendarUnknown`. The kernel reads no file: the runtime hands in what it read.
"""

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import NamedTuple

import chinese_calendar
from chinese_calendar import constants as announced_days


class CalendarUnknown(ValueError):
    """A working-day count reached a year no source of the calendar can say anything about."""


@dataclass(frozen=True)
class Arrangement:
    """One year's holiday arrangement: its days off, and its weekend days that are working days (调休).

    Every other weekday is a working day, every other weekend day is not."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str
    provisional: bool = False

    def __post_init__(self) -> None:
        strays = sorted(d for d in self.holidays | self.workdays if d.year != self.year)
        if strays:
            raise ValueError(f"the {self.year} arrangement lists days of another year: {strays[0]}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(f"the {self.year} arrangement lists {both[0]} as a holiday and a working day")
        weekdays = sorted(d for d in self.workdays if d.weekday() < 5)
        if weekdays:
            raise ValueError(
                f"the {self.year} arrangement lists {weekdays[0]} as an adjusted working day (调休), but "
                "that is a weekday: only a Saturday or Sunday becomes a working day"
            )

    def is_working_day(self, day: date) -> bool:
        """Whether people work on `day` of this year."""
        return day in self.workdays or (day.weekday() < 5 and day not in self.holidays)


class Deadline(NamedTuple):
    """A counted due date, and whether a year it crossed was counted by rule only."""

    due_on: date
    provisional: bool


@cache
def library_arrangement(year: int) -> Arrangement | None:
    """The announced arrangement `chinesecalendar` carries for `year`, if it knows the year."""
    holidays_of_year = frozenset(d for d in announced_days.holidays if d.year == year)
    if not holidays_of_year:
        return None
    return Arrangement(
        year=year,
        holidays=holidays_of_year,
        workdays=frozenset(d for d in announced_days.workdays if d.year == year),
        source=f"chinesecalendar {getattr(chinese_calendar, '__version__', '?')}",
    )


@cache
def arrangement_by_rule(year: int) -> Arrangement | None:
    """The statutory holidays of `year` computed by rule (observed days count as holidays), with
    no 调休 working weekends; None beyond the years the rule can compute (no Spring Festival)."""
    # Imported here: a large import (about 0.4 s) that a service's start-up does not need.
    import holidays

    statutory = holidays.country_holidays(
        "CN", years=year, language="en_US"
    )  # names only tell whether it computed
    if not statutory.get_named("Spring Festival"):
        return None
    return Arrangement(
        year=year,
        holidays=frozenset(d for d in statutory if d.year == year),
        # `holidays` knows some announced 调休 weekends of past years; none for a year to come.
        workdays=frozenset(d for d in getattr(statutory, "weekend_workdays", ()) if d.year == year),
        source=f"statutory holidays by rule (holidays {getattr(holidays, '__version__', '?')})",
        provisional=True,
    )


class WorkingDayCalendar:
    """China's working days, year by year from the best source known (see the module docstring).

    One calendar serves a service instance: its domain receives it in its rules (`ClockRules`,
    `LifePolicy`) and the runtime replaces the operator-supplied arrangements with `announce` when
    their file changes. A count reads the arrangements once, so a change never splits a count.
    """

    def __init__(self, supplied: Iterable[Arrangement] = ()) -> None:
        self._supplied: Mapping[int, Arrangement] = {}
        self.announce(supplied)

    def announce(self, supplied: Iterable[Arrangement]) -> None:
        """Replace the operator-supplied arrangements (the whole file's) with these."""
        by_year: dict[int, Arrangement] = {}
        for arrangement in supplied:
            if arrangement.year in by_year:
                raise ValueError(f"two arrangements for {arrangement.year}")
            by_year[arrangement.year] = arrangement
        self._supplied = by_year

    @property
    def supplied_years(self) -> list[int]:
        """The years whose arrangement the operator supplied."""
        return sorted(self._supplied)

    def arrangement(self, year: int) -> Arrangement:
        """The arrangement counted for `year`: supplied, announced, or by rule (provisional)."""
        return self._arrangement(self._supplied, year)

    def is_working_day(self, day: date) -> bool:
        """Whether people work on `day` in China (provisionally for a year counted by rule)."""
        return self.arrangement(day.year).is_working_day(day)

    def add_working_days(self, start: date, days: int) -> Deadline:
        """The `days`-th working day after `start` (start itself does not count), and whether any
        year counted was known by rule only."""
        if days < 0:
            raise ValueError("a period cannot be negative")
        supplied = self._supplied  # one snapshot per count
        day, left, provisional = start, days, False
        while left:
            day += timedelta(days=1)
            arrangement = self._arrangement(supplied, day.year)
            provisional = provisional or arrangement.provisional
            if arrangement.is_working_day(day):
                left -= 1
        return Deadline(day, provisional)

    @staticmethod
    def _arrangement(supplied: Mapping[int, Arrangement], year: int) -> Arrangement:
        found = supplied.get(year) or library_arrangement(year) or arrangement_by_rule(year)
        if found is None:
            raise CalendarUnknown(
                f"cannot count Chinese working days in {year}: no arrangement was supplied for it, "
                "chinesecalendar does not know it and the statutory holidays cannot be computed for it"
            )
        return found


def add_months(start: date, months: int) -> date:
    """The same day `months` later; the month's last day when that month is shorter."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
