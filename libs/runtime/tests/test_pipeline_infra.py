"""The event plumbing against the real Kafka broker and the real FerretDB.

An event goes from an aggregate's outbox through the relay to Kafka to an idempotent consumer, and
its effect is stored once: also when it is delivered five times, when a relay dies between
publishing and removing, and when a poison message sits in front of it.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from regstd.contracts import EventModel, Topic
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.consumer import (
    DLQ_ATTEMPTS,
    DLQ_ERROR,
    DLQ_ERROR_TYPE,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_TOPIC,
)
from regstd.runtime.events import Delivery, new_event, to_kafka
from regstd.runtime.relay import OutboxRelay
from regstd.runtime.store import OUTBOX, OUTBOX_COUNT, AggregateStore
from regstd.runtime.testing import ce, committed, eventually, read_topic
from regstd.runtime.unit_of_work import PLAIN_STATE, UnitOfWork

from .conftest import ThingFactory, ThingHappened

RuntimeFactory = Callable[..., Runtime]


def counting_handler(tallies: AggregateStore) -> Callable[[Delivery[Any]], Awaitable[None]]:
    """A consumer's effect: add the event's n to the thing's tally, once per event id."""
    work = UnitOfWork(tallies, PLAIN_STATE, kind="tally")

    async def handle(delivery: Delivery[Any]) -> None:
        def add(tally: dict[str, Any] | None, _: datetime) -> tuple[dict[str, Any], list[EventModel]]:
            return {"total": (tally["total"] if tally else 0) + delivery.data.n}, []

        await work.apply_once(delivery.subject, delivery.id, add)

    return handle


class Outage:
    """A downstream register that is down until `end()`: its handler fails, then counts (a cause
    outside the event, so a dead letter of it can be replayed after the fix)."""

    def __init__(self) -> None:
        self.down = True

    def end(self) -> None:
        """The fix: the register answers again."""
        self.down = False

    def handler(self, tallies: AggregateStore) -> Callable[[Delivery[Any]], Awaitable[None]]:
        """`counting_handler`, failing while the register is down."""
        count = counting_handler(tallies)

        async def handle(delivery: Delivery[Any]) -> None:
            if self.down:
                raise RuntimeError("the downstream register is down")
            await count(delivery)

        return handle


async def equals(value: Awaitable[Any], expected: Any) -> bool:
    """Whether an awaited value is the expected one (for `eventually`)."""
    return (await value) == expected


async def total(tallies: AggregateStore, thing_id: str) -> int | None:
    loaded = await tallies.load(thing_id)
    return None if loaded is None else int(loaded.state["total"])


@dataclass
class Pipeline:
    """A producing service with `things`, a consuming service counting them in `tallies`."""

    topic: Topic
    thing: type[ThingHappened]
    producer: Runtime
    consumer: Runtime
    things: AggregateStore
    tallies: AggregateStore

    async def start(self, *, consumer: bool = True) -> None:
        await self.producer.start([self.topic])
        if consumer:
            await self.consumer.start([self.topic])

    async def until_committed(self, records: int) -> None:
        bootstrap = self.consumer.settings.kafka_bootstrap
        await eventually(
            lambda: _equals(committed(bootstrap, "tally", self.topic.name), records),
            what=f"the consumer to process and commit {records} records",
            within=30,
        )


def tally_pipeline(
    runtimes: RuntimeFactory,
    new_thing_event: ThingFactory,
    handler: Callable[[AggregateStore], Callable[[Delivery[Any]], Awaitable[None]]] | None = None,
) -> Pipeline:
    topic, thing = new_thing_event()
    producer, consumer = runtimes(), runtimes()
    tallies = consumer.aggregate_store("tallies")
    consumer.consume(topic, "tally", {thing: (handler or counting_handler)(tallies)})
    return Pipeline(topic, thing, producer, consumer, producer.aggregate_store("things"), tallies)


