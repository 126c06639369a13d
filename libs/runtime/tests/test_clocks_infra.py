"""The clock scheduler on the real FerretDB: two instances fire every clock once; a scheduler
started after the due time (a restart) fires it once too. The clock is the test's."""

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from regstd.runtime.bootstrap import Runtime
from regstd.runtime.clocks import NEXT_AT, Clock, ClockScheduler, Period, check_all, china_date, next_check_at
from regstd.runtime.events import new_event
from regstd.runtime.store import OUTBOX, Change, Loaded

from .conftest import ThingFactory


async def test_two_schedulers_and_a_late_restart_fire_each_clock_once(
    runtimes: Callable[..., Runtime], new_thing_event: ThingFactory
) -> None:
    _, thing = new_thing_event()
    store = runtimes().aggregate_store("things")
    now = [datetime(2026, 1, 1, 2, tzinfo=UTC)]

    def decide(loaded: Loaded, at: datetime) -> Change | None:
        clocks = [Clock.model_validate(c) for c in loaded.state["clocks"]]
        checked, ticks = check_all(clocks, china_date(at))
        if not ticks:
            return None
        state = dict(loaded.state)
        state["clocks"] = [c.model_dump(mode="json") for c in checked]
        state[NEXT_AT] = next_check_at(checked)
        state["fired"] = [*state.get("fired", []), *[f"{t.clock}:{t.happening}" for t in ticks]]
        return state, [new_event(thing(thing_id=loaded.id, n=len(state["fired"])))]

    for i in range(20):
        clock = Clock.start(f"c{i}", date(2026, 1, 1), Period(amount=10, unit="calendar_days"), 2)
        await store.save(
            f"t{i}",
            {"clocks": [clock.model_dump(mode="json")], NEXT_AT: next_check_at([clock])},
            loaded=None,
        )
    first = ClockScheduler(store, decide, clock=lambda: now[0], batch_size=7)
    second = ClockScheduler(store, decide, clock=lambda: now[0], batch_size=7)
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
    restarted = ClockScheduler(store, decide, clock=lambda: now[0], batch_size=7)
    other = ClockScheduler(store, decide, clock=lambda: now[0], batch_size=7)
    for _ in range(4):
        await asyncio.gather(restarted.tick(), other.tick())
    docs = [d async for d in store.collection.find({})]
    assert all(
        d["fired"] == [f"{d['clocks'][0]['name']}:due_soon", f"{d['clocks'][0]['name']}:overdue"]
        for d in docs
    )
    assert all(len(d[OUTBOX]) == 2 and d[NEXT_AT] is None for d in docs)
    assert await restarted.tick() == 0
