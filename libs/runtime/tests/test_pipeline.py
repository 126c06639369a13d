"""The consumer's pipeline: batches in flight one after another, each key in order across them,
commits in batch order, and a rewind to the first uncommitted record when one cannot be finished."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from regstd.runtime.consumer import Pipeline, Record


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()


def rec(partition: int, offset: int, key: str) -> Rec:
    return Rec("t", partition, offset, key.encode())


@dataclass
class Log:
    """What the pipeline did: records handled, batches committed, seeks."""

    handled: list[tuple[int, int]] = field(default_factory=list)
    committed: list[list[tuple[int, int]]] = field(default_factory=list)
    seeks: list[dict[TopicPartition, int]] = field(default_factory=list)

    def commit(self, batch: Sequence[Record]) -> None:
        self.committed.append([(r.partition, r.offset) for r in batch])

    def seek(self, starts: dict[TopicPartition, int]) -> None:
        self.seeks.append(starts)


async def submit(pipeline: Pipeline, log: Log, batch: list[Rec]) -> None:
    await pipeline.submit(batch, fetched_in=pipeline.epoch, commit=log.commit, seek=log.seek)


async def test_a_record_is_not_held_up_by_a_slow_one_of_another_key_fetched_before_it() -> None:
    log = Log()
    release_a = asyncio.Event()
    b_handled = asyncio.Event()

    async def handle(record: Record) -> None:
        if record.key == b"a":
            await asyncio.wait_for(release_a.wait(), timeout=5)
        log.handled.append((record.partition, record.offset))
        if record.key == b"b":
            b_handled.set()

    pipeline = Pipeline(handle, keys_in_flight=8, batches_in_flight=4, pause_s=0)
    await submit(pipeline, log, [rec(0, 0, "a")])
    await submit(pipeline, log, [rec(1, 0, "b")])  # a later fetch, while a's record still runs
    await asyncio.wait_for(b_handled.wait(), timeout=5)
    assert log.handled == [(1, 0)]
    assert log.committed == [], "the second batch waits for the first before it is committed"

    release_a.set()
    await pipeline.drain()
    assert log.handled == [(1, 0), (0, 0)]
    assert log.committed == [[(0, 0)], [(1, 0)]], "commits in the order the batches came"


async def test_a_keys_records_run_in_order_across_batches() -> None:
    log = Log()
    release = asyncio.Event()

    async def handle(record: Record) -> None:
        if record.offset == 0:
            await asyncio.wait_for(release.wait(), timeout=5)
        log.handled.append((record.partition, record.offset))

    pipeline = Pipeline(handle, keys_in_flight=8, batches_in_flight=4, pause_s=0)
    await submit(pipeline, log, [rec(0, 0, "a")])
    await submit(pipeline, log, [rec(0, 1, "a"), rec(0, 2, "a")])
    await asyncio.sleep(0.05)
    assert log.handled == [], "a's later records wait for its first"
    release.set()
    await pipeline.drain()
    assert log.handled == [(0, 0), (0, 1), (0, 2)]


async def test_a_record_that_cannot_be_finished_rewinds_every_partition_to_its_first_uncommitted() -> None:
    log = Log()
    failing = True

    async def handle(record: Record) -> None:
        if failing and record.key == b"bad":
            raise ConnectionError("not even a dead letter could be written")
        log.handled.append((record.partition, record.offset))

    pipeline = Pipeline(handle, keys_in_flight=8, batches_in_flight=4, pause_s=0.05)
    await submit(pipeline, log, [rec(0, 0, "ok"), rec(0, 1, "ok")])
    await pipeline.drain()
    assert log.committed == [[(0, 0), (0, 1)]]

    before = pipeline.epoch
    await submit(pipeline, log, [rec(0, 2, "bad"), rec(0, 3, "other")])
    await submit(pipeline, log, [rec(0, 4, "bad"), rec(1, 9, "elsewhere")])  # fetched before the rewind
    await pipeline.drain()

    assert log.committed == [[(0, 0), (0, 1)]], "nothing from the failed record on is committed"
    assert log.seeks == [{TopicPartition("t", 0): 2, TopicPartition("t", 1): 9}]
    assert pipeline.epoch == before + 1
    assert (0, 4) not in log.handled, "the failed key's later record did not overtake it"

    # A batch fetched before the rewind but handed over after it is dropped: it comes again.
    await pipeline.submit([rec(0, 5, "ok")], fetched_in=before, commit=log.commit, seek=log.seek)
    await pipeline.drain()
    assert (0, 5) not in log.handled

    failing = False  # the cause is gone: the redelivery goes through, in order, and is committed
    await submit(
        pipeline, log, [rec(0, 2, "bad"), rec(0, 3, "other"), rec(0, 4, "bad"), rec(1, 9, "elsewhere")]
    )
    await pipeline.drain()
    assert log.committed[-1] == [(0, 2), (0, 3), (0, 4), (1, 9)]
    assert log.handled.index((0, 2)) < log.handled.index((0, 4))


async def test_at_most_the_given_number_of_batches_are_in_flight() -> None:
    release = asyncio.Event()

    async def handle(record: Record) -> None:
        await asyncio.wait_for(release.wait(), timeout=5)

    log = Log()
    pipeline = Pipeline(handle, keys_in_flight=8, batches_in_flight=2, pause_s=0)
    await submit(pipeline, log, [rec(0, 0, "a")])
    await submit(pipeline, log, [rec(0, 1, "b")])
    third = asyncio.create_task(submit(pipeline, log, [rec(0, 2, "c")]))
    await asyncio.sleep(0.05)
    assert not third.done(), "the third batch waits until one of the first two has ended"
    release.set()
    await third
    await pipeline.drain()
    assert len(log.committed) == 3


class BrokerGone:
    """A Kafka consumer whose commits fail: the broker is down."""

    def __init__(self) -> None:
        self.attempts = 0

    async def commit(self, offsets: object) -> None:
        self.attempts += 1
        raise ConnectionError("broker down")

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", 0)}


async def test_a_stop_does_not_wait_for_the_broker_to_come_back() -> None:
    handled = asyncio.Event()

    async def handle(record: Record) -> None:
        handled.set()

    pipeline = Pipeline(handle, keys_in_flight=8, batches_in_flight=4, pause_s=0)
    broker = BrokerGone()
    await pipeline.submit(
        [rec(0, 0, "a")],
        fetched_in=pipeline.epoch,
        commit=lambda done: pipeline.commits.add(broker, done),  # type: ignore[arg-type]
        seek=lambda starts: None,
    )
    await asyncio.wait_for(handled.wait(), timeout=5)
    await asyncio.sleep(0.05)  # the batch ends and its commit fails: retried while running
    await asyncio.wait_for(pipeline.stop(), timeout=5)
    assert 1 <= broker.attempts <= 2, "the pending commit was tried, then given up at the stop"
