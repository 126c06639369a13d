"""The consumer's decisions, with a fake dead-letter topic: handled, retried, dead-lettered, ignored."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from regstd.runtime.consumer import (
    DLQ_ATTEMPTS,
    DLQ_ERROR,
    DLQ_ERROR_TYPE,
    DLQ_GROUP,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_TOPIC,
    EventConsumer,
    PermanentError,
    RetryPolicy,
)
from regstd.runtime.events import Delivery, new_event, to_kafka

from .conftest import ThingFactory, ThingHappened


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class DeadLetters:
    sent: list[tuple[str, bytes | None, bytes | None, dict[str, str]]] = field(default_factory=list)

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: dict[str, str]
    ) -> None:
        self.sent.append((topic, key, value, headers))


FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002)


def record_of(thing: ThingHappened, offset: int = 7) -> FakeRecord:
    kafka = to_kafka(new_event(thing))
    return FakeRecord(
        kafka.topic, 2, offset, kafka.key, kafka.value, [(k, v.encode()) for k, v in kafka.headers.items()]
    )


async def test_a_valid_event_reaches_its_handler_typed(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()
    seen: list[Delivery[Any]] = []

    async def handler(delivery: Delivery[Any]) -> None:
        seen.append(delivery)

    dead = DeadLetters()
    consumer = EventConsumer(topic, "g", {thing: handler}, dead, FAST)
    await consumer.handle(record_of(thing(thing_id="a", n=4)))
    assert dead.sent == []
    assert len(seen) == 1
    assert isinstance(seen[0].data, thing)
    assert (seen[0].data.n, seen[0].subject, seen[0].partition, seen[0].offset) == (4, "a", 2, 7)


async def test_invalid_data_is_dead_lettered_with_its_origin(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()
    called = False

    async def handler(delivery: Delivery[Any]) -> None:
        nonlocal called
        called = True

    record = record_of(thing(thing_id="a", n=1))
    record.value = b'{"thing_id": "a", "n": -5}'
    dead = DeadLetters()
    await EventConsumer(topic, "grp", {thing: handler}, dead, FAST).handle(record)
    assert not called
    [(dlq_topic, key, value, headers)] = dead.sent
    assert dlq_topic == topic.name + ".dlq"
    assert (key, value) == (b"a", record.value)
    assert headers[DLQ_TOPIC] == topic.name
    assert (headers[DLQ_PARTITION], headers[DLQ_OFFSET], headers[DLQ_ATTEMPTS]) == ("2", "7", "1")
    assert headers[DLQ_GROUP] == "grp"
    assert headers[DLQ_ERROR_TYPE] == "ValidationError"
    assert "greater than or equal to 0" in headers[DLQ_ERROR]
    assert headers["ce_type"] == thing.event_type  # the original headers stay


async def test_a_record_that_is_no_cloudevent_is_dead_lettered(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()
    dead = DeadLetters()

    async def handler(delivery: Delivery[Any]) -> None:
        raise AssertionError("must not be called")

    await EventConsumer(topic, "g", {thing: handler}, dead, FAST).handle(
        FakeRecord(topic.name, 0, 1, None, b"garbage")
    )
    [(_, _, value, headers)] = dead.sent
    assert value == b"garbage"
    assert headers[DLQ_ERROR_TYPE] == "InvalidEvent"


async def test_a_transient_failure_is_retried_then_succeeds(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()
    attempts = 0

    async def flaky(delivery: Delivery[Any]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("store unavailable")

    dead = DeadLetters()
    await EventConsumer(topic, "g", {thing: flaky}, dead, FAST).handle(record_of(thing(thing_id="a", n=1)))
    assert attempts == 3
    assert dead.sent == []


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_the_last_attempt(
    new_thing_event: ThingFactory,
) -> None:
    topic, thing = new_thing_event()
    attempts = 0

    async def broken(delivery: Delivery[Any]) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("bug")

    dead = DeadLetters()
    await EventConsumer(topic, "g", {thing: broken}, dead, FAST).handle(record_of(thing(thing_id="a", n=1)))
    assert attempts == FAST.max_attempts
    [(_, _, _, headers)] = dead.sent
    assert headers[DLQ_ATTEMPTS] == str(FAST.max_attempts)
    assert headers[DLQ_ERROR] == "bug"


async def test_a_permanent_error_is_dead_lettered_without_retry(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()
    attempts = 0

    async def refuses(delivery: Delivery[Any]) -> None:
        nonlocal attempts
        attempts += 1
        raise PermanentError("thing is closed")

    dead = DeadLetters()
    await EventConsumer(topic, "g", {thing: refuses}, dead, FAST).handle(record_of(thing(thing_id="a", n=1)))
    assert attempts == 1
    assert dead.sent[0][3][DLQ_ATTEMPTS] == "1"


async def test_events_of_the_topic_without_a_handler_are_skipped(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()
    _, other = new_thing_event(on=topic)

    async def handler(delivery: Delivery[Any]) -> None:
        raise AssertionError("must not be called")

    dead = DeadLetters()
    consumer = EventConsumer(topic, "g", {thing: handler}, dead, FAST)
    await consumer.handle(record_of(other(thing_id="a", n=1)))
    unknown = record_of(thing(thing_id="a", n=1))
    unknown.headers = [
        (k, b"cn.regstd.test.thing.added-later.v1" if k == "ce_type" else v) for k, v in unknown.headers
    ]
    await consumer.handle(unknown)
    assert dead.sent == [], (
        "a well-formed type of the topic's service that this code does not know is skipped"
    )


@pytest.mark.parametrize(
    "event_type",
    [
        "cn.regstd.elsewhere.thing.happened.v1",  # another service
        "cn.regstd.test.thing.happened.v2",  # another major version
        "not a type",
        "",
    ],
)
async def test_a_type_that_cannot_travel_on_the_topic_is_dead_lettered(
    new_thing_event: ThingFactory, event_type: str
) -> None:
    topic, thing = new_thing_event()

    async def handler(delivery: Delivery[Any]) -> None:
        raise AssertionError("must not be called")

    record = record_of(thing(thing_id="a", n=1))
    record.headers = [(k, event_type.encode() if k == "ce_type" else v) for k, v in record.headers]
    dead = DeadLetters()
    await EventConsumer(topic, "g", {thing: handler}, dead, FAST).handle(record)
    [(_, _, _, headers)] = dead.sent
    assert headers[DLQ_ERROR_TYPE] == "InvalidEvent"
    assert "ce_type" in headers[DLQ_ERROR] or "CloudEvent" in headers[DLQ_ERROR]


async def test_a_known_type_of_another_topic_is_dead_lettered(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()
    _, other = new_thing_event()

    async def handler(delivery: Delivery[Any]) -> None:
        raise AssertionError("must not be called")

    dead = DeadLetters()
    await EventConsumer(topic, "g", {thing: handler}, dead, FAST).handle(record_of(other(thing_id="a", n=1)))
    [(_, _, _, headers)] = dead.sent
    assert "travels on" in headers[DLQ_ERROR]


async def test_a_key_other_than_the_subject_is_dead_lettered(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()

    async def handler(delivery: Delivery[Any]) -> None:
        raise AssertionError("must not be called")

    dead = DeadLetters()
    consumer = EventConsumer(topic, "g", {thing: handler}, dead, FAST)
    for key in (b"b", None):
        record = record_of(thing(thing_id="a", n=1))
        record.key = key
        await consumer.handle(record)
    assert [h[DLQ_ERROR] for *_, h in dead.sent] == [
        "the key b'b' does not match ce_subject 'a'",
        "the key None does not match ce_subject 'a'",
    ]


async def test_a_value_over_the_size_limit_is_dead_lettered_unread(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()
    seen: list[int] = []

    async def handler(delivery: Delivery[Any]) -> None:
        seen.append(delivery.data.n)

    dead = DeadLetters()
    consumer = EventConsumer(topic, "g", {thing: handler}, dead, FAST, max_value_bytes=30)
    small, large = record_of(thing(thing_id="a", n=1)), record_of(thing(thing_id="a", n=2))
    large.value = b'{"thing_id": "a", "n": 2, "pad": "' + b"x" * 30 + b'"}'
    await consumer.handle(small)
    await consumer.handle(large)
    assert seen == [1]
    [(_, _, value, headers)] = dead.sent
    assert value == large.value
    assert headers[DLQ_ERROR] == f"the value of {len(large.value)} bytes is over the limit of 30"


async def test_when_the_dead_letter_cannot_be_written_the_error_escapes(
    new_thing_event: ThingFactory,
) -> None:
    """So FastStream seeks back and the record comes again, instead of its offset being committed."""
    topic, thing = new_thing_event()

    async def broken(delivery: Delivery[Any]) -> None:
        raise RuntimeError("bug")

    async def broker_down(
        topic: str, key: bytes | None, value: bytes | None, headers: dict[str, str]
    ) -> None:
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        await EventConsumer(topic, "g", {thing: broken}, broker_down, FAST).handle(
            record_of(thing(thing_id="a", n=1))
        )


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, initial_backoff_s=0.1, max_backoff_s=0.5)
    assert [policy.backoff(a) for a in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]


# -- batches ------------------------------------------------------------------------------------------


def batch_of(things: list[ThingHappened]) -> list[FakeRecord]:
    """Records of one partition in offset order, as one fetch returns them."""
    return [record_of(thing, offset=offset) for offset, thing in enumerate(things)]


async def test_a_batch_keeps_each_keys_order_and_runs_keys_side_by_side(
    new_thing_event: ThingFactory,
) -> None:
    topic, thing = new_thing_event()
    seen: list[tuple[str, int]] = []
    b_started = asyncio.Event()

    async def handler(delivery: Delivery[Any]) -> None:
        if delivery.data.thing_id == "a" and delivery.data.n == 1:
            # The first of a's records waits for b's: only keys run side by side get past this.
            await asyncio.wait_for(b_started.wait(), timeout=5)
        if delivery.data.thing_id == "b":
            b_started.set()
        seen.append((delivery.data.thing_id, delivery.data.n))

    records = batch_of(
        [thing(thing_id=k, n=n) for n, k in ((1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "a"))]
    )
    await EventConsumer(topic, "g", {thing: handler}, DeadLetters(), FAST).handle_batch(records)

    assert sorted(seen) == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)]
    assert [n for k, n in seen if k == "a"] == [1, 2, 3]
    assert [n for k, n in seen if k == "b"] == [1, 2]
    assert seen.index(("b", 1)) < seen.index(("a", 1))  # b did not wait for a


async def test_a_poison_record_in_the_middle_of_a_batch_is_dead_lettered_and_the_rest_proceeds(
    new_thing_event: ThingFactory,
) -> None:
    topic, thing = new_thing_event()
    seen: list[tuple[str, int]] = []

    async def handler(delivery: Delivery[Any]) -> None:
        seen.append((delivery.data.thing_id, delivery.data.n))

    records = batch_of([thing(thing_id="a", n=n) for n in range(1, 4)])
    records[1].value = b"{not json"
    dead = DeadLetters()
    await EventConsumer(topic, "g", {thing: handler}, dead, FAST).handle_batch(records)

    assert seen == [("a", 1), ("a", 3)]
    [(dlq_topic, _, value, headers)] = dead.sent
    assert (dlq_topic, value, headers[DLQ_OFFSET]) == (topic.dead_letter, b"{not json", "1")


async def test_a_batch_that_cannot_be_finished_raises_and_its_redelivery_has_no_second_effect(
    new_thing_event: ThingFactory,
) -> None:
    """The store fails for one record and so does its dead letter: the batch raises (so nothing of
    it is committed) after the other keys finished; delivered again, each effect is stored once."""
    topic, thing = new_thing_event()
    effects: dict[str, list[int]] = {}
    processed: set[str] = set()
    store_down = True

    async def handler(delivery: Delivery[Any]) -> None:
        if delivery.id in processed:  # what the aggregate store's processed ids do
            return
        if store_down and delivery.data.thing_id == "b":
            raise ConnectionError("store down")
        effects.setdefault(delivery.data.thing_id, []).append(delivery.data.n)
        processed.add(delivery.id)

    async def broker_down(
        topic: str, key: bytes | None, value: bytes | None, headers: dict[str, str]
    ) -> None:
        raise ConnectionError("broker down")

    records = batch_of([thing(thing_id=k, n=n) for n, k in ((1, "a"), (1, "b"), (2, "b"), (2, "a"))])
    consumer = EventConsumer(topic, "g", {thing: handler}, broker_down, FAST)
    with pytest.raises(ConnectionError):
        await consumer.handle_batch(records)
    assert effects == {"a": [1, 2]}  # b stopped at its first record; a finished

    # Until the rewind, a later record of the failed key does not run (it would overtake b's first).
    with pytest.raises(ConnectionError):
        await consumer.handle_batch(batch_of([thing(thing_id="b", n=3)]))
    assert effects == {"a": [1, 2]}

    store_down = False
    starts = consumer.pipeline.rewind()  # what the subscription does, then it seeks there
    assert starts == {}, "handle_batch alone leaves nothing uncommitted to seek to"
    await consumer.handle_batch(records)  # the whole batch again, as after the rewind
    assert effects == {"a": [1, 2], "b": [1, 2]}
