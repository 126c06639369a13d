"""The relay's hand-over and notification paths with an in-memory collection: a save with nothing
waiting leases its aggregate and hands the entries over; any other saved aggregate is claimed by
`_id`; both are published and acknowledged without the fallback scan, and leases keep relays apart."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from regstd.runtime.events import KafkaRecord, PendingEvent
from regstd.runtime.relay import OutboxRelay
from regstd.runtime.store import OUTBOX, OUTBOX_COUNT, RELAY_LEASE, AggregateStore, Document


def _get(doc: Document, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _matches(doc: Document, query: Document) -> bool:
    """The few query forms the relay and the store use."""
    for key, condition in query.items():
        if key == "$or":
            if not any(_matches(doc, branch) for branch in condition):
                return False
            continue
        value = _get(doc, key)
        if isinstance(condition, dict) and any(k.startswith("$") for k in condition):
            if not all(_holds(value, op, operand) for op, operand in condition.items()):
                return False
        elif value != condition:
            return False
    return True


def _holds(value: Any, op: str, operand: Any) -> bool:
    if op == "$in":
        return value in operand
    if value is None:
        return False
    return bool(value > operand) if op == "$gt" else bool(value < operand)


class FakeCollection:
    """An in-memory stand-in for the pymongo collection calls of the store and the relay; it counts
    the relay's fallback scans (`find` of documents with pending events) and its reads by `_id`."""

    def __init__(self, name: str = "things") -> None:
        self.name = name
        self.docs: dict[str, Document] = {}
        self.scans = 0
        self.reads = 0

    async def insert_one(self, doc: Document) -> None:
        self.docs[doc["_id"]] = dict(doc)

    async def find_one(self, query: Document, projection: Document | None = None) -> Document | None:
        self.reads += 1
        doc = self._one(query)
        return None if doc is None else dict(doc)

    async def update_one(self, query: Document, update: Document) -> Any:
        doc = self._one(query)
        if doc is not None:
            _apply(doc, update)
        return type("Result", (), {"matched_count": int(doc is not None)})()

    def find(self, query: Document, projection: Document | None = None) -> "FakeCursor":
        # A query naming its documents by `_id` is a read of those; any other is a scan.
        if "_id" in query:
            self.reads += 1
        else:
            self.scans += 1
        return FakeCursor([d for d in self.docs.values() if _matches(d, query)])

    async def update_many(self, query: Document, update: Document) -> Any:
        matched = [d for d in self.docs.values() if _matches(d, query)]
        for doc in matched:
            _apply(doc, update)
        return type("Result", (), {"modified_count": len(matched)})()

    async def bulk_write(self, ops: list[UpdateOne | UpdateMany], ordered: bool) -> None:
        for op in ops:
            if isinstance(op, UpdateMany):
                await self.update_many(op._filter, op._doc)
            else:
                await self.update_one(op._filter, op._doc)

    def _one(self, query: Document) -> Document | None:
        doc = self.docs.get(query["_id"]) if isinstance(query.get("_id"), str) else None
        if doc is None and not isinstance(query.get("_id"), str):
            doc = next((d for d in self.docs.values() if _matches(d, query)), None)
        return doc if doc is not None and _matches(doc, query) else None


class FakeCursor:
    def __init__(self, docs: list[Document]) -> None:
        self.docs = docs

    def limit(self, n: int) -> "FakeCursor":
        return FakeCursor(self.docs[:n])

    def __aiter__(self) -> AsyncIterator[Document]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Document]:
        for doc in self.docs:
            yield dict(doc)


def _apply(doc: Document, update: Document) -> None:
    for field, value in update.get("$set", {}).items():
        *parents, last = field.split(".")
        target = doc
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    for field in update.get("$unset", {}):
        doc.pop(field, None)
    for field, amount in update.get("$inc", {}).items():
        doc[field] = doc.get(field, 0) + amount
    for field, entries in update.get("$pullAll", {}).items():
        doc[field] = [e for e in doc[field] if e not in entries]
    for field, each in update.get("$push", {}).items():
        doc[field] = doc.get(field, []) + each["$each"]


