"""Statutory clocks: deadlines kept inside the document of the aggregate they belong to, counted in
calendar days, Chinese working days, months or years. Pure: the scheduler that fires them is the
runtime's (`regstd.runtime.scheduler`).

A `Clock` is pure data: when it started, its period, its due date (a calendar date in China
Standard Time), how early it warns, and its state (`running` → `due_soon` → `overdue`, or `met`).
`Clock.check(today)` says what happened since the last check; `next_check_at` tells the scheduler
when the aggregate must be looked at again. The aggregate stores that moment in a field
(`clocks_next_at`, see `scheduling_fields`).

Working days are counted with the `WorkingDayCalendar` the caller passes. A due date counted over a
year known by rule only is *provisional*: the clock counts it again every day (`recount`) until the
year's arrangement is known, and says `rescheduled` when the date moves or stops being provisional.
A due date that cannot be counted at all (`problem`) is tried again daily the same way.
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from regstd.kernel.calendar import CalendarUnknown, Deadline, WorkingDayCalendar, add_months
from regstd.kernel.time import start_of_china_day

log = logging.getLogger(__name__)

NEXT_AT = "clocks_next_at"
"""The field of an aggregate document holding when its clocks must next be checked (or null)."""
OVERDUE = "clocks_overdue"
"""The field of an aggregate document listing its overdue clocks by name (for reports and metrics)."""

Unit = Literal["calendar_days", "working_days", "months", "years"]
DayRule = Literal["calendar_days", "working_days"]
"""How a period counted in days counts: every calendar day, or Chinese working days."""
ClockState = Literal["running", "due_soon", "overdue", "met", "stopped"]
Happening = Literal["due_soon", "overdue", "met", "rescheduled"]


class Period(BaseModel):
    """How long a clock runs: an amount of calendar days, working days, months or years."""

    model_config = ConfigDict(frozen=True)

    amount: int = Field(ge=0)
    unit: Unit

    def count(self, start: date, calendar: WorkingDayCalendar) -> Deadline:
        """The due date `amount` units after `start`, provisional when working days were counted over
        a year known by rule only. Raises CalendarUnknown for a year no source knows."""
        match self.unit:
            case "calendar_days":
                return Deadline(start + timedelta(days=self.amount), False)
            case "working_days":
                return calendar.add_working_days(start, self.amount)
            case "months":
                return Deadline(add_months(start, self.amount), False)
            case "years":
                return Deadline(add_months(start, 12 * self.amount), False)

    def after(self, start: date, calendar: WorkingDayCalendar) -> date:
        """The due date `amount` units after `start` (see `count`)."""
        return self.count(start, calendar).due_on

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.replace('_', ' ')}"


class Tick(BaseModel):
    """What one check of a clock found: it became due soon, overdue, or it was met."""

    model_config = ConfigDict(frozen=True)

    clock: str
    happening: Happening
    due_on: date
    on: date
    days_late: int = Field(description="Days past the due date (0 when on time, negative when early).")
    provisional: bool = Field(default=False, description="The due date was counted by rule only.")
    previous_due_on: date | None = Field(
        default=None, description="For `rescheduled`: the due date before (None when it was unknown)."
    )

    def event_fields(self) -> dict[str, object]:
        """What the services' clock events say of it: a clock-changed event, or for `rescheduled` a
        clock-rescheduled one (the previous and the new due date)."""
        if self.happening == "rescheduled":
            return {
                "previous_due_on": self.previous_due_on,
                "due_on": self.due_on,
                "provisional": self.provisional,
            }
        return self.model_dump(include={"happening", "due_on", "on", "days_late", "provisional"})


class Clock(BaseModel):
    """One statutory deadline of one aggregate, stored in the aggregate's document."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, description="Unique within its aggregate, e.g. `filing:50`.")
    starts_on: date
    period: Period
    warn_days: int = Field(ge=0)
    due_on: date | None = Field(default=None, description="None while it cannot be computed.")
    provisional: bool = Field(
        default=False,
        description="The due date was counted over a year whose holiday arrangement is not known yet, "
        "from the statutory holidays by rule; it is counted again daily until the arrangement is known.",
    )
    problem: str | None = Field(default=None, description="Why the due date cannot be computed.")
    retry_on: date | None = Field(
        default=None, description="When the due date is counted again (while unknown or provisional)."
    )
    state: ClockState = "running"
    met_on: date | None = None

    @classmethod
    def start(
        cls, name: str, starts_on: date, period: Period, warn_days: int, *, calendar: WorkingDayCalendar
    ) -> "Clock":
        """A running clock; when its due date is provisional or cannot be computed (it says why), it
        is counted again daily."""
        clock = cls(name=name, starts_on=starts_on, period=period, warn_days=warn_days)
        return clock._counted(starts_on, calendar)

    def _counted(self, today: date, calendar: WorkingDayCalendar) -> "Clock":
        try:
            due = self.period.count(self.starts_on, calendar)
        except CalendarUnknown as error:
            log.error("a deadline cannot be computed", extra={"clock": self.name, "error": str(error)})
            return self.model_copy(update={"problem": str(error), "retry_on": today + timedelta(days=1)})
        retry = today + timedelta(days=1) if due.provisional else None
        return self.model_copy(
            update={"due_on": due.due_on, "provisional": due.provisional, "problem": None, "retry_on": retry}
        )

    @property
    def is_open(self) -> bool:
        """Whether the clock still runs (not met and not stopped)."""
        return self.state in ("running", "due_soon", "overdue")

    def recount(self, today: date, calendar: WorkingDayCalendar) -> tuple["Clock", Tick | None]:
        """Count an unknown or provisional due date again when its day has come: `rescheduled` when
        the date moved or stopped being provisional. A warning or lateness the new date no longer
        warrants is taken back (`check` says it again for the new date when it comes)."""
        if not self.is_open or self.retry_on is None or today < self.retry_on:
            return self, None
        clock = self._counted(today, calendar)
        due = clock.due_on
        if due is None or (due, clock.provisional) == (self.due_on, self.provisional):
            return clock, None
        if clock.state == "overdue" and today <= due:
            clock = clock.model_copy(update={"state": "due_soon"})
        if clock.state == "due_soon" and today < due - timedelta(days=clock.warn_days):
            clock = clock.model_copy(update={"state": "running"})
        tick = clock._tick("rescheduled", today).model_copy(update={"previous_due_on": self.due_on})
        return clock, tick

    def check(self, today: date) -> tuple["Clock", Tick | None]:
        """Advance the clock to `today`: at most one happening; overdue wins over due soon. (An
        unknown due date is counted by `recount`.)"""
        clock = self
        due = clock.due_on
        if due is None:
            return clock, None
        if clock.state in ("running", "due_soon") and today > due:
            return clock.model_copy(update={"state": "overdue"}), clock._tick("overdue", today)
        if clock.state == "running" and today >= due - timedelta(days=clock.warn_days):
            return clock.model_copy(update={"state": "due_soon"}), clock._tick("due_soon", today)
        return clock, None

    def meet(self, on: date) -> tuple["Clock", Tick | None]:
        """The obligation was fulfilled on `on`; nothing when the clock no longer runs."""
        if not self.is_open:
            return self, None
        met = self.model_copy(update={"state": "met", "met_on": on})
        return met, met._tick("met", on) if self.due_on is not None else None

    def stop(self) -> "Clock":
        """The obligation lapsed (its standard was abolished or superseded): no more happenings."""
        return self.model_copy(update={"state": "stopped"}) if self.is_open else self

    def next_check_on(self) -> date | None:
        """The CST date from which a check can change this clock; None when nothing will. A clock
        whose due date is unknown or provisional is looked at daily (`retry_on`)."""
        if not self.is_open:
            return None
        days = [self.retry_on] if self.retry_on is not None else []
        if self.due_on is not None and self.state == "running":
            days.append(self.due_on - timedelta(days=self.warn_days))
        elif self.due_on is not None and self.state == "due_soon":
            days.append(self.due_on + timedelta(days=1))
        return min(days, default=None)

    def days_overdue(self, today: date) -> int:
        """How many days an open clock is past its due date (0 when not)."""
        if not self.is_open or self.due_on is None:
            return 0
        return max(0, (today - self.due_on).days)

    def _tick(self, happening: Happening, on: date) -> Tick:
        assert self.due_on is not None
        return Tick(
            clock=self.name,
            happening=happening,
            due_on=self.due_on,
            on=on,
            days_late=(on - self.due_on).days,
            provisional=self.provisional,
        )


