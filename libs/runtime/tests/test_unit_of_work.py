"""The unit of work on the in-memory aggregate store: one way to load, decide and save, with one
retry policy and one conflict signal."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from regstd.contracts import EventModel, Topic
from regstd.kernel.errors import Conflict, Invalid, NotFound
from regstd.runtime.events import PendingEvent
from regstd.runtime.store import Loaded
from regstd.runtime.testing import MemoryAggregateStore
from regstd.runtime.unit_of_work import Codec, RequestKey, UnitOfWork, answering

TOPIC = Topic("regstd.test.counters.v1", owner="test", partitions=1)
MOMENT = datetime(2026, 12, 2, 8, 30, 15, 123456, tzinfo=UTC)


class Counted(EventModel):
    """A counter moved."""

    event_type: ClassVar[str] = "cn.regstd.test.counter.counted.v1"
    topic: ClassVar[Topic] = TOPIC
    subject_field: ClassVar[str] = "counter_id"

    counter_id: str
    total: int


@dataclass(frozen=True)
class Counter:
    """A tiny aggregate: a total that may not go below zero."""

    id: str
    total: int = 0

    def add(self, n: int) -> tuple["Counter", list[EventModel]]:
        if self.total + n < 0:
            raise Invalid(f"counter {self.id} cannot go below zero")
        if n == 0:
            return self, []
        moved = replace(self, total=self.total + n)
        return moved, [Counted(counter_id=self.id, total=moved.total)]


COUNTERS: Codec[Counter] = Codec(
    to_state=lambda c: {"total": c.total}, from_state=lambda i, s: Counter(i, int(s["total"]))
)


class RacingStore(MemoryAggregateStore):
    """Another writer saves the aggregate just before each of our first `races` saves."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races
        self.decisions = 0

    async def save(
        self,
        aggregate_id: str,
        state: Mapping[str, Any],
        *,
        loaded: Loaded | None,
        events: Sequence[PendingEvent] = (),
        consumed: str | None = None,
    ) -> int:
        if self.races and loaded is not None:
            self.races -= 1
            current = await self.load(aggregate_id)
            assert current is not None
            await super().save(aggregate_id, {"total": current.state["total"] + 100}, loaded=current)
        return await super().save(aggregate_id, state, loaded=loaded, events=events, consumed=consumed)


async def counters(store: MemoryAggregateStore, *, attempts: int = 5) -> UnitOfWork[Counter]:
    work = UnitOfWork(store, COUNTERS, kind="counter", clock=lambda: MOMENT, attempts=attempts)
    created = await work.create("c1", lambda now: (Counter("c1"), []))
    assert created == Counter("c1")
    return work


async def test_a_change_stores_the_new_state_with_its_events_in_one_save() -> None:
    store = MemoryAggregateStore()
    work = await counters(store)
    outcome = await work.change("c1", lambda c, now: c.add(3))
    assert (outcome.aggregate, outcome.stored) == (Counter("c1", 3), True)
    loaded = await store.load("c1")
    assert loaded is not None
    assert (loaded.state, loaded.version) == ({"total": 3}, 2)
    assert [(e.type, e.data["total"], e.time) for e in store.outbox] == [
        (Counted.event_type, 3, MOMENT.replace(microsecond=123000))
    ], "the event is stamped with the decision's moment, to the millisecond the store keeps"


async def test_a_decision_that_changes_nothing_writes_nothing() -> None:
    store = MemoryAggregateStore()
    work = await counters(store)
    outcome = await work.change("c1", lambda c, now: c.add(0))
    assert outcome.stored is False
    loaded = await store.load("c1")
    assert loaded is not None
    assert loaded.version == 1


async def test_a_refused_decision_writes_nothing_and_the_refusal_reaches_the_caller() -> None:
    store = MemoryAggregateStore()
    work = await counters(store)
    with pytest.raises(Invalid, match="below zero"):
        await work.change("c1", lambda c, now: c.add(-1))
    loaded = await store.load("c1")
    assert loaded is not None
    assert (loaded.version, store.outbox) == (1, [])


async def test_a_missing_aggregate_is_not_found_or_none() -> None:
    work = await counters(MemoryAggregateStore())
    with pytest.raises(NotFound, match="no counter c2"):
        await work.change("c2", lambda c, now: c.add(1))
    with pytest.raises(NotFound, match="no counter c2"):
        await work.get("c2")
    assert await work.change_if_present("c2", lambda c, now: c.add(1)) is None
    assert await work.find("c2") is None


async def test_a_concurrent_change_makes_it_load_and_decide_again() -> None:
    store = RacingStore(races=2)
    work = await counters(store)
    seen: list[int] = []

    def add_one(counter: Counter, now: datetime) -> tuple[Counter, list[EventModel]]:
        seen.append(counter.total)
        return counter.add(1)

    outcome = await work.change("c1", add_one)
    assert seen == [0, 100, 200], "each attempt decides on what the other writer stored"
    assert outcome.aggregate.total == 201
    loaded = await store.load("c1")
    assert loaded is not None
    assert loaded.state == {"total": 201}
    assert [e.data["total"] for e in store.outbox] == [201], "only the decision that was stored speaks"