class Producer:
    """Records what was sent; every send is acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[KafkaRecord] = []
        self.arrived = asyncio.Event()

    async def send(self, record: KafkaRecord) -> Any:
        self.sent.append(record)
        self.arrived.set()
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ack.set_result(None)
        return ack


def _event(subject: str, n: int = 0) -> PendingEvent:
    return PendingEvent(
        id=f"ev-{subject}-{n}",
        source="test",
        type="org.example.thing.happened",
        subject=subject,
        time=datetime(2026, 11, 22, tzinfo=UTC),
        topic="things",
        data={"n": n},
    )


@pytest.fixture
def collection() -> FakeCollection:
    return FakeCollection()


def _relay(collection: FakeCollection, producer: Producer, owner: str, **kwargs: Any) -> OutboxRelay:
    return OutboxRelay([cast(AsyncCollection[Document], collection)], producer.send, owner=owner, **kwargs)


def _store(collection: FakeCollection, relay: OutboxRelay) -> AggregateStore:
    return AggregateStore(cast(AsyncCollection[Document], collection), relay=relay)


@asynccontextmanager
async def _running(
    collection: FakeCollection, producer: Producer
) -> AsyncIterator[tuple[OutboxRelay, AggregateStore]]:
    """Relay "a" running in the background (its fallback scan an hour apart) and a store it serves."""
    relay = _relay(collection, producer, "a", poll_interval_s=3600)
    relay.start()
    try:
        yield relay, _store(collection, relay)
    finally:
        await relay.stop()


async def _until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Wait for the background relay to bring `condition` about (the test's asserts say if it did)."""
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)


def _save_again_while_sending(relay: OutboxRelay, store: AggregateStore, producer: Producer) -> None:
    """While the relay sends its first record, t-1 changes again with a second event."""
    real_send = producer.send

    async def send_and_save(record: KafkaRecord) -> Any:
        if not producer.sent:
            loaded = await store.load("t-1")
            await store.save("t-1", {"n": 2}, loaded=loaded, events=[_event("t-1", 2)])
        return await real_send(record)

    relay._send = send_and_save


async def test_many_notified_aggregates_are_claimed_with_one_read(collection: FakeCollection) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    for i in range(20):
        collection.docs[f"t-{i}"] = {
            "_id": f"t-{i}",
            "_version": 1,
            OUTBOX: [_event(f"t-{i}", 1).to_document()],
            OUTBOX_COUNT: 1,
        }
        relay.notify(collection.name, f"t-{i}")

    claimed = await relay.claim_notified(cast(AsyncCollection[Document], collection))

    assert sorted(c.aggregate_id for c in claimed) == sorted(f"t-{i}" for i in range(20))
    assert (collection.scans, collection.reads) == (0, 1)


async def test_a_save_names_its_aggregate_and_the_relay_publishes_it_without_scanning(
    collection: FakeCollection,
) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    store = _store(collection, relay)
    await store.save("t-1", {"name": "one"}, loaded=None, events=[_event("t-1", 1), _event("t-1", 2)])
    await store.save("t-2", {"name": "two"}, loaded=None)  # no events: nothing to notify

    assert relay.has_notified()
    published = await relay.relay_once(scan=False)

    assert published == 2
    assert [r.key for r in producer.sent] == [b"t-1", b"t-1"]
    assert collection.scans == 0, "the notified aggregate was claimed without the fallback scan"
    stored = collection.docs["t-1"]
    assert stored[OUTBOX] == []
    assert stored[OUTBOX_COUNT] == 0
    assert RELAY_LEASE not in stored
    assert not relay.has_notified()


async def test_a_notified_aggregate_leased_by_another_relay_is_left_to_it(collection: FakeCollection) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    store = _store(collection, relay)
    await store.save("t-1", {}, loaded=None, events=[_event("t-1")])
    other_lease = {"owner": "b", "until": datetime.now(UTC) + timedelta(seconds=30)}
    collection.docs["t-1"][RELAY_LEASE] = other_lease

    assert await relay.relay_once(scan=False) == 0

    assert producer.sent == []
    assert collection.docs["t-1"][RELAY_LEASE] == other_lease
    assert collection.docs["t-1"][OUTBOX_COUNT] == 1, "still waiting for the relay holding the lease"
    assert not relay.has_notified(), "not retried in a loop: the other relay publishes it"


async def test_an_expired_lease_does_not_stop_a_notified_claim(collection: FakeCollection) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    store = _store(collection, relay)
    await store.save("t-1", {}, loaded=None, events=[_event("t-1")])
    collection.docs["t-1"][RELAY_LEASE] = {"owner": "dead", "until": datetime.now(UTC) - timedelta(seconds=1)}

    assert await relay.relay_once(scan=False) == 1
    assert collection.docs["t-1"][OUTBOX_COUNT] == 0


