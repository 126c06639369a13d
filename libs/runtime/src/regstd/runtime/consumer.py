"""Consuming events: the offset is committed only after the handler's effect is stored.

FastStream hands over each record's raw bytes and never decodes a body itself (a custom parser and
decoder), so whatever a record holds it reaches this module. Here it is checked for size, decoded as
a CloudEvent (headers, JSON, key equal to `ce_subject`, a `ce_type` of this topic) and validated
against the contract model of its type. A record that cannot be decoded or validated goes straight
to the dead-letter topic; a handler that fails is
retried with bounded backoff and then dead-lettered. In every case the partition moves on, and the
offset is committed only once the effect or the dead letter is acknowledged. If even the dead letter
cannot be written, the error propagates, FastStream seeks back (NACK_ON_ERROR) and the record is
delivered again: nothing acknowledged is ever lost.

A subscription takes records in batches: what one fetch returns, up to `batch_records`, across the
partitions it owns (decision 36). Each record is still decided on its own (its own span, its own
dead letter), but the records of different keys run side by side, up to `keys_in_flight` at once,
while those of one key (one aggregate) run in order. The batch's offsets are committed once, after
every record's effect or dead letter is stored; if any record's dead letter cannot be written, no
offset of the batch is committed, every partition of the batch is rewound to its first record, and
the whole batch comes again: what was already stored is recognised as processed and skipped.

Handlers make themselves idempotent through the aggregate store: they skip an event whose id the
aggregate already lists as processed, and store the id with the effect.
"""

import asyncio
import dataclasses
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from pydantic import ValidationError

from regstd.contracts import EventModel, Topic, event_model_for
from regstd.contracts.envelope import EVENT_TYPE_PATTERN
from regstd.runtime.events import Delivery, InvalidEvent, ReceivedCloudEvent, from_kafka
from regstd.runtime.metrics import Metrics
from regstd.runtime.telemetry import EVENT_TYPE, INSTRUMENTATION, business_attributes

log = logging.getLogger(__name__)

Handler = Callable[[Delivery[Any]], Awaitable[None]]

DLQ_TOPIC = "x-dlq-original-topic"
DLQ_PARTITION = "x-dlq-original-partition"
DLQ_OFFSET = "x-dlq-original-offset"
DLQ_GROUP = "x-dlq-consumer-group"
DLQ_ERROR = "x-dlq-error"
DLQ_ERROR_TYPE = "x-dlq-error-type"
DLQ_ATTEMPTS = "x-dlq-attempts"
DLQ_FAILED_AT = "x-dlq-failed-at"
DLQ_HEADERS = (
    DLQ_TOPIC,
    DLQ_PARTITION,
    DLQ_OFFSET,
    DLQ_GROUP,
    DLQ_ERROR,
    DLQ_ERROR_TYPE,
    DLQ_ATTEMPTS,
    DLQ_FAILED_AT,
)
"""Every header a dead letter gets besides the record's own, in the order they are written."""

PROCESSED, IGNORED, DEAD_LETTERED = "processed", "ignored", "dead_lettered"

HEARTBEAT_INTERVAL_MS = 250
SESSION_TIMEOUT_MS = 6_000
"""How long the group waits for a silent member before giving its partitions to the others: the
broker's smallest allowed (group.min.session.timeout.ms), not aiokafka's 10 s, so that after a
kill -9 the surviving instances take over consumption sooner (decision 0029)."""
MAX_VALUE_BYTES = 1_048_576


class Record(Protocol):
    """The parts of a Kafka consumer record this module reads (aiokafka's ConsumerRecord has them)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class PermanentError(Exception):
    """A handler's verdict that retrying this event cannot succeed: dead-letter it at once."""


