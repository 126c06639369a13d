"""Statutory clocks: deadlines kept inside the document of the aggregate they belong to, counted in
calendar days, Chinese working days, months or years, and fired exactly once in effect.

A `Clock` is pure data: when it started, its period, its due date (a calendar date in China
Standard Time), how early it warns, and its state (`running` → `due_soon` → `overdue`, or `met`).
`Clock.check(today)` says what happened since the last check; `next_check_at` tells the scheduler
when the aggregate must be looked at again. The aggregate stores that moment in a field
(`clocks_next_at`), and `ClockScheduler` loads each aggregate whose moment has come, lets the
service decide, and saves the change with its events through the versioned save: two schedulers
(or one restarted after the due time) can race, but only one save of a change wins, so each
happening reaches the outbox once.

Working days follow the official Chinese public-holiday calendar, including the weekend days that
become working days (调休), from the `chinesecalendar` library. It knows only the years the State
Council has announced; a date outside them raises `CalendarUnknown` instead of guessing.
"""

import calendar
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Literal

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from regstd.runtime.store import AggregateStore, Change, Document, Loaded, VersionConflict

log = logging.getLogger(__name__)

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
NEXT_AT = "clocks_next_at"
"""The field of an aggregate document holding when its clocks must next be checked (or null)."""
OVERDUE = "clocks_overdue"
"""The field of an aggregate document listing its overdue clocks by name (for reports and metrics)."""

Unit = Literal["calendar_days", "working_days", "months", "years"]
ClockState = Literal["running", "due_soon", "overdue", "met", "stopped"]
Happening = Literal["due_soon", "overdue", "met"]


class CalendarUnknown(ValueError):
    """A working-day count reached a year the holiday calendar does not know yet."""


def china_date(moment: datetime) -> date:
    """The calendar date in China Standard Time (UTC+8) at a moment."""
    if moment.tzinfo is None:
        raise ValueError("a moment must be timezone-aware")
    return moment.astimezone(CHINA_STANDARD_TIME).date()


def start_of_china_day(day: date) -> datetime:
    """Midnight at the start of a China Standard Time calendar date, as a UTC moment."""
    return datetime.combine(day, time(0), CHINA_STANDARD_TIME).astimezone(UTC)


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


Now = Callable[[], datetime]
"""Where a service reads the time: `utc_now`, or a controllable clock in tests."""


def utc_now() -> datetime:
    """The current moment, timezone-aware UTC."""
    return datetime.now(UTC)


Decide = Callable[[Loaded, datetime], Change | None]
"""A service's decision for an aggregate whose clocks are due: its new state (with `clocks_next_at`
moved on) and the events, or None when nothing changed."""


class ClockScheduler:
    """Fires the due clocks of one kind of aggregate; several instances may run at once.

    Each round finds the aggregates whose `clocks_next_at` has come, loads each, lets `decide`
    advance its clocks and saves state and events in one versioned write. A concurrent change (the
    other instance firing the same clock, a command) makes it load and decide again, and the second
    decision finds the clock already advanced. Nothing is kept in memory: a restart, however late,
    finds the same field in the same documents.

    With `adopt_unscheduled`, the first round of each instance also schedules at once every
    document stored without the field (aggregates written before their kind had clocks), so that
    `decide` can start their clocks from their history. `decide` must then store the field for them
    (`scheduling_fields`), or they would be looked at again every round.
    """

    def __init__(
        self,
        store: AggregateStore,
        decide: Decide,
        *,
        clock: Now = utc_now,
        batch_size: int = 100,
        attempts: int = 5,
        adopt_unscheduled: bool = False,
    ) -> None:
        self.store = store
        self.collection: AsyncCollection[Document] = store.collection
        self.decide = decide
        self.clock = clock
        self.batch_size = batch_size
        self.attempts = attempts
        self._adopt = adopt_unscheduled

    async def ensure_indexes(self) -> None:
        """The index the rounds scan."""
        await self.collection.create_index([(NEXT_AT, ASCENDING)], name="clocks_next_at")

    async def tick(self) -> int:
        """One round: how many aggregates changed."""
        now = self.clock()
        if self._adopt:
            await self.adopt_unscheduled(now)
            self._adopt = False
        cursor = (
            self.collection.find({NEXT_AT: {"$lte": now}}, projection={"_id": True})
            .sort(NEXT_AT, ASCENDING)
            .limit(self.batch_size)
        )
        changed = 0
        for aggregate_id in [doc["_id"] async for doc in cursor]:
            changed += await self._fire(aggregate_id, now)
        return changed

    async def adopt_unscheduled(self, now: datetime) -> int:
        """Schedule at `now` every document without `clocks_next_at`; how many there were.

        Set outside the versioned save on purpose: it only says "look at this one", and the save that
        follows writes the field from the aggregate's own clocks.
        """
        result = await self.collection.update_many({NEXT_AT: {"$exists": False}}, {"$set": {NEXT_AT: now}})
        if result.modified_count:
            log.info("scheduled aggregates stored without clocks", extra={"count": result.modified_count})
        return result.modified_count

    async def overdue_counts(self) -> Counter[str]:
        """Overdue clocks of every aggregate, counted by kind (`kind_of` their names)."""
        cursor = self.collection.find({OVERDUE: {"$exists": True, "$ne": []}}, projection={OVERDUE: True})
        return Counter([kind_of(name) async for doc in cursor for name in doc.get(OVERDUE) or ()])

    async def _fire(self, aggregate_id: str, now: datetime) -> int:
        for _ in range(self.attempts):
            loaded = await self.store.load(aggregate_id)
            if loaded is None:
                return 0
            change = self.decide(loaded, now)
            if change is None:
                return 0
            state, events = change
            try:
                await self.store.save(aggregate_id, state, loaded=loaded, events=events)
            except VersionConflict:
                continue
            return 1
        log.warning("clocks kept changing while being fired; next round", extra={"aggregate": aggregate_id})
        return 0