async def test_events_saved_while_a_round_publishes_stay_for_the_next_round(
    collection: FakeCollection,
) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    store = _store(collection, relay)
    await store.save("t-1", {"n": 1}, loaded=None, events=[_event("t-1", 1)])

    _save_again_while_sending(relay, store, producer)
    assert await relay.relay_once(scan=False) == 1
    assert collection.docs["t-1"][OUTBOX_COUNT] == 1, "only the entry read was pulled"
    assert relay.has_notified()
    assert await relay.relay_once(scan=False) == 1
    assert collection.docs["t-1"][OUTBOX_COUNT] == 0
    first, second = producer.sent
    assert first.headers != second.headers, "two different events, each sent once"


async def test_a_failed_claim_keeps_the_aggregate_notified(collection: FakeCollection) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    store = _store(collection, relay)
    await store.save("t-1", {}, loaded=None, events=[_event("t-1")])
    real = collection.update_many

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise TimeoutError("the store did not answer")

    collection.update_many = broken  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        await relay.relay_once(scan=False)
    assert relay.has_notified()

    collection.update_many = real  # type: ignore[method-assign]
    assert await relay.relay_once(scan=False) == 1
    assert len(producer.sent) == 1
    assert not relay.has_notified()


async def test_the_fallback_scan_still_finds_work_nobody_notified(collection: FakeCollection) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    others = AggregateStore(cast(AsyncCollection[Document], collection))  # another instance's store
    await others.save("t-9", {}, loaded=None, events=[_event("t-9")])

    assert not relay.has_notified()
    assert await relay.relay_once(scan=False) == 0
    assert await relay.relay_once(scan=True) == 1
    assert collection.docs["t-9"][OUTBOX_COUNT] == 0


async def test_two_relays_notified_of_the_same_aggregate_publish_it_once(collection: FakeCollection) -> None:
    producer = Producer()
    first, second = _relay(collection, producer, "a"), _relay(collection, producer, "b")
    store = _store(collection, first)
    await store.save("t-1", {}, loaded=None, events=[_event("t-1")])
    second.notify(collection.name, "t-1")

    claimed_first = await first.claim_notified(cast(AsyncCollection[Document], collection))
    claimed_second = await second.claim_notified(cast(AsyncCollection[Document], collection))

    assert [c.aggregate_id for c in claimed_first] == ["t-1"]
    assert claimed_second == []
    assert collection.docs["t-1"][RELAY_LEASE]["owner"] == "a"


async def test_one_round_empties_many_unchanged_outboxes_and_pulls_only_what_it_read_from_a_changed_one(
    collection: FakeCollection,
) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    store = _store(collection, relay)
    for i in range(5):
        await store.save(f"t-{i}", {}, loaded=None, events=[_event(f"t-{i}", 1), _event(f"t-{i}", 2)])
    claimed = await relay.claim_notified(cast(AsyncCollection[Document], collection))
    assert sorted(c.aggregate_id for c in claimed) == [f"t-{i}" for i in range(5)]
    loaded = await store.load("t-3")  # an event saved while the round publishes
    await store.save("t-3", {"more": True}, loaded=loaded, events=[_event("t-3", 3)])

    delivered = await relay.publish(claimed)
    await relay.acknowledge(claimed, delivered)

    for i in (0, 1, 2, 4):
        assert collection.docs[f"t-{i}"][OUTBOX_COUNT] == 0
        assert RELAY_LEASE not in collection.docs[f"t-{i}"]
    changed = collection.docs["t-3"]
    assert [e["id"] for e in changed[OUTBOX]] == ["ev-t-3-3"]
    assert changed[OUTBOX_COUNT] == 1
    assert RELAY_LEASE not in changed


async def test_a_save_with_nothing_waiting_leases_it_and_the_running_relay_publishes_long_before_a_scan(
    collection: FakeCollection,
) -> None:
    producer = Producer()
    async with _running(collection, producer) as (_, store):
        await asyncio.sleep(0.05)  # the start-up scan has run
        scans, reads = collection.scans, collection.reads
        await store.save("t-1", {}, loaded=None, events=[_event("t-1", 1), _event("t-1", 2)])
        assert collection.docs["t-1"][RELAY_LEASE]["owner"] == "a", "leased in the save itself"
        await _until(lambda: collection.docs["t-1"][OUTBOX_COUNT] == 0)
    assert [r.key for r in producer.sent] == [b"t-1", b"t-1"]
    assert collection.docs["t-1"][OUTBOX] == []
    assert RELAY_LEASE not in collection.docs["t-1"]
    assert (collection.scans, collection.reads) == (scans, reads), "no claim, no read: handed over"


