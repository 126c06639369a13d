"""The working-day calendar that never goes blank (issue 13): announced years from chinesecalendar with
their 调休 days, later years by rule (provisional) until the operator supplies the arrangement, and
clocks that are counted again and say `rescheduled` when the arrangement becomes known."""

from datetime import date, timedelta

import pytest

from regstd.kernel.calendar import Arrangement, Deadline, WorkingDayCalendar
from regstd.kernel.clocks import Clock, ClockView, Period, check_all, next_check_at
from regstd.kernel.time import start_of_china_day


def days(first: str, last: str | None = None) -> frozenset[date]:
    """Every date from `first` to `last` (inclusive)."""
    start = date.fromisoformat(first)
    end = date.fromisoformat(last or first)
    return frozenset(start + timedelta(days=n) for n in range((end - start).days + 1))


# An invented 2027 arrangement, for tests only (the State Council had not announced 2027's): the
# Spring Festival 5–11 February with Saturday 20 February a 调休 working day.
INVENTED_2027 = Arrangement(
    year=2027,
    holidays=days("2027-01-01", "2027-01-03") | days("2027-02-05", "2027-02-11"),
    workdays=days("2027-02-20"),
    source="test fixture",
)
TEN_WORKING_DAYS = Period(amount=10, unit="working_days")


def test_2026_is_announced_from_chinesecalendar_with_its_adjusted_saturdays() -> None:
    calendar = WorkingDayCalendar()
    assert calendar.arrangement(2026).source.startswith("chinesecalendar")
    assert calendar.is_working_day(date(2026, 2, 14)), "Saturday 14 February 2026 is a 调休 working day"
    assert calendar.is_working_day(date(2026, 2, 28)), "so is Saturday 28 February"
    assert not calendar.is_working_day(date(2026, 2, 20)), "Friday 20 February is in the Spring Festival"
    assert calendar.add_working_days(date(2026, 2, 12), 5) == Deadline(date(2026, 2, 26), provisional=False)


def test_2027_is_counted_by_rule_and_provisional() -> None:
    calendar = WorkingDayCalendar()
    by_rule = calendar.arrangement(2027)
    assert by_rule.provisional
    # The statutory festival days, and the weekdays given for those that fall on a weekend (补假,
    # "observed"): New Year Friday 1 Jan; the Spring Festival from its eve, Friday 5 Feb, with
    # Sat 6 and Sun 7 made up on Tue 9 and Wed 10 February.
    assert {date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 8)} <= by_rule.holidays
    assert {date(2027, 2, 9), date(2027, 2, 10)} <= by_rule.holidays, "observed days are holidays"
    assert not by_rule.workdays, "no 调休 working weekend can be foreseen"
    assert not calendar.is_working_day(date(2027, 2, 20)), "a Saturday, by rule"
    assert calendar.add_working_days(date(2027, 2, 4), 1) == Deadline(date(2027, 2, 11), provisional=True)


def test_2027_from_a_supplied_arrangement_is_not_provisional_and_counts_its_adjusted_saturday() -> None:
    calendar = WorkingDayCalendar([INVENTED_2027])
    assert calendar.supplied_years == [2027]
    assert calendar.is_working_day(date(2027, 2, 20)), "the supplied 调休 Saturday is a working day"
    assert not calendar.is_working_day(date(2027, 2, 11))
    # Fri 19 Feb + 2 working days: Sat 20 (调休), Mon 22.
    assert calendar.add_working_days(date(2027, 2, 19), 2) == Deadline(date(2027, 2, 22), provisional=False)
    assert WorkingDayCalendar().add_working_days(date(2027, 2, 19), 2).due_on == date(2027, 2, 23)


def test_a_deadline_from_2026_into_2027_is_provisional_until_2027_is_supplied() -> None:
    # Mon 28 Dec 2026 + 5 working days: 29, 30, 31 Dec; 1 Jan is New Year; Mon 4, Tue 5 Jan 2027.
    start = date(2026, 12, 28)
    assert WorkingDayCalendar().add_working_days(start, 5) == Deadline(date(2027, 1, 5), provisional=True)
    # Supplied, 2027 counts as announced: the same day here, no longer provisional.
    supplied = WorkingDayCalendar([INVENTED_2027])
    assert supplied.add_working_days(start, 5) == Deadline(date(2027, 1, 5), provisional=False)
    # A count that stays in 2026 is never provisional.
    assert WorkingDayCalendar().add_working_days(date(2026, 12, 1), 5).provisional is False
    # Months and calendar days do not depend on the holidays.
    assert Period(amount=60, unit="calendar_days").count(start, WorkingDayCalendar()).provisional is False