async def test_an_aggregate_that_keeps_changing_is_refused_as_a_conflict_after_the_attempts() -> None:
    store = RacingStore(races=3)
    work = await counters(store, attempts=3)
    with pytest.raises(Conflict, match=r"counter c1 kept changing .*3 attempts.*try again"):
        await work.change("c1", lambda c, now: c.add(1))
    assert store.outbox == [], "nothing of ours was stored"


async def test_creating_an_existing_aggregate_writes_nothing() -> None:
    store = MemoryAggregateStore()
    work = await counters(store)
    assert await work.create("c1", lambda now: Counter("c1", 7).add(1)) is None
    loaded = await store.load("c1")
    assert loaded is not None
    assert (loaded.state, store.outbox) == ({"total": 0}, [])


async def test_a_consumed_event_takes_effect_once_even_when_redelivered() -> None:
    store = MemoryAggregateStore()
    work = UnitOfWork(store, COUNTERS, kind="counter", clock=lambda: MOMENT)

    def count(counter: Counter | None, now: datetime) -> tuple[Counter, list[EventModel]]:
        return (counter or Counter("c9")).add(5)

    assert await work.apply_once("c9", "event-1", count) is True
    assert await work.apply_once("c9", "event-1", count) is False, "a redelivery has no second effect"
    assert await work.apply_once("c9", "event-2", lambda c, now: None) is False, "no effect decided"
    loaded = await store.load("c9")
    assert loaded is not None
    assert (loaded.state, loaded.processed) == ({"total": 5}, frozenset({"event-1"}))
    assert len(store.outbox) == 1


async def test_a_consumption_racing_another_writer_is_retried_and_applied_once() -> None:
    store = RacingStore(races=1)
    work = await counters(store)
    assert await work.apply_once("c1", "event-1", lambda c, now: (c or Counter("c1")).add(1)) is True
    loaded = await store.load("c1")
    assert loaded is not None
    assert (loaded.state, loaded.processed) == ({"total": 101}, {"event-1"})


# ---------------------------------------------------------------------------------------------
# Within a request sent with an Idempotency-Key (decision 28)


async def test_a_keyed_change_stores_the_requests_marker_in_the_same_save() -> None:
    store = MemoryAggregateStore()
    work = await counters(store)
    with answering(RequestKey("idempotency:k1:n1")) as key:
        await work.change("c1", lambda c, now: c.add(3))
    loaded = await store.load("c1")
    assert loaded is not None
    assert (loaded.version, loaded.has_processed("idempotency:k1:n1")) == (2, True)
    assert key.changed == {"counter/c1"}


async def test_a_retry_of_a_keyed_change_after_a_crash_answers_with_the_aggregate_and_decides_nothing() -> (
    None
):
    store = MemoryAggregateStore()
    work = await counters(store)
    with answering(RequestKey("idempotency:k1:n1")):
        await work.change("c1", lambda c, now: c.add(3))
    decided: list[int] = []

    def add_three(counter: Counter, now: datetime) -> tuple[Counter, list[EventModel]]:
        decided.append(counter.total)
        return counter.add(3)

    with answering(RequestKey("idempotency:k1:n1")):  # the same request, executed again
        outcome = await work.change("c1", add_three)
    assert (outcome.aggregate, outcome.stored, outcome.events) == (Counter("c1", 3), False, ())
    assert decided == [], "the change is there already: nothing is decided again"
    assert len(store.outbox) == 1
    with answering(RequestKey("idempotency:k2:n2")):  # another request decides as ever
        assert (await work.change("c1", add_three)).aggregate == Counter("c1", 6)


async def test_one_keyed_request_changing_an_aggregate_twice_decides_both_times() -> None:
    store = MemoryAggregateStore()
    work = await counters(store)
    with answering(RequestKey("idempotency:k1:n1")):
        await work.change("c1", lambda c, now: c.add(1))
        assert (await work.change("c1", lambda c, now: c.add(1))).aggregate == Counter("c1", 2)


async def test_a_retry_of_a_keyed_creation_gets_the_aggregate_it_made_and_another_request_gets_none() -> None:
    store = MemoryAggregateStore()
    work = UnitOfWork(store, COUNTERS, kind="counter", clock=lambda: MOMENT)
    with answering(RequestKey("idempotency:k1:n1")):
        assert work.request_seed() == "idempotency:k1:n1"
        assert await work.create("c9", lambda now: Counter("c9", 5).add(0)) == Counter("c9", 5)
    with answering(RequestKey("idempotency:k1:n1")):
        assert await work.create("c9", lambda now: (Counter("c9", 7), [])) == Counter("c9", 5)
    with answering(RequestKey("idempotency:k2:n2")):
        assert await work.create("c9", lambda now: (Counter("c9", 7), [])) is None
    assert await work.create("c9", lambda now: (Counter("c9", 7), [])) is None
    assert work.request_seed() is None


async def test_a_keyed_change_that_kept_changing_is_marked_for_retry() -> None:
    work = await counters(RacingStore(races=3), attempts=2)
    with answering(RequestKey("idempotency:k1:n1")) as key, pytest.raises(Conflict):
        await work.change("c1", lambda c, now: c.add(1))
    assert key.retryable, "a 'try again' answer must not be kept for the key"