async def test_a_save_while_events_still_wait_takes_no_lease_and_names_the_aggregate(
    collection: FakeCollection,
) -> None:
    producer = Producer()
    others = AggregateStore(cast(AsyncCollection[Document], collection))  # an instance without a relay
    await others.save("t-1", {"n": 1}, loaded=None, events=[_event("t-1", 1)])
    other_lease = {"owner": "b", "until": datetime.now(UTC) + timedelta(seconds=30)}
    collection.docs["t-1"][RELAY_LEASE] = other_lease  # another relay is publishing event 1
    async with _running(collection, producer) as (_, store):
        loaded = await store.load("t-1")
        assert loaded is not None
        assert loaded.pending == 1
        await store.save("t-1", {"n": 2}, loaded=loaded, events=[_event("t-1", 2)])
        assert collection.docs["t-1"][RELAY_LEASE] == other_lease, "the other relay's lease stands"
        assert collection.docs["t-1"][OUTBOX_COUNT] == 2
        await asyncio.sleep(0.1)
    assert producer.sent == [], "left to the relay holding the lease"


async def test_a_relay_that_is_not_running_lends_no_lease(collection: FakeCollection) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    store = _store(collection, relay)
    await store.save("t-1", {}, loaded=None, events=[_event("t-1")])
    assert RELAY_LEASE not in collection.docs["t-1"], "no lease that nobody would publish under"
    assert relay.has_notified()
    assert await relay.relay_once(scan=False) == 1


async def test_events_saved_during_a_handed_over_round_are_claimed_in_the_next(
    collection: FakeCollection,
) -> None:
    producer = Producer()
    async with _running(collection, producer) as (relay, store):
        _save_again_while_sending(relay, store, producer)
        await store.save("t-1", {"n": 1}, loaded=None, events=[_event("t-1", 1)])
        await _until(lambda: len(producer.sent) == 2 and collection.docs["t-1"][OUTBOX_COUNT] == 0)
    first, second = producer.sent
    assert first.headers != second.headers, "two different events, each sent once"
    assert collection.docs["t-1"][OUTBOX_COUNT] == 0
    assert collection.scans <= 1, "the second event came through a claim by _id, not a later scan"


async def test_an_aggregate_handed_over_and_then_named_again_sends_each_event_once(
    collection: FakeCollection,
) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    store = _store(collection, relay)
    first = _event("t-1", 1).to_document()
    # as a save with nothing waiting leaves it: leased for relay "a", its entry handed over
    await collection.insert_one(
        {
            "_id": "t-1",
            "_version": 1,
            OUTBOX: [first],
            OUTBOX_COUNT: 1,
            "_processed": [],
            RELAY_LEASE: {"owner": "a", "until": datetime.now(UTC) + timedelta(seconds=30)},
        }
    )
    relay.hand_over(cast(AsyncCollection[Document], collection), "t-1", [first])
    loaded = await store.load("t-1")  # one event still waits: this save only names the aggregate
    await store.save("t-1", {"n": 2}, loaded=loaded, events=[_event("t-1", 2)])

    assert await relay.relay_once(scan=False) == 1, "the handed-over event; the claim wins nothing"
    assert await relay.relay_once(scan=False) == 1, "the second event, claimed once the lease was let go"
    assert len({repr(r.headers) for r in producer.sent}) == len(producer.sent) == 2
    assert collection.docs["t-1"][OUTBOX_COUNT] == 0


async def _holding(collection: FakeCollection, producer: Producer, owner: str) -> OutboxRelay:
    """A running relay with a 0.3 s lease renewed every 0.05 s that holds what it saved (t-1) for an
    hour before sending it, as behind a very slow broker."""
    relay = _relay(collection, producer, owner, lease_s=0.3, renew_every_s=0.05, publish_delay_s=3600)
    relay.start()
    await _store(collection, relay).save("t-1", {}, loaded=None, events=[_event("t-1")])
    return relay