def check_all(
    clocks: Iterable[Clock], today: date, calendar: WorkingDayCalendar
) -> tuple[list[Clock], list[Tick]]:
    """Count unknown and provisional due dates again, then check every clock; the clocks as they are
    now and what happened (a clock's `rescheduled` before its other happening)."""
    checked, ticks = [], []
    for clock in clocks:
        clock, rescheduled = clock.recount(today, calendar)
        clock, tick = clock.check(today)
        checked.append(clock)
        ticks += [t for t in (rescheduled, tick) if t is not None]
    return checked, ticks


def next_check_at(clocks: Iterable[Clock]) -> datetime | None:
    """The earliest moment (start of a CST day) at which any clock can change; the scheduler's field."""
    days = [d for d in (c.next_check_on() for c in clocks) if d is not None]
    return start_of_china_day(min(days)) if days else None


def scheduling_fields(clocks: Sequence[Clock]) -> dict[str, object]:
    """The fields an aggregate document stores beside its clocks: when the scheduler looks next
    (`clocks_next_at`) and the names of its overdue clocks (`clocks_overdue`, queried by reports and
    counted for the `regstd_overdue` gauge)."""
    return {NEXT_AT: next_check_at(clocks), OVERDUE: [c.name for c in clocks if c.state == "overdue"]}


