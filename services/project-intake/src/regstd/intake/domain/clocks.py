"""The clocks of a project: when each deadline falls, and what the clock scheduler finds.

Clocks (`regstd.kernel.clocks`, stored in the project; periods are configuration, `ClockRules`):

| clock | starts on | default period | met by |
|---|---|---|---|
| `ballot:<stage>` | the ballot's opening | 30 calendar days | the ballot's decision |
| `public_comment` | the period's opening | 30 calendar days (or the date chosen, at most 90) | closing it |
| `cycle_time` | project approval (立项) | 18 months, per area | final approval (批准) |

Each says `due_soon`, `overdue` and `met` once (`ProjectClockChanged`); a ballot's `overdue` also
says `BallotOverdue`. A deadline counted in working days over a year whose holiday arrangement is not
known yet is provisional; once it is known the deadline is counted again (`ProjectClockRescheduled`,
decision 24). A rejected project's clocks stop. A project stored before projects had clocks
gets them from its history on the scheduler's first look (`clocks_from_history`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, get_args

from regstd.contracts.intake import ProjectClock, ProjectClockChanged, ProjectClockRescheduled, Stage
from regstd.kernel.calendar import CalendarUnknown, WorkingDayCalendar
from regstd.kernel.clocks import Clock, Period, Tick, kind_of
from regstd.kernel.errors import Conflict
from regstd.kernel.time import china_date

if TYPE_CHECKING:  # the project holds its clocks; these rules only read it
    from regstd.intake.domain.project import Project


@dataclass(frozen=True)
class ClockRules:
    """The configurable periods and warnings of a project's clocks (defaults: the reference data's),
    and the working-day calendar they count with (the runtime's, with the operator's arrangements).

    `public_comment` is the shortest comment period, `public_comment_max` the longest (decision 25):
    a closing date falls between the two, counted from the period's opening."""

    ballot: Period = field(default_factory=lambda: Period(amount=30, unit="calendar_days"))
    public_comment: Period = field(default_factory=lambda: Period(amount=30, unit="calendar_days"))
    public_comment_max: Period = field(default_factory=lambda: Period(amount=90, unit="calendar_days"))
    cycle_time_months: int = 18
    cycle_time_months_by_area: Mapping[str, int] = field(default_factory=dict)
    warning_days: Mapping[str, int] = field(
        default_factory=lambda: {"ballot": 5, "public_comment": 5, "cycle_time": 60}
    )
    calendar: WorkingDayCalendar = field(default_factory=WorkingDayCalendar)

    def cycle_time(self, area: str) -> Period:
        """The cycle-time target of an area's projects, from project approval."""
        return Period(amount=self.cycle_time_months_by_area.get(area, self.cycle_time_months), unit="months")

    def warn(self, clock: ProjectClock) -> int:
        """Days before the deadline a clock says `due_soon`."""
        return self.warning_days.get(clock, 0)


def due(period: Period, start: date, what: str, calendar: WorkingDayCalendar) -> date:
    """A deadline a command needs now (provisional past the years whose arrangement is known);
    refused (nothing changes) only when no source of the calendar can count it."""
    try:
        return period.after(start, calendar)
    except CalendarUnknown as error:
        raise Conflict(f"cannot count the {what}: {error}") from error


def ballot_clock(stage: Stage) -> str:
    """The name of a ballot's clock."""
    return f"ballot:{stage}"


def clock_names(kind: ProjectClock) -> list[str]:
    """The names the clocks of a kind have in a project: one per ballot, else the kind itself."""
    return [ballot_clock(stage) for stage in get_args(Stage)] if kind == "ballot" else [kind]


def cycle_time_clock(area: str, approved_at: datetime, rules: ClockRules) -> Clock:
    """The cycle-time clock of a project of this area approved (立项) at this moment."""
    return Clock.start(
        "cycle_time",
        china_date(approved_at),
        rules.cycle_time(area),
        rules.warn("cycle_time"),
        calendar=rules.calendar,
    )


def public_comment_clock(opened_on: date, closes_on: date, earliest: date, rules: ClockRules) -> Clock:
    """The clock of a comment period opened on a date: a closing date later than the minimum's is the
    period this project runs, so its clock follows it."""
    period = (
        rules.public_comment
        if closes_on == earliest
        else Period(amount=(closes_on - opened_on).days, unit="calendar_days")
    )
    return Clock.start(
        "public_comment", opened_on, period, rules.warn("public_comment"), calendar=rules.calendar
    )


def clock_changed(
    project_id: str, area: str, tick: Tick, now: datetime
) -> ProjectClockChanged | ProjectClockRescheduled:
    """The event of one clock's happening: due soon, overdue, met, or rescheduled (its deadline
    counted again: it moved, or it is no longer provisional)."""
    _, _, stage = tick.clock.partition(":")
    event = ProjectClockRescheduled if tick.happening == "rescheduled" else ProjectClockChanged
    return event.model_validate(
        {
            "project_id": project_id,
            "area": area,
            "clock": kind_of(tick.clock),
            "stage": stage or None,
            "detected_at": now,
            **tick.event_fields(),
        }
    )


def clocks_from_history(project: "Project", rules: ClockRules) -> list[Clock]:
    """The clocks a project would have had, without the happenings already past: what was done is
    met, a ballot already flagged overdue is overdue (no second `BallotOverdue`), a rejected
    project's clocks are stopped. Periods come from the stored dates where they exist."""
    clocks: list[Clock] = []
    for stage, ballot in project.ballots.items():
        opened = china_date(ballot.opened_at)
        days = (china_date(ballot.deadline) - opened).days
        clock = Clock.start(
            ballot_clock(stage),
            opened,
            Period(amount=days, unit="calendar_days"),
            rules.warn("ballot"),
            calendar=rules.calendar,
        )
        if ballot.decided_at is not None:
            clock, _ = clock.meet(china_date(ballot.decided_at))
        elif ballot.overdue_at is not None:
            clock = clock.model_copy(update={"state": "overdue"})
        clocks.append(clock)
    if project.public_comment is not None:
        comment = project.public_comment
        opened = china_date(comment.opened_at)
        period = Period(amount=(comment.closes_on - opened).days, unit="calendar_days")
        clock = Clock.start(
            "public_comment", opened, period, rules.warn("public_comment"), calendar=rules.calendar
        )
        if comment.closed_at is not None:
            clock, _ = clock.meet(china_date(comment.closed_at))
        clocks.append(clock)
    if project.project_approved_at is not None:
        clock = cycle_time_clock(project.area, project.project_approved_at, rules)
        if project.finally_approved_at is not None:
            clock, _ = clock.meet(china_date(project.finally_approved_at))
        clocks.append(clock)
    if project.status == "rejected":
        clocks = [c.stop() for c in clocks]
    return clocks