async def test_a_live_relay_renews_the_leases_it_holds_so_that_no_other_relay_claims_them(
    collection: FakeCollection,
) -> None:
    producer = Producer()
    holder = await _holding(collection, producer, "a")
    try:
        first_until = collection.docs["t-1"][RELAY_LEASE]["until"]
        await asyncio.sleep(0.6)  # two leases long
        assert holder.held() == {"things": {"t-1"}}
        assert collection.docs["t-1"][RELAY_LEASE]["owner"] == "a"
        assert collection.docs["t-1"][RELAY_LEASE]["until"] > first_until + timedelta(seconds=0.3)
        assert await _relay(collection, producer, "b").relay_once() == 0, "a's lease still holds"
    finally:
        await holder.stop()
    assert RELAY_LEASE not in collection.docs["t-1"], "a stopping relay lets go of what it held"
    assert holder.held() == {}
    assert producer.sent == []
    assert await _relay(collection, producer, "b").relay_once() == 1, "another relay publishes at once"


async def test_the_leases_of_a_relay_that_stops_renewing_run_out_within_one_lease(
    collection: FakeCollection,
) -> None:
    producer = Producer()
    dead = await _holding(collection, producer, "dead")
    await asyncio.sleep(0.2)
    # killed: its tasks vanish without a word (no release, no more renewals)
    for task in (dead._task, dead._renewer):
        assert task is not None
        task.cancel()
    successor = _relay(collection, producer, "b")
    assert await successor.relay_once() == 0, "the lease renewed just before the kill still holds"
    await asyncio.sleep(0.35)
    assert await successor.relay_once() == 1, "run out within one lease: claimed and published"
    assert collection.docs["t-1"][OUTBOX_COUNT] == 0


async def test_a_renewal_leaves_a_lease_taken_over_by_another_relay_alone(collection: FakeCollection) -> None:
    producer = Producer()
    relay = _relay(collection, producer, "a")
    await collection.insert_one({"_id": "t-1", OUTBOX: [], OUTBOX_COUNT: 1, RELAY_LEASE: {"owner": "b"}})
    relay.hand_over(cast(AsyncCollection[Document], collection), "t-1", [])
    assert await relay.renew() == 0
    assert collection.docs["t-1"][RELAY_LEASE] == {"owner": "b"}


def test_a_renewal_interval_not_below_the_lease_is_refused(collection: FakeCollection) -> None:
    with pytest.raises(ValueError, match="renew_every_s"):
        _relay(collection, Producer(), "a", lease_s=1.0, renew_every_s=1.0)


async def test_an_aggregate_emptied_and_saved_again_during_the_acknowledgement_keeps_its_new_events(
    collection: FakeCollection,
) -> None:
    """Found by `make chaos`: t-0 is emptied by the round's first update; before its second (for the
    changed t-1), t-0 is saved again under a new lease of the same relay. That second update must
    leave t-0's new events, count and lease alone."""
    producer = Producer()
    relay = _relay(collection, producer, "a")
    store = _store(collection, relay)
    for i in range(2):
        await store.save(f"t-{i}", {}, loaded=None, events=[_event(f"t-{i}", 1)])
    claimed = await relay.claim_notified(cast(AsyncCollection[Document], collection))
    loaded = await store.load("t-1")  # changed while the round publishes: not emptied, pulled
    await store.save("t-1", {"more": True}, loaded=loaded, events=[_event("t-1", 2)])
    delivered = await relay.publish(claimed)

    bulk_write = collection.bulk_write

    async def save_t0_first(ops: list[UpdateOne | UpdateMany], ordered: bool) -> None:
        assert collection.docs["t-0"][OUTBOX_COUNT] == 0, "emptied by the first update"
        new_lease = {"owner": "a", "until": datetime.now(UTC) + timedelta(seconds=5), "claim": "newer"}
        collection.docs["t-0"] |= {OUTBOX: [_event("t-0", 2).to_document()], OUTBOX_COUNT: 1}
        collection.docs["t-0"][RELAY_LEASE] = new_lease
        await bulk_write(ops, ordered)

    collection.bulk_write = save_t0_first  # type: ignore[method-assign]
    await relay.acknowledge(claimed, delivered)

    again = collection.docs["t-0"]
    assert [e["id"] for e in again[OUTBOX]] == ["ev-t-0-2"]
    assert again[OUTBOX_COUNT] == 1
    assert again[RELAY_LEASE]["claim"] == "newer"
    assert [e["id"] for e in collection.docs["t-1"][OUTBOX]] == ["ev-t-1-2"]
    assert collection.docs["t-1"][OUTBOX_COUNT] == 1