async def test_an_event_goes_through_outbox_relay_kafka_to_a_consumer_once(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    p = tally_pipeline(runtimes, new_thing_event)
    await p.start()

    await p.things.save(
        "t-1", {"name": "first"}, loaded=None, events=[new_event(p.thing(thing_id="t-1", n=5))]
    )
    loaded = await p.things.load("t-1")
    assert loaded is not None
    await p.things.save(
        "t-1", {"name": "second"}, loaded=loaded, events=[new_event(p.thing(thing_id="t-1", n=2))]
    )

    await eventually(lambda: _equals(total(p.tallies, "t-1"), 7), what="the tally to reach 5 + 2", within=30)
    await eventually(lambda: _outbox_empty(p.things, "t-1"), what="the relay to empty the outbox", within=30)
    await p.until_committed(2)
    assert await total(p.tallies, "t-1") == 7


async def test_the_same_event_delivered_five_times_has_one_effect(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    p = tally_pipeline(runtimes, new_thing_event)
    await p.start()

    record = to_kafka(new_event(p.thing(thing_id="t-5", n=3)))
    acks = [await p.producer.send(record) for _ in range(5)]
    await asyncio.gather(*acks)

    await p.until_committed(5)
    assert await total(p.tallies, "t-5") == 3
    loaded = await p.tallies.load("t-5")
    assert loaded is not None
    assert loaded.version == 1


async def test_a_relay_killed_between_publishing_and_removing_causes_no_second_effect(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    p = tally_pipeline(runtimes, new_thing_event)
    await p.start()
    await p.producer.relay.stop()  # this test drives two relays by hand

    await p.things.save("t-k", {}, loaded=None, events=[new_event(p.thing(thing_id="t-k", n=4))])
    dying = OutboxRelay([p.things.collection], p.producer.send, lease_s=0.5, owner="dying")
    claimed = await dying.claim(p.things.collection)
    assert [c.aggregate_id for c in claimed] == ["t-k"]
    delivered = await dying.publish(claimed)
    assert len(delivered) == 1
    # ...and the relay dies here, before acknowledge(): the event is on Kafka and still in the outbox.

    successor = OutboxRelay([p.things.collection], p.producer.send, lease_s=0.5, owner="successor")
    assert await successor.relay_once() == 0, "the dying relay's lease still holds"
    await asyncio.sleep(0.6)
    assert await successor.relay_once() == 1, "after the lease expired the event is published again"
    assert await _outbox_empty(p.things, "t-k")

    copies = await read_topic(
        p.producer.settings.kafka_bootstrap, p.topic.name, lambda records: len(records) >= 2, within=20
    )
    assert len(copies) == 2
    assert len({dict(r.headers)["ce_id"] for r in copies}) == 1, "the repeat is the same CloudEvent"
    await p.until_committed(2)
    assert await total(p.tallies, "t-k") == 4


async def test_a_poison_message_is_dead_lettered_and_the_partition_keeps_moving(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    p = tally_pipeline(runtimes, new_thing_event)
    await p.start(consumer=False)
    topic, broker = p.topic.name, p.producer.broker

    # All on one key, so on one partition, in this order: poison, invalid, then two good events.
    await broker.publish(b"\x00not a cloud event", topic, key=b"t-p")
    bad = to_kafka(new_event(p.thing(thing_id="t-p", n=1)))
    await broker.publish(b'{"thing_id": "t-p", "n": "many"}', topic, key=b"t-p", headers=bad.headers)
    for n in (10, 20):
        good = to_kafka(new_event(p.thing(thing_id="t-p", n=n)))
        await broker.publish(good.value, topic, key=good.key, headers=good.headers)
    await p.consumer.start([p.topic])

    await eventually(
        lambda: _equals(total(p.tallies, "t-p"), 30), what="the good events behind the poison", within=30
    )
    dead = await read_topic(
        p.producer.settings.kafka_bootstrap, p.topic.dead_letter, lambda records: len(records) >= 2, within=20
    )
    assert len(dead) == 2
    first, second = (ce(r) for r in dead)
    assert dead[0].value == b"\x00not a cloud event"
    assert first[DLQ_TOPIC] == topic
    assert first[DLQ_ERROR_TYPE] == "InvalidEvent"
    assert second[DLQ_ERROR_TYPE] == "ValidationError"
    assert "n" in second[DLQ_ERROR]
    assert int(second[DLQ_OFFSET]) == int(first[DLQ_OFFSET]) + 1
    assert first[DLQ_PARTITION] == second[DLQ_PARTITION]
    assert first[DLQ_ATTEMPTS] == second[DLQ_ATTEMPTS] == "1"
    await p.until_committed(4)


async def test_poison_records_with_real_event_headers_are_dead_lettered_once_each(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    """Records that look like events (content-type and `ce_*` headers, one missing or wrong) but
    cannot be decoded or validated: each is dead-lettered with its origin after one delivery, and
    those behind it follow."""
    topic, thing = new_thing_event()
    producer, consumer = runtimes(), runtimes(consumer_max_value_bytes=4096)
    tallies = consumer.aggregate_store("tallies")
    subscribed = consumer.consume(topic, "tally", {thing: counting_handler(tallies)})
    p = Pipeline(topic, thing, producer, consumer, producer.aggregate_store("things"), tallies)
    await p.start(consumer=False)
    handled: list[int] = []
    handle = subscribed.handle

    async def counted(record: Any) -> None:
        handled.append(record.offset)
        await handle(record)

    subscribed.handle = counted  # type: ignore[method-assign]

    def headers(*, without: str = "", **changes: str) -> dict[str, str]:
        sent = to_kafka(new_event(thing(thing_id="t-h", n=1))).headers | changes
        return {k: v for k, v in sent.items() if k != without}

    good_value = to_kafka(new_event(thing(thing_id="t-h", n=1))).value
    oversize = json.dumps({"thing_id": "t-h", "n": 1, "padding": "x" * 8192}).encode()
    # All on one key, so on one partition, in this order; the last two are good.
    poison: list[tuple[bytes, dict[str, Any], str]] = [
        (b"{not json", headers(), "not a JSON object"),
        (good_value, headers(ce_type="cn.regstd.elsewhere.thing.happened.v1"), "ce_type"),
        (good_value, headers(ce_subject="t-other"), "ce_subject"),
        (oversize, headers(), "4096"),
        (good_value, headers(without="ce_id"), "missing header ce_id"),
        (good_value, headers(ce_specversion="0.3"), "specversion"),
        (good_value, headers(without="ce_subject"), "missing header ce_subject"),
    ]
    for value, with_headers, _ in poison:
        await p.producer.broker.publish(value, topic.name, key=b"t-h", headers=with_headers)
    raw = AIOKafkaProducer(bootstrap_servers=producer.settings.kafka_bootstrap)
    await raw.start()
    try:
        not_utf8 = [(k, v.encode()) for k, v in headers().items() if k != "ce_type"] + [("ce_type", b"\xff")]
        await raw.send_and_wait(topic.name, good_value, key=b"t-h", headers=not_utf8)
    finally:
        await raw.stop()
    for n in (10, 20):
        good = to_kafka(new_event(thing(thing_id="t-h", n=n)))
        await p.producer.broker.publish(good.value, topic.name, key=good.key, headers=good.headers)
    await p.consumer.start([topic])

    await eventually(
        lambda: _equals(total(p.tallies, "t-h"), 30), what="the good events behind the poison", within=30
    )
    await p.until_committed(10)
    dead = await read_topic(
        producer.settings.kafka_bootstrap, topic.dead_letter, lambda records: len(records) >= 8, within=20
    )
    assert len(dead) == 8
    letters_ = [ce(r) for r in dead]
    for (value, sent, reason), record, letter in zip(poison, dead, letters_, strict=False):
        assert record.value == value
        assert record.key == b"t-h"
        assert letter[DLQ_TOPIC] == topic.name
        assert letter[DLQ_ERROR_TYPE] == "InvalidEvent"
        assert reason in letter[DLQ_ERROR]
        assert letter[DLQ_ATTEMPTS] == "1"
        assert {k: letter[k] for k in sent} == sent, "the original headers travel with the dead letter"
    assert "UTF-8" in letters_[7][DLQ_ERROR]
    assert [int(letter[DLQ_OFFSET]) for letter in letters_] == list(range(8))
    assert len({letter[DLQ_PARTITION] for letter in letters_}) == 1
    assert sorted(handled) == list(range(10)), "each record delivered to the consumer once: no spinning"


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_retries(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    attempts = 0

    def fails_on_thirteen(tallies: AggregateStore) -> Callable[[Delivery[Any]], Awaitable[None]]:
        count = counting_handler(tallies)

        async def handle(delivery: Delivery[Any]) -> None:
            nonlocal attempts
            if delivery.data.n == 13:
                attempts += 1
                raise RuntimeError("unlucky number")
            await count(delivery)

        return handle

    p = tally_pipeline(runtimes, new_thing_event, fails_on_thirteen)
    await p.start()
    for n in (13, 1):
        await asyncio.gather(await p.producer.send(to_kafka(new_event(p.thing(thing_id="t-f", n=n)))))

    await eventually(
        lambda: _equals(total(p.tallies, "t-f"), 1), what="the event behind the failing one", within=30
    )
    [dead] = await read_topic(
        p.producer.settings.kafka_bootstrap, p.topic.dead_letter, lambda records: len(records) >= 1, within=20
    )
    headers = ce(dead)
    assert headers[DLQ_ATTEMPTS] == "3" == str(attempts)
    assert headers[DLQ_ERROR] == "unlucky number"
    assert json.loads(dead.value) == {"thing_id": "t-f", "n": 13}


async def test_an_offset_is_not_committed_before_the_effect_is_stored(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    started = asyncio.Event()

    def hangs(_: AggregateStore) -> Callable[[Delivery[Any]], Awaitable[None]]:
        async def handle(delivery: Delivery[Any]) -> None:
            started.set()
            await asyncio.Event().wait()  # the process dies while handling

        return handle

    crashing = tally_pipeline(runtimes, new_thing_event, hangs)
    await crashing.start()
    event = new_event(crashing.thing(thing_id="t-c", n=6))
    await asyncio.gather(await crashing.producer.send(to_kafka(event)))
    await asyncio.wait_for(started.wait(), 30)
    await asyncio.wait_for(crashing.consumer.stop(), 30)
    bootstrap = crashing.producer.settings.kafka_bootstrap
    assert await committed(bootstrap, "tally", crashing.topic.name) == 0

    successor = runtimes()
    tallies = successor.aggregate_store("tallies")
    successor.consume(crashing.topic, "tally", {crashing.thing: counting_handler(tallies)})
    await successor.start([crashing.topic])
    await eventually(
        lambda: _equals(total(tallies, "t-c"), 6), what="the successor to redo the effect", within=30
    )


async def test_two_relays_share_the_work_without_publishing_an_outbox_twice(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    topic, thing = new_thing_event()
    producer = runtimes()
    things = producer.aggregate_store("things")
    await producer.start([topic])
    await producer.relay.stop()
    for i in range(200):
        await things.save(f"t-{i}", {}, loaded=None, events=[new_event(thing(thing_id=f"t-{i}", n=i))])

    relays = [OutboxRelay([things.collection], producer.send, batch_size=25, owner=o) for o in ("a", "b")]

    async def drain(relay: OutboxRelay) -> int:
        published = 0
        while n := await relay.relay_once():
            published += n
        return published

    counts = await asyncio.gather(*(drain(r) for r in relays))
    assert sum(counts) == 200
    assert await things.collection.count_documents({OUTBOX_COUNT: {"$gt": 0}}) == 0
    records = await read_topic(
        producer.settings.kafka_bootstrap, topic.name, lambda records: len(records) >= 200, within=20
    )
    assert len({dict(r.headers)["ce_id"] for r in records}) == 200
    assert len(records) == 200


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected


async def _outbox_empty(store: AggregateStore, aggregate_id: str) -> bool:
    doc = await store.collection.find_one({"_id": aggregate_id})
    return doc is not None and doc[OUTBOX] == [] and doc[OUTBOX_COUNT] == 0


async def test_a_saved_aggregate_is_published_through_the_notification_not_the_fallback_scan(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic, thing = new_thing_event()
    producer, consumer = runtimes(relay_poll_interval_s=3600), runtimes()
    tallies = consumer.aggregate_store("tallies")
    consumer.consume(topic, "tally", {thing: counting_handler(tallies)})
    p = Pipeline(topic, thing, producer, consumer, producer.aggregate_store("things"), tallies)
    scans: list[str] = []
    scan = producer.relay.claim

    async def counted_scan(collection: Any) -> Any:
        scans.append(collection.name)
        return await scan(collection)

    monkeypatch.setattr(producer.relay, "claim", counted_scan)
    await p.start()
    await eventually(lambda: _true(bool(scans)), what="the relay's start-up scan", within=30)
    scans_before = len(scans)  # the next scan is an hour away

    await p.things.save("t-n", {}, loaded=None, events=[new_event(p.thing(thing_id="t-n", n=7))])

    await eventually(
        lambda: _equals(total(p.tallies, "t-n"), 7), what="the notified event's effect", within=30
    )
    assert await _outbox_empty(p.things, "t-n")
    assert len(scans) == scans_before, "published through the notification, without a scan"


async def _true(value: bool) -> bool:
    return value


async def test_a_notified_claim_by_id_leaves_an_aggregate_leased_by_another_relay_alone(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    p = tally_pipeline(runtimes, new_thing_event)
    await p.start(consumer=False)
    await p.producer.relay.stop()  # this test drives two relays by hand
    await p.things.save("t-l", {}, loaded=None, events=[new_event(p.thing(thing_id="t-l", n=1))])
    holder = OutboxRelay([p.things.collection], p.producer.send, lease_s=30, owner="holder")
    held = await holder.claim(p.things.collection)
    assert [c.aggregate_id for c in held] == ["t-l"]

    notified = OutboxRelay([p.things.collection], p.producer.send, lease_s=0.5, owner="notified")
    notified.notify(p.things.collection.name, "t-l")
    assert await notified.claim_notified(p.things.collection) == []

    # Once the holder releases its lease (without publishing), the same claim by id wins it.
    await holder.acknowledge(held, [])
    notified.notify(p.things.collection.name, "t-l")
    claimed = await notified.claim_notified(p.things.collection)
    assert [c.aggregate_id for c in claimed] == ["t-l"]
    assert [e.subject for e in claimed[0].events] == ["t-l"]


async def test_batches_are_committed_only_after_all_their_effects_are_stored(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records waiting before the consumer starts come in few fetches: each fetch is one batch, and
    every commit names only records whose effects are stored. Commits travel in the background while
    later batches are handled, so there may be fewer commits than batches, never more."""
    topic, thing = new_thing_event()
    producer, consumer = runtimes(), runtimes()
    tallies = consumer.aggregate_store("tallies")
    subscription = consumer.consume(topic, "tally", {thing: counting_handler(tallies)})
    await producer.start([topic])
    records = [to_kafka(new_event(thing(thing_id=f"t-{i % 4}", n=1))) for i in range(40)]
    await asyncio.gather(*[await producer.send(r) for r in records])

    batches: list[int] = []
    commits: list[tuple[int, int]] = []  # (records up to the committed offsets, effects stored)
    submit = subscription.pipeline.submit

    async def counted_batch(batch: Any, **kwargs: Any) -> None:
        batches.append(len(batch))
        await submit(batch, **kwargs)

    async def counted_commit(self: AIOKafkaConsumer, offsets: Any = None) -> None:
        assert offsets, "a commit names the offsets it commits, not the consumer's position"
        stored = sum([await total(tallies, f"t-{k}") or 0 for k in range(4)])
        commits.append((sum(offsets.values()), stored))
        await original_commit(self, offsets)

    original_commit = AIOKafkaConsumer.commit
    monkeypatch.setattr(subscription.pipeline, "submit", counted_batch)
    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted_commit)
    await consumer.start([topic])

    await eventually(
        lambda: _equals(committed(consumer.settings.kafka_bootstrap, "tally", topic.name), 40),
        what="the consumer to commit all 40 records",
        within=30,
    )
    assert sum(batches) == 40
    assert len(batches) < 40, "records came in batches, not one by one"
    assert 1 <= len(commits) <= len(batches)
    for named, stored in commits:
        # The topic is new, so offsets count records: every record a commit names has its effect.
        # (A commit names only the partitions of its batches; the others were committed before.)
        assert named <= stored, f"a commit named {named} records while {stored} effects were stored"
    assert commits[-1][1] == 40
