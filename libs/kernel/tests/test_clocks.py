"""Clocks without infrastructure: periods in calendar days, Chinese working days (with the Spring
Festival and 调休 Saturdays of the real 2026 calendar), months and years; due soon, overdue, met."""

from datetime import UTC, date, datetime

import pytest

from regstd.kernel.calendar import CalendarUnknown, WorkingDayCalendar, add_months
from regstd.kernel.clocks import (
    NEXT_AT,
    OVERDUE,
    Clock,
    ClockView,
    Period,
    check_all,
    kind_of,
    meet,
    next_check_at,
    scheduling_fields,
)

CALENDAR = WorkingDayCalendar()


def is_working_day(day: date) -> bool:
    return CALENDAR.is_working_day(day)


def add_working_days(start: date, days: int) -> date:
    return CALENDAR.add_working_days(start, days).due_on


def test_the_2026_spring_festival_and_its_adjusted_saturdays_come_from_the_calendar() -> None:
    assert is_working_day(date(2026, 2, 14)), "Saturday 14 February 2026 is a 调休 working day"
    assert not is_working_day(date(2026, 2, 16)), "Monday 16 February 2026 is in the Spring Festival"
    assert not is_working_day(date(2026, 2, 21))


def test_a_working_day_deadline_across_the_spring_festival_counts_the_adjusted_saturday() -> None:
    # Thu 12 Feb + 5 working days: Fri 13, Sat 14 (调休), then 15–23 Feb are holidays: 24, 25, 26.
    assert add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)
    # A naive Monday-to-Friday count would have said 19 February, inside the holiday.
    assert Period(amount=5, unit="working_days").after(date(2026, 2, 12), CALENDAR) == date(2026, 2, 26)


def test_twenty_working_days_cross_the_festival_and_both_adjusted_saturdays() -> None:
    # 11–14 Feb (4, Sat 14 counts), 24–27 (8), Sat 28 Feb (调休, 9), 2–6 Mar (14), 9–13 (19), 16 Mar (20).
    assert add_working_days(date(2026, 2, 10), 20) == date(2026, 3, 16)


def test_2025_spring_festival_with_its_adjusted_sunday_and_saturday() -> None:
    # 2025: holidays 28 Jan–4 Feb; Sun 26 Jan and Sat 8 Feb are working days.
    assert add_working_days(date(2025, 1, 24), 1) == date(2025, 1, 26)
    assert add_working_days(date(2025, 1, 27), 1) == date(2025, 2, 5)
    assert add_working_days(date(2025, 2, 7), 1) == date(2025, 2, 8)


def test_a_year_no_source_knows_fails_loudly() -> None:
    # Adapted (issue 13): 2099 is now counted by rule; only a year beyond the lunar calendar the
    # statutory rule can compute is unknown.
    with pytest.raises(CalendarUnknown, match="in 2101"):
        add_working_days(date(2101, 3, 1), 3)
    period = Period(amount=20, unit="working_days")
    clock = Clock.start("disclosure", date(2101, 3, 1), period, 5, calendar=CALENDAR)
    assert clock.due_on is None
    assert clock.problem is not None
    assert "2101" in clock.problem
    assert clock.next_check_on() == date(2101, 3, 2), "it retries the next day"


def test_months_and_years_keep_the_day_or_take_the_last_of_the_month() -> None:
    assert add_months(date(2024, 8, 31), 18) == date(2026, 2, 28)
    assert Period(amount=5, unit="years").after(date(2024, 2, 29), CALENDAR) == date(2029, 2, 28)
    assert Period(amount=60, unit="calendar_days").after(date(2026, 1, 1), CALENDAR) == date(2026, 3, 2)


def test_a_clock_warns_then_goes_overdue_once_and_a_late_check_skips_to_overdue() -> None:
    clock = Clock.start(
        "filing:50", date(2026, 1, 1), Period(amount=60, unit="calendar_days"), 10, calendar=CALENDAR
    )
    assert clock.due_on == date(2026, 3, 2)
    assert clock.check(date(2026, 2, 19)) == (clock, None)
    soon, tick = clock.check(date(2026, 2, 20))
    assert tick is not None
    assert (tick.happening, soon.state) == ("due_soon", "due_soon")
    assert soon.check(date(2026, 2, 21)) == (soon, None), "due soon is said once"
    late, tick = soon.check(date(2026, 3, 5))
    assert tick is not None
    assert (tick.happening, tick.days_late) == ("overdue", 3)
    assert late.check(date(2026, 4, 1)) == (late, None), "overdue is said once"
    assert late.next_check_on() is None
    met, tick = late.meet(date(2026, 4, 1))
    assert tick is not None
    assert (tick.happening, tick.days_late, met.state) == ("met", 30, "met")
    assert met.meet(date(2026, 4, 2)) == (met, None)

    restarted_late, ticks = check_all([clock], date(2026, 6, 1), CALENDAR)
    assert [t.happening for t in ticks] == ["overdue"], "a check long after the due date says overdue only"
    assert restarted_late[0].state == "overdue"


def test_the_next_check_is_the_start_of_the_china_day_of_the_next_change() -> None:
    a = Clock.start("a", date(2026, 1, 1), Period(amount=60, unit="calendar_days"), 10, calendar=CALENDAR)
    b = Clock.start("b", date(2026, 1, 1), Period(amount=30, unit="calendar_days"), 0, calendar=CALENDAR)
    assert next_check_at([a, b]) == datetime(2026, 1, 30, 16, 0, tzinfo=UTC)  # 31 Jan 00:00 CST
    assert next_check_at([a.stop(), b.meet(date(2026, 1, 2))[0]]) is None


def test_meeting_a_named_clock_and_the_fields_a_document_stores_beside_its_clocks() -> None:
    filing = Clock.start(
        "filing:50", date(2026, 1, 1), Period(amount=10, unit="calendar_days"), 2, calendar=CALENDAR
    )
    review = Clock.start("review", date(2026, 1, 1), Period(amount=1, unit="years"), 30, calendar=CALENDAR)
    late, _ = filing.check(date(2026, 1, 20))
    assert late.state == "overdue"
    assert scheduling_fields([late, review]) == {
        NEXT_AT: datetime(2026, 12, 1, 16, tzinfo=UTC),  # 2 December CST: a year minus 30 days
        OVERDUE: ["filing:50"],
    }
    clocks, ticks = meet([late, review], "filing:50", date(2026, 1, 25))
    assert [(t.clock, t.happening, t.days_late) for t in ticks] == [("filing:50", "met", 14)]
    assert scheduling_fields(clocks)[OVERDUE] == []
    assert meet(clocks, "filing:50", date(2026, 1, 26)) == (clocks, []), "met once"
    view = ClockView.of(late, date(2026, 1, 22))
    assert (view.period, view.days_overdue, view.state) == ("10 calendar days", 11, "overdue")
    assert kind_of("filing:50") == "filing"
    assert kind_of("review") == "review"
