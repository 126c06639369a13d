"""Statutory clocks: deadlines kept inside the document of the aggregate they belong to, counted in
calendar days, Chinese working days, months or years. Pure: the scheduler that fires them is the
runtime's (`regstd.runtime.scheduler`).

A `Clock` is pure data: when it started, its period, its due date (a calendar date in China
Standard Time), how early it warns, and its state (`running` → `due_soon` → `overdue`, or `met`).
`Clock.check(today)` says what happened since the last check; `next_check_at` tells the scheduler
when the aggregate must be looked at again. The aggregate stores that moment in a field
(`clocks_next_at`, see `scheduling_fields`).
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from regstd.kernel.calendar import CalendarUnknown, add_months, add_working_days
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
Happening = Literal["due_soon", "overdue", "met"]


class Period(BaseModel):
    """How long a clock runs: an amount of calendar days, working days, months or years."""

    model_config = ConfigDict(frozen=True)

    amount: int = Field(ge=0)
    unit: Unit

    def after(self, start: date) -> date:
        """The due date: `amount` units after `start`. Raises CalendarUnknown for unknown years."""
        match self.unit:
            case "calendar_days":
                return start + timedelta(days=self.amount)
            case "working_days":
                return add_working_days(start, self.amount)
            case "months":
                return add_months(start, self.amount)
            case "years":
                return add_months(start, 12 * self.amount)

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


class Clock(BaseModel):
    """One statutory deadline of one aggregate, stored in the aggregate's document."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, description="Unique within its aggregate, e.g. `filing:50`.")
    starts_on: date
    period: Period
    warn_days: int = Field(ge=0)
    due_on: date | None = Field(default=None, description="None while it cannot be computed.")
    problem: str | None = Field(default=None, description="Why the due date cannot be computed.")
    retry_on: date | None = None
    state: ClockState = "running"
    met_on: date | None = None

    @classmethod
    def start(cls, name: str, starts_on: date, period: Period, warn_days: int) -> "Clock":
        """A running clock; when its due date cannot be computed it says why and retries daily."""
        return cls(name=name, starts_on=starts_on, period=period, warn_days=warn_days)._computed(starts_on)

    def _computed(self, today: date) -> "Clock":
        try:
            due = self.period.after(self.starts_on)
        except CalendarUnknown as error:
            log.error("a deadline cannot be computed", extra={"clock": self.name, "error": str(error)})
            return self.model_copy(update={"problem": str(error), "retry_on": today + timedelta(days=1)})
        return self.model_copy(update={"due_on": due, "problem": None, "retry_on": None})

    @property
    def is_open(self) -> bool:
        """Whether the clock still runs (not met and not stopped)."""
        return self.state in ("running", "due_soon", "overdue")

    def check(self, today: date) -> tuple["Clock", Tick | None]:
        """Advance the clock to `today`: at most one happening; overdue wins over due soon."""
        clock = self
        if clock.due_on is None:
            if clock.retry_on is None or today < clock.retry_on or not clock.is_open:
                return clock, None
            clock = clock._computed(today)
            if clock.due_on is None:
                return clock, None
        due = clock.due_on
        assert due is not None
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
        """The CST date from which a check can change this clock; None when nothing will."""
        if not self.is_open:
            return None
        if self.due_on is None:
            return self.retry_on
        if self.state == "running":
            return self.due_on - timedelta(days=self.warn_days)
        if self.state == "due_soon":
            return self.due_on + timedelta(days=1)
        return None

    def days_overdue(self, today: date) -> int:
        """How many days an open clock is past its due date (0 when not)."""
        if not self.is_open or self.due_on is None:
            return 0
        return max(0, (today - self.due_on).days)

    def _tick(self, happening: Happening, on: date) -> Tick:
        assert self.due_on is not None
        return Tick(
            clock=self.name, happening=happening, due_on=self.due_on, on=on, days_late=(on - self.due_on).days
        )


def check_all(clocks: Iterable[Clock], today: date) -> tuple[list[Clock], list[Tick]]:
    """Check every clock; the clocks as they are now and what happened."""
    checked, ticks = [], []
    for clock in clocks:
        new, tick = clock.check(today)
        checked.append(new)
        if tick is not None:
            ticks.append(tick)
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
            problem=clock.problem,
            state=clock.state,
            met_on=clock.met_on,
            days_overdue=clock.days_overdue(today),
        )