DeadLetterSend = Callable[[str, bytes | None, bytes | None, dict[str, str]], Awaitable[None]]
"""Publishes (topic, key, value, headers) and returns once the broker acknowledged it."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing handler is retried before its event is dead-lettered."""

    max_attempts: int = 5
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after the given failed attempt (1-based): doubling, capped."""
        return float(min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1)))


class EventConsumer:
    """Dispatches one topic's events, by CloudEvents type, to the handlers of one consumer group."""

    def __init__(
        self,
        topic: Topic,
        group_id: str,
        handlers: Mapping[type[EventModel], Handler],
        dead_letter: DeadLetterSend,
        retry: RetryPolicy | None = None,
        *,
        tracer: Tracer | None = None,
        metrics: Metrics | None = None,
        batch_records: int = 500,
        keys_in_flight: int = 32,
        batch_wait_ms: int = 100,
        batches_in_flight: int = 4,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self.topic = topic
        self.max_value_bytes = max_value_bytes
        self.batch_records = max(1, batch_records)
        self.keys_in_flight = max(1, keys_in_flight)
        self.batch_wait_ms = max(1, batch_wait_ms)
        self.group_id = group_id
        self.handlers = {model.event_type: (model, handler) for model, handler in handlers.items()}
        self._dead_letter = dead_letter
        self.retry = retry or RetryPolicy()
        self.tracer = tracer or trace.get_tracer(INSTRUMENTATION)
        self.metrics = metrics or Metrics()
        self.pipeline = Pipeline(
            lambda record: self.handle(record),  # looked up at each call: tests wrap `handle`
            keys_in_flight=self.keys_in_flight,
            batches_in_flight=max(1, batches_in_flight),
            pause_s=self.retry.max_backoff_s,
        )
        self._fetched_in_epoch = 0

    async def stop_handling(self) -> None:
        """Take no further record; let those being handled end, and commit every batch that ended
        (the rest comes again after a restart). A clean stop calls it before the Kafka consumer
        closes."""
        await self.pipeline.stop()

    async def handle(self, record: Record) -> None:
        """Process one record to its end: effect stored, ignored, or dead-lettered.

        A record for a handler, or one to dead-letter, runs in a consumer span that continues the
        trace of the record's `traceparent` (the relay's send span), so events the handler writes to
        its outbox carry the same trace on. A valid event of a type no handler here wants is only
        counted: a span for it would record that nothing happened, at the cost of a span (decision
        41: publication ignores four of the five events a final vote makes).
        """
        started = time.perf_counter()
        try:
            event: ReceivedCloudEvent | InvalidEvent = self._decoded(record)
        except InvalidEvent as error:
            event = error
        if isinstance(event, ReceivedCloudEvent) and event.type not in self.handlers:
            if event_model_for(event.type) is None:
                log.info("ignoring an event type this code does not know", extra={"ce_type": event.type})
            outcome = IGNORED
        else:
            with self.tracer.start_as_current_span(
                f"process {record.topic}",
                context=propagate.extract(_trace_headers(record.headers)),
                kind=SpanKind.CONSUMER,
                attributes=self._span_attributes(record),
            ) as span:
                if isinstance(event, InvalidEvent):
                    await self.dead_letter(record, event, attempts=1)
                    outcome = DEAD_LETTERED
                else:
                    outcome = await self._handle(record, event, span)
                span.set_attribute("regstd.outcome", outcome)
        self.metrics.consumed.labels(record.topic, self.group_id, outcome).inc()
        self.metrics.processing.labels(record.topic, self.group_id).observe(time.perf_counter() - started)

    def _decoded(self, record: Record) -> ReceivedCloudEvent:
        """The record as a CloudEvent of this topic; InvalidEvent when it is not one."""
        size = len(record.value or b"")
        if size > self.max_value_bytes:
            raise InvalidEvent(f"the value of {size} bytes is over the limit of {self.max_value_bytes}")
        event = from_kafka(record.key, record.value, record.headers)
        check_type_of_topic(self.topic, event.type)
        return event

    async def handle_batch(self, records: Sequence[Record]) -> None:
        """Process a fetched batch to its end: every record's effect stored, ignored, or dead-lettered.

        Records are grouped by partition and key, in the order they came: each group runs in order
        (after any earlier record of its key still in flight), the groups side by side (at most
        `keys_in_flight` at once), so the store calls of different aggregates overlap while one
        aggregate still sees its events in order. A poison record is dead-lettered where it stands
        and its group goes on. When a record cannot be finished even by a dead letter, its group
        stops there, the other groups finish, and the first such error is raised: nothing of the
        batch may be committed, and until `Pipeline.rewind` later records of that key do not run.
        """
        results = await asyncio.gather(*self.pipeline.lanes(records), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _span_attributes(self, record: Record) -> dict[str, Any]:
        return {
            "messaging.system": "kafka",
            "messaging.operation": "process",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.message.offset": record.offset,
            "messaging.kafka.message.key": (record.key or b"").decode("utf-8", "replace"),
            "messaging.consumer.group.name": self.group_id,
        }

    async def _handle(self, record: Record, event: ReceivedCloudEvent, span: Span) -> str:
        span.set_attributes(
            {"messaging.message.id": event.id, EVENT_TYPE: event.type, **business_attributes(event.data)}
        )
        model, handler = self.handlers[event.type]
        try:
            data = model.model_validate(event.data)
        except ValidationError as error:
            await self.dead_letter(record, error, attempts=1)
            return DEAD_LETTERED
        delivery = Delivery(
            id=event.id,
            type=event.type,
            source=event.source,
            subject=event.subject,
            time=event.time,
            data=data,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            traceparent=event.traceparent,
        )
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                await handler(delivery)
                return PROCESSED
            except PermanentError as error:
                self.metrics.failed.labels(record.topic, self.group_id).inc()
                await self.dead_letter(record, error, attempts=attempt)
                return DEAD_LETTERED
            except Exception as error:
                self.metrics.failed.labels(record.topic, self.group_id).inc()
                if attempt == self.retry.max_attempts:
                    await self.dead_letter(record, error, attempts=attempt)
                    return DEAD_LETTERED
                span.add_event(
                    "handler failed; retrying",
                    {
                        "attempt": attempt,
                        "exception.type": type(error).__name__,
                        "exception.message": str(error),
                    },
                )
                log.warning(
                    "handler failed; retrying",
                    extra={
                        "ce_id": event.id,
                        "ce_type": event.type,
                        "attempt": attempt,
                        "error": repr(error),
                    },
                )
                await asyncio.sleep(self.retry.backoff(attempt))
        return DEAD_LETTERED  # unreachable: the last attempt returns

    async def dead_letter(self, record: Record, error: BaseException, *, attempts: int) -> None:
        """Send the record unchanged to the dead-letter topic, with where it came from and why.

        The current span (the record's consumer span) ends in error, and the dead-letter metric counts it.
        """
        headers: dict[str, str] = {}
        for name, raw in record.headers:
            headers[name] = raw.decode("utf-8", "replace")
        headers |= {
            DLQ_TOPIC: record.topic,
            DLQ_PARTITION: str(record.partition),
            DLQ_OFFSET: str(record.offset),
            DLQ_GROUP: self.group_id,
            DLQ_ERROR: str(error)[:2000],
            DLQ_ERROR_TYPE: type(error).__name__,
            DLQ_ATTEMPTS: str(attempts),
            DLQ_FAILED_AT: datetime.now(UTC).isoformat(),
        }
        await self._dead_letter(self.topic.dead_letter, record.key, record.value, headers)
        span = trace.get_current_span()
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"dead-lettered: {type(error).__name__}: {error}"[:500]))
        span.set_attributes({"regstd.dead_letter.topic": self.topic.dead_letter, "regstd.attempts": attempts})
        self.metrics.dead_letters.labels(record.topic, self.group_id).inc()
        log.error(
            "dead-lettered a message",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error": repr(error),
            },
        )

    def subscribe(self, broker: KafkaBroker) -> None:
        """Register this consumer on a FastStream broker: each fetch is a batch, handed to the
        pipeline, which commits it once all its effects and those of every earlier batch are stored,
        while later batches are fetched and handled (decision 40)."""

        async def on_batch(message: KafkaMessage) -> None:
            raw = message.raw_message
            records: tuple[Record, ...] = raw if isinstance(raw, tuple) else (raw,)
            consumer: AIOKafkaConsumer = message.consumer
            self._observe_lag(message, records)
            await self.pipeline.submit(
                records,
                fetched_in=self._fetched_in_epoch,
                commit=lambda done: self.pipeline.commits.add(consumer, done),
                seek=lambda starts: _seek(consumer, starts),
            )

        subscriber = broker.subscriber(
            self.topic.name,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            # A dead letter's replay writes in a Kafka transaction (`dead_letters`): one that
            # aborts must never be handled.
            isolation_level="read_committed",
            # What one fetch returns, across this member's partitions, is one batch (decision 36).
            batch=True,
            max_records=self.batch_records,
            batch_timeout_ms=self.batch_wait_ms,
            # This module commits (`Commits`): only what a batch handled, and only after its
            # effects are stored; FastStream commits nothing, and auto-commit is off.
            ack_policy=AckPolicy.MANUAL,
            # A member learns of a rebalance from its next heartbeat (every 3 s by default), and a
            # group settles only when every member has rejoined: with several consumers joining at
            # start, that wait was most of a service's start-up.
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            title=f"{self.group_id}:{self.topic.name}",
        )
        # FastStream's batch subscriber sleeps as long again after a fetch that found nothing, and a
        # record arriving during that sleep waits for it (up to 20 ms a hop at the old setting).
        # aiokafka's `getmany` already returns the moment records arrive, so the subscription's own
        # fetch polls again at once instead.
        subscriber.get_msg = self._fetch  # type: ignore[method-assign]
        # The bodies stay bytes: a JSON content-type must not make FastStream decode them before
        # this module can dead-letter what does not decode (issue 14).
        subscriber(on_batch, parser=_parse_any_headers, decoder=_raw_body)

    async def _fetch(self, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[Any, Any], ...]:
        """One batch: what the consumer has fetched, up to `batch_records`, across its partitions; it
        waits at most `batch_wait_ms` for the first record and returns as soon as one is there."""
        fetched = await consumer.getmany(timeout_ms=self.batch_wait_ms, max_records=self.batch_records)
        # The loop hands this batch to `on_batch` next: it drops it if a rewind came in between.
        self._fetched_in_epoch = self.pipeline.epoch
        return tuple(chain.from_iterable(fetched.values()))

    def _observe_lag(self, message: KafkaMessage, records: Sequence[Record]) -> None:
        """Messages left behind the batch in each of its partitions, as of the consumer's last fetch."""
        consumer = getattr(message, "consumer", None)
        highwater = getattr(consumer, "highwater", None)
        if highwater is None:
            return
        last: dict[tuple[str, int], int] = {}
        for record in records:
            last[(record.topic, record.partition)] = max(
                record.offset, last.get((record.topic, record.partition), -1)
            )
        for (topic, partition), offset in last.items():
            end = highwater(TopicPartition(topic, partition))
            if isinstance(end, int):
                self.metrics.lag.labels(topic, str(partition), self.group_id).set(max(0, end - offset - 1))


