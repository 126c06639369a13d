"""The clock scheduler on the real FerretDB: two instances fire every clock once; a scheduler
started after the due time (a restart) fires it once too. The clock is the test's."""

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from regstd.contracts import EventModel
from regstd.kernel.calendar import WorkingDayCalendar
from regstd.kernel.clocks import NEXT_AT, OVERDUE, Clock, Period, check_all, next_check_at, scheduling_fields
from regstd.kernel.time import china_date
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.scheduler import ClockScheduler
from regstd.runtime.store import OUTBOX
from regstd.runtime.unit_of_work import PLAIN_STATE, UnitOfWork

from .conftest import ThingFactory

Thing = dict[str, Any]
CALENDAR = WorkingDayCalendar()


async def test_two_schedulers_and_a_late_restart_fire_each_clock_once(
    runtimes: Callable[..., Runtime], new_thing_event: ThingFactory
) -> None:
    _, thing = new_thing_event()
    store = runtimes().aggregate_store("things")
    now = [datetime(2026, 1, 1, 2, tzinfo=UTC)]
    things = UnitOfWork(store, PLAIN_STATE, kind="thing", clock=lambda: now[0])

    def decide(state: Thing, at: datetime) -> tuple[Thing, list[EventModel]]:
        clocks = [Clock.model_validate(c) for c in state["clocks"]]
        checked, ticks = check_all(clocks, china_date(at), CALENDAR)
        if not ticks:
            return state, []
        state = dict(state)
        state["clocks"] = [c.model_dump(mode="json") for c in checked]
        state[NEXT_AT] = next_check_at(checked)
        state["fired"] = [*state.get("fired", []), *[f"{t.clock}:{t.happening}" for t in ticks]]
        return state, [thing(thing_id=state["thing_id"], n=len(state["fired"]))]

    for i in range(20):
        clock = Clock.start(
            f"c{i}", date(2026, 1, 1), Period(amount=10, unit="calendar_days"), 2, calendar=CALENDAR
        )
        await store.save(
            f"t{i}",
            {"thing_id": f"t{i}", "clocks": [clock.model_dump(mode="json")], NEXT_AT: next_check_at([clock])},
            loaded=None,
        )
    first = ClockScheduler(store, things, decide, batch_size=7)
    second = ClockScheduler(store, things, decide, batch_size=7)
    await first.ensure_indexes()

    assert await first.tick() + await second.tick() == 0, "nothing is due on the first day"
    now[0] = datetime(2026, 1, 9, 16, 30, tzinfo=UTC)  # 10 January CST: every clock is due soon
    for _ in range(4):
        await asyncio.gather(first.tick(), second.tick())
    docs = [d async for d in store.collection.find({})]
    assert sorted(d["fired"] for d in docs) == sorted([f"c{i}:due_soon"] for i in range(20))
    assert all(len(d[OUTBOX]) == 1 for d in docs), "one event each, not one per scheduler"

    # Both instances stop; a new one starts long after every due date: each clock goes overdue once.
    now[0] += timedelta(days=40)
    restarted = ClockScheduler(store, things, decide, batch_size=7)
    other = ClockScheduler(store, things, decide, batch_size=7)
    for _ in range(4):
        await asyncio.gather(restarted.tick(), other.tick())
    docs = [d async for d in store.collection.find({})]
    assert all(
        d["fired"] == [f"{d['clocks'][0]['name']}:due_soon", f"{d['clocks'][0]['name']}:overdue"]
        for d in docs
    )
    assert all(len(d[OUTBOX]) == 2 and d[NEXT_AT] is None for d in docs)
    assert await restarted.tick() == 0


async def test_a_scheduler_adopts_documents_stored_without_clocks_and_counts_overdue_ones_by_kind(
    runtimes: Callable[..., Runtime],
) -> None:
    runtime = runtimes()
    store = runtime.aggregate_store("adopted")
    now = datetime(2026, 3, 1, 2, tzinfo=UTC)
    adopted = UnitOfWork(store, PLAIN_STATE, kind="thing", clock=lambda: now)
    started = Clock.start(
        "filing:50", date(2026, 1, 1), Period(amount=10, unit="calendar_days"), 2, calendar=CALENDAR
    )

    def decide(state: Thing, at: datetime) -> tuple[Thing, list[EventModel]]:
        raw = state.get("clocks")
        clocks = [Clock.model_validate(c) for c in raw] if raw is not None else [started]  # from history
        checked, ticks = check_all(clocks, china_date(at), CALENDAR)
        state = dict(state)
        state["clocks"] = [c.model_dump(mode="json") for c in checked]
        state.update(scheduling_fields(checked))
        state["ticks"] = len(ticks) + state.get("ticks", 0)
        return state, []

    await store.save("old", {"made": "before clocks"}, loaded=None)
    await store.save("new", {"clocks": [], **scheduling_fields([])}, loaded=None)
    plain = ClockScheduler(store, adopted, decide)
    assert await plain.tick() == 0, "without adoption a document without the field is never seen"

    adopting = ClockScheduler(store, adopted, decide, adopt_unscheduled=True)
    assert await adopting.tick() == 1
    old = await store.load("old")
    assert old is not None
    assert (old.state["ticks"], old.state[OVERDUE], old.state[NEXT_AT]) == (1, ["filing:50"], None)
    assert await adopting.tick() == 0, "adopted once; its field now says nothing is due"
    assert await adopting.adopt_unscheduled(now) == 0
    assert await adopting.overdue_counts() == {"filing": 1}

    runtime.watch_overdue(adopting.overdue_counts, kinds=("filing", "review"))
    await runtime.refresh_metrics()
    exposition = runtime.metrics.exposition().decode()
    assert 'regstd_overdue{kind="filing"} 1.0' in exposition
    assert 'regstd_overdue{kind="review"} 0.0' in exposition