def meet(clocks: Iterable[Clock], name: str, on: date) -> tuple[list[Clock], list[Tick]]:
    """Meet the open clock called `name` on `on`; the clocks as they are now and the `met` tick, if any."""
    met, ticks = [], []
    for clock in clocks:
        if clock.name == name:
            clock, tick = clock.meet(on)
            if tick is not None:
                ticks.append(tick)
        met.append(clock)
    return met, ticks


def kind_of(name: str) -> str:
    """A clock's kind: its name up to the first `:` (`filing:50` is a `filing` clock)."""
    return name.partition(":")[0]


class ClockView(BaseModel):
    """One clock as people read it on a given day: its deadline, state and days overdue."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(
        description="The clock's name, e.g. `filing:50`, `cycle_time`, `ballot:final_approval`."
    )
    starts_on: date
    period: str = Field(description="e.g. `60 calendar days`, `20 working days`, `18 months`.")
    due_on: date | None = Field(description="Deadline (CST); null when it cannot be computed.")
    provisional: bool = Field(
        default=False,
        description="The deadline was counted from the statutory holidays by rule, before the State "
        "Council announced that year's arrangement; it may move by a few days once it is announced.",
    )
    problem: str | None = Field(default=None, description="Why the deadline cannot be computed.")
    state: str = Field(description="running, due_soon, overdue, met or stopped.")
    met_on: date | None = None
    days_overdue: int = Field(description="Days an open clock is past its deadline that day.")

    @classmethod
    def of(cls, clock: Clock, today: date) -> "ClockView":
        """The view of a stored clock on a given date."""
        return cls(
            name=clock.name,
            starts_on=clock.starts_on,
            period=str(clock.period),
            due_on=clock.due_on,
            provisional=clock.provisional,
            problem=clock.problem,
            state=clock.state,
            met_on=clock.met_on,
            days_overdue=clock.days_overdue(today),
        )