Key = tuple[str, int, bytes | None]
"""A record's lane: its topic, partition and key."""


class Pipeline:
    """Batches in flight one after another (decision 40).

    A subscription hands each fetched batch over (`submit`) and fetches the next without waiting for
    it to end, so a record is never held up by a slow record of another key fetched before it. Each
    key's records still run in order, across batches: a lane starts after the key's previous lane
    has ended. Offsets are committed in batch order: a batch's once all its records and every earlier
    batch have ended well. When a record cannot be finished (not even a dead letter could be
    written), nothing from it on is committed: every partition with uncommitted records is rewound
    to its first such record (`rewind`), after a pause, and those records come again; what was
    already stored has no second effect. Until then, later records of the failed key do not run, so
    a key's events are never applied out of order.
    """

    def __init__(
        self,
        handle: Callable[[Record], Awaitable[None]],
        *,
        keys_in_flight: int,
        batches_in_flight: int,
        pause_s: float,
    ) -> None:
        self._handle = handle
        self._keys = asyncio.Semaphore(keys_in_flight)
        self._batches = asyncio.Semaphore(batches_in_flight)
        self.pause_s = pause_s
        self.commits = Commits()
        self.epoch = 0
        """Counts rewinds: lanes and batches started before one are not continued or committed."""
        self._lanes: dict[Key, tuple[int, asyncio.Task[None]]] = {}
        self._last: asyncio.Task[bool] | None = None
        self._last_epoch = 0
        self._stopping = False
        self._uncommitted: deque[Sequence[Record]] = deque()

    def lanes(self, records: Sequence[Record]) -> list[asyncio.Task[None]]:
        """Start the batch's lanes, one per key, each after the key's lane before it."""
        groups: dict[Key, list[Record]] = {}
        for record in records:
            groups.setdefault((record.topic, record.partition, record.key), []).append(record)
        started = []
        for key, lane in groups.items():
            task = asyncio.create_task(self._run_lane(lane, self._lanes.get(key), self.epoch))
            self._lanes[key] = (self.epoch, task)
            task.add_done_callback(partial(self._forget, key))
            started.append(task)
        return started

    def _forget(self, key: Key, done: asyncio.Task[None]) -> None:
        # A lane that failed stays, so that the key's later records wait for the rewind.
        if self._lanes.get(key, (0, None))[1] is done and not done.cancelled() and done.exception() is None:
            del self._lanes[key]

    async def _run_lane(
        self, lane: list[Record], before: tuple[int, asyncio.Task[None]] | None, epoch: int
    ) -> None:
        if before is not None:
            before_epoch, previous = before
            if before_epoch == epoch:
                await previous  # its failure is this lane's: an earlier record of the key is not done
            else:
                await asyncio.wait([previous])  # from before a rewind: only let it end first
        async with self._keys:
            for record in lane:
                # A turn of the loop first: a stop asked for meanwhile is seen before the record
                # starts, even when handlers never wait (the city's).
                await asyncio.sleep(0)
                if self._stopping:
                    raise PipelineStopped("the subscription is stopping: this record comes again")
                await self._handle(record)

    async def submit(
        self,
        records: Sequence[Record],
        *,
        fetched_in: int,
        commit: Callable[[Sequence[Record]], None],
        seek: Callable[[dict[TopicPartition, int]], None],
    ) -> None:
        """Start a fetched batch and return; waits first while `batches_in_flight` have not ended.
        `fetched_in` is the epoch the batch was fetched in: one fetched before a rewind is dropped
        (its records come again from the rewound position). `commit` gets the batch once it may be
        committed, `seek` the positions of a rewind."""
        await self._batches.acquire()
        if fetched_in != self.epoch:
            self._batches.release()
            return
        # Commits follow the batches of this epoch; batches from before a rewind are never committed.
        previous = self._last if self._last_epoch == self.epoch else None
        lanes = self.lanes(records)
        self._uncommitted.append(records)
        self._last, self._last_epoch = (
            asyncio.create_task(self._end(records, lanes, previous, self.epoch, commit, seek)),
            self.epoch,
        )

    async def _end(
        self,
        records: Sequence[Record],
        lanes: list[asyncio.Task[None]],
        previous: asyncio.Task[bool] | None,
        epoch: int,
        commit: Callable[[Sequence[Record]], None],
        seek: Callable[[dict[TopicPartition, int]], None],
    ) -> bool:
        """Wait for the batch and the one before it; commit it, or rewind on the first failure."""
        try:
            results = await asyncio.gather(*lanes, return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            earlier_ok = previous is None or await previous
            if epoch != self.epoch or (failures and self._stopping):
                return False  # rewound meanwhile, or stopping: these records come again
            if not failures and earlier_ok:
                assert self._uncommitted[0] is records, "batches end in the order they came"
                self._uncommitted.popleft()
                commit(records)
                return True
            if failures:
                log.error(
                    "a record could not be finished; rewinding to the first uncommitted record",
                    extra={"error": repr(failures[0]), "pause_s": self.pause_s},
                )
                # At this pace, not in a tight loop. Batches fetched meanwhile fail after this one.
                await asyncio.sleep(self.pause_s)
                if epoch == self.epoch:
                    seek(self.rewind())
            return False
        finally:
            self._batches.release()

    def rewind(self) -> dict[TopicPartition, int]:
        """Start a new epoch and give, per partition, the first record not committed: where to seek.
        Lanes that failed no longer hold their keys back."""
        self.epoch += 1
        starts: dict[TopicPartition, int] = {}
        for batch in self._uncommitted:
            for record in batch:
                partition = TopicPartition(record.topic, record.partition)
                starts[partition] = min(starts.get(partition, record.offset), record.offset)
        self._uncommitted.clear()
        return starts

    async def drain(self) -> None:
        """Wait until every batch submitted has ended and the commits are sent."""
        while self._last is not None and not self._last.done():
            await asyncio.wait([self._last])  # a rewind may start more meanwhile
        if self._stopping:
            await self.commits.stop()
        else:
            await self.commits.flush()

    async def stop(self) -> None:
        """Start no further record (those not started are not committed and come again), let the
        records being handled end, and send the commits of the batches that ended."""
        self._stopping = True
        await self.drain()


class PipelineStopped(Exception):
    """A record not started because its subscription is stopping."""


def _seek(consumer: AIOKafkaConsumer, starts: dict[TopicPartition, int]) -> None:
    """Move each partition this member still owns back to the given offset."""
    owned = consumer.assignment()
    for partition, offset in starts.items():
        if partition in owned:
            consumer.seek(partition, offset)


class Commits:
    """The offsets of handled batches, committed in the background one request at a time.

    A batch's offsets are handed over only after all its effects are stored, so whatever is
    committed is done. The next batch is fetched and handled while the commit travels (it took a
    fifth of a busy subscription's time when awaited in line, decision 38); offsets handed over
    meanwhile go in the next request (at most one every `every_s`), so a partition's commits never
    go backwards. A commit that
    fails is tried again with the next one for the partitions this member still owns; for the
    others the new owner starts from the last committed offset, and a handled record delivered again
    has no second effect.
    """

    def __init__(self, retry_after_s: float = 0.5, every_s: float = 0.1) -> None:
        self.retry_after_s = retry_after_s
        # At most one commit per `every_s`: each is a write to the group's offsets topic, and a busy
        # subscription ended dozens of batches a second. A crash leaves at most this much more to
        # deliver again, which has no second effect.
        self.every_s = every_s
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def add(self, consumer: AIOKafkaConsumer, records: Sequence[Record]) -> None:
        """Commit, soon, the position after each partition's last record in `records`."""
        for record in records:
            partition = TopicPartition(record.topic, record.partition)
            self._pending[partition] = max(self._pending.get(partition, -1), record.offset + 1)
        self._consumer = consumer
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._commit_pending(), name="consumer-commits")

    async def flush(self) -> None:
        """Wait for the commits handed over so far (a failure is logged, not raised)."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        """Send what is pending once more and stop: a commit that fails now (the broker gone) is not
        tried again, so a stop never waits for Kafka to come back; those records come again."""
        self._stopping = True
        await self.flush()

    async def _commit_pending(self) -> None:
        while self._pending and self._consumer is not None:
            consumer = self._consumer
            offsets, self._pending = self._pending, {}
            try:
                await consumer.commit(offsets)
                if not self._stopping:
                    await asyncio.sleep(self.every_s)  # what ends meanwhile goes in the next one
            except Exception as error:
                owned = set() if self._stopping else consumer.assignment()
                kept = {tp: offset for tp, offset in offsets.items() if tp in owned}
                log.warning(
                    "could not commit offsets; trying again with the next commit",
                    extra={"error": repr(error), "kept": len(kept), "dropped": len(offsets) - len(kept)},
                )
                for tp, offset in kept.items():
                    self._pending[tp] = max(self._pending.get(tp, -1), offset)
                if self._pending:
                    await asyncio.sleep(self.retry_after_s)


def check_type_of_topic(topic: Topic, event_type: str) -> None:
    """Refuse a `ce_type` that cannot travel on this topic: malformed, of another service or major
    version, or a known type of another topic. A well-formed unknown type of the topic's own service
    passes (a later minor's event, ignored by consumers that do not know it; decision 4)."""
    match = _TOPIC_NAME.match(topic.name)
    service, major = (match.group(1), match.group(2)) if match else ("", "")
    known = event_model_for(event_type)
    if known is not None:
        if known.topic.name != topic.name:
            raise InvalidEvent(f"ce_type {event_type!r} travels on {known.topic.name}, not {topic.name}")
        return
    if not (
        EVENT_TYPE_PATTERN.match(event_type)
        and event_type.startswith(f"cn.regstd.{service}.")
        and event_type.endswith(f".v{major}")
    ):
        raise InvalidEvent(f"ce_type {event_type!r} is not an event type of {topic.name}")


_TOPIC_NAME = re.compile(r"^regstd\.([a-z]+(?:-[a-z]+)*)\.[^.]+\.v([1-9][0-9]*)$")


async def _parse_any_headers(
    records: tuple[ConsumerRecord[Any, Any], ...], default: Callable[[Any], Awaitable[Any]]
) -> Any:
    """FastStream's batch parser, but a header that is not UTF-8 does not stop it (it would, for
    ever): FastStream sees it with replacement characters, the handler the records as received."""
    try:
        return await default(records)
    except UnicodeDecodeError:
        readable = tuple(
            dataclasses.replace(record, headers=[(name, _readable(raw)) for name, raw in record.headers])
            for record in records
        )
        message = await default(readable)
        message.raw_message = records
        return message


def _readable(raw: bytes) -> bytes:
    return raw.decode("utf-8", "replace").encode()


async def _raw_body(message: Any) -> Any:
    """The record's value as bytes: decoding it is this module's work."""
    return message.body


def _trace_headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    return {
        name: raw.decode("utf-8", "replace") for name, raw in headers if name in ("traceparent", "tracestate")
    }


def broker_dead_letter(broker: KafkaBroker) -> DeadLetterSend:
    """A dead-letter sender that publishes through the broker's idempotent producer and awaits the ack."""

    async def send(topic: str, key: bytes | None, value: bytes | None, headers: dict[str, str]) -> None:
        await broker.publish(value or b"", topic, key=key, headers=headers)

    return send