def test_an_arrangement_that_cannot_be_true_is_refused() -> None:
    with pytest.raises(ValueError, match="another year"):
        Arrangement(year=2027, holidays=days("2026-12-31"), workdays=frozenset(), source="x")
    with pytest.raises(ValueError, match="a holiday and a working day"):
        Arrangement(year=2027, holidays=days("2027-02-20"), workdays=days("2027-02-20"), source="x")
    with pytest.raises(ValueError, match="that is a weekday"):
        Arrangement(year=2027, holidays=frozenset(), workdays=days("2027-02-19"), source="x")
    with pytest.raises(ValueError, match="two arrangements for 2027"):
        WorkingDayCalendar([INVENTED_2027, INVENTED_2027])


def test_a_provisional_clock_is_looked_at_daily_and_rescheduled_once_the_year_is_announced() -> None:
    calendar = WorkingDayCalendar()
    # 10 working days from Thursday 28 January 2027, across the Spring Festival.
    clock = Clock.start("text_disclosure", date(2027, 1, 28), TEN_WORKING_DAYS, 5, calendar=calendar)
    assert clock.provisional
    by_rule_due = clock.due_on
    assert by_rule_due == date(2027, 2, 17)  # by rule 5–10 February are off: 29 Jan, 1–4, 11, 12, 15–17
    assert ClockView.of(clock, date(2027, 1, 28)).provisional
    assert clock.next_check_on() == date(2027, 1, 29), "a provisional clock is looked at the next day"
    assert next_check_at([clock]) == start_of_china_day(date(2027, 1, 29))

    # Nothing announced yet: counted again, the same provisional date, nothing said.
    same, ticks = check_all([clock], date(2027, 1, 29), calendar)
    assert ticks == []
    assert (same[0].due_on, same[0].provisional, same[0].retry_on) == (by_rule_due, True, date(2027, 1, 30))

    calendar.announce([INVENTED_2027])
    now_known, ticks = check_all(same, date(2027, 1, 30), calendar)
    assert [(t.happening, t.previous_due_on, t.due_on, t.provisional) for t in ticks] == [
        ("rescheduled", date(2027, 2, 17), date(2027, 2, 18), False)  # 11 February is off too
    ]
    clock = now_known[0]
    assert (clock.provisional, clock.retry_on) == (False, None)
    assert clock.next_check_on() == date(2027, 2, 13), "back to its warning day, no daily look"
    assert check_all(now_known, date(2027, 1, 31), calendar) == (now_known, [])


def test_a_clock_stored_blank_for_2027_gets_a_provisional_date_on_its_next_check() -> None:
    calendar = WorkingDayCalendar()
    # As stored before issue 13: no due date, a problem, retried daily.
    blank = Clock(
        name="text_disclosure",
        starts_on=date(2026, 12, 20),
        period=Period(amount=20, unit="working_days"),
        warn_days=5,
        problem="cannot count Chinese working days on 2027-01-01: the holiday calendar does not know 2027",
        retry_on=date(2026, 12, 21),
    )
    counted, ticks = check_all([blank], date(2026, 12, 21), calendar)
    assert [(t.happening, t.previous_due_on, t.provisional) for t in ticks] == [("rescheduled", None, True)]
    assert counted[0].due_on == date(2027, 1, 18)  # 21–31 Dec (9), 1 Jan off, 4–8 (14), 11–15, 18
    assert (counted[0].problem, counted[0].provisional) == (None, True)


def test_a_later_announced_date_takes_back_a_lateness_the_new_date_does_not_warrant() -> None:
    calendar = WorkingDayCalendar()
    start = date(2027, 1, 25)
    clock = Clock.start("text_disclosure", start, TEN_WORKING_DAYS, 2, calendar=calendar)
    assert clock.due_on == date(2027, 2, 12)  # by rule: 26–29 Jan, 1–4, 11, 12 February
    # The arrangement is late: on 15 February the clock is overdue by rule.
    late, ticks = check_all([clock], date(2027, 2, 15), calendar)
    assert [t.happening for t in ticks] == ["overdue"]
    assert late[0].state == "overdue"
    # An announced festival until 16 February moves the date past today (counted again the next
    # day): no longer overdue, due soon still holds for the new date.
    longer = Arrangement(
        year=2027, holidays=days("2027-02-05", "2027-02-16"), workdays=frozenset(), source="test fixture"
    )
    calendar.announce([longer])
    moved, ticks = check_all(late, date(2027, 2, 16), calendar)
    assert [(t.happening, t.due_on) for t in ticks] == [("rescheduled", date(2027, 2, 18))]
    assert moved[0].state == "due_soon"
    assert moved[0].days_overdue(date(2027, 2, 16)) == 0
    _, ticks = check_all(moved, date(2027, 2, 19), calendar)
    assert [(t.happening, t.days_late, t.provisional) for t in ticks] == [("overdue", 1, False)]
