"""The outbox relay: publishes the events waiting in aggregate documents, then removes them.

Each round claims aggregates with pending events under a lease (so two instances do not publish
the same outbox at once), sends all their events concurrently to the idempotent producer, waits
for the broker's acknowledgement of every one, and only then pulls the acknowledged entries from
the documents. A relay that dies between sending and pulling leaves the events in place: they are
sent again after the lease expires, with the same CloudEvents id, and consumers drop the repeat.

Every event is sent in a producer span that continues the trace stored with the event (the request or
consumed event that caused it): the span is a child of that context, and its own traceparent goes
with the record, so the consumer continues the same trace (decision 0013).

The relay sleeps until a save in this process wakes it, or until the poll interval passes (work
left by another instance or a crash).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from regstd.runtime.events import TRACEPARENT, KafkaRecord, PendingEvent, to_kafka
from regstd.runtime.metrics import Metrics
from regstd.runtime.store import OUTBOX, OUTBOX_COUNT, RELAY_LEASE, Document
from regstd.runtime.telemetry import EVENT_TYPE, INSTRUMENTATION, business_attributes, traceparent_of

log = logging.getLogger(__name__)

Send = Callable[[KafkaRecord], Awaitable[Awaitable[Any]]]
"""Hands one record to the producer and returns an awaitable that completes on the broker's ack."""


@dataclass(frozen=True)
class Claimed:
    """An aggregate's pending events, claimed by this relay."""

    collection: AsyncCollection[Document]
    aggregate_id: str
    events: tuple[PendingEvent, ...]
    entries: tuple[Document, ...]
    """The outbox entries exactly as stored: removal matches whole entries (see acknowledge)."""


class OutboxRelay:
    """Moves pending events from aggregate documents to Kafka; safe with several instances."""

    def __init__(
        self,
        collections: Sequence[AsyncCollection[Document]],
        send: Send,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        lease_s: float = 30.0,
        owner: str | None = None,
        tracer: Tracer | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.collections = list(collections)
        self._send = send
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.lease = timedelta(seconds=lease_s)
        self.owner = owner or uuid4().hex
        self.tracer = tracer or trace.get_tracer(INSTRUMENTATION)
        self.metrics = metrics or Metrics()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def watch(self, collection: AsyncCollection[Document]) -> None:
        """Relay the outboxes of one more collection."""
        self.collections.append(collection)

    def notify(self) -> None:
        """Wake the relay: a save in this process left events to publish."""
        self._wake.set()

    async def claim(self, collection: AsyncCollection[Document]) -> list[Claimed]:
        """Lease up to a batch of aggregates with pending events, oldest lease first."""
        now = datetime.now(UTC)
        claimable = {
            OUTBOX_COUNT: {"$gt": 0},
            "$or": [{RELAY_LEASE: None}, {f"{RELAY_LEASE}.until": {"$lt": now}}],
        }
        candidates = [
            doc["_id"]
            async for doc in collection.find(claimable, projection={"_id": True}).limit(self.batch_size)
        ]
        if not candidates:
            return []
        lease = {"owner": self.owner, "until": now + self.lease}
        # The filter repeats the claimable condition, so of two relays racing only one wins each document.
        await collection.update_many(
            {"_id": {"$in": candidates}, **claimable}, {"$set": {RELAY_LEASE: lease}}
        )
        claimed = collection.find(
            {
                "_id": {"$in": candidates},
                f"{RELAY_LEASE}.owner": self.owner,
                OUTBOX_COUNT: {"$gt": 0},
            },
            projection={OUTBOX: True},
        )
        return [
            Claimed(
                collection,
                doc["_id"],
                tuple(PendingEvent.from_document(e) for e in doc[OUTBOX]),
                tuple(doc[OUTBOX]),
            )
            async for doc in claimed
        ]

    async def publish(self, claimed: Sequence[Claimed]) -> list[Claimed]:
        """Send every claimed event and wait for the acks; return the aggregates fully acknowledged."""
        acks: list[tuple[Claimed, list[tuple[Span, Awaitable[Any]]]]] = []
        for item in claimed:
            sent: list[tuple[Span, Awaitable[Any]]] = []
            for event in item.events:
                span = self._send_span(event)
                with trace.use_span(span, end_on_exit=False, record_exception=False):
                    try:
                        ack = await self._send(to_kafka(event, traceparent=traceparent_of(span)))
                    except Exception as error:
                        ack = _failed(error)
                sent.append((span, ack))
            acks.append((item, sent))
        delivered: list[Claimed] = []
        for item, sent in acks:
            results = await asyncio.gather(*(ack for _, ack in sent), return_exceptions=True)
            for (span, _), event, result in zip(sent, item.events, results, strict=True):
                if isinstance(result, BaseException):
                    span.record_exception(result)
                    span.set_status(Status(StatusCode.ERROR, f"not acknowledged: {result!r}"[:500]))
                    self.metrics.publish_failures.labels(event.topic).inc()
                    with trace.use_span(span, end_on_exit=False):  # the log line names the trace
                        log.warning(
                            "relay could not publish",
                            extra={"aggregate": item.aggregate_id, "ce_id": event.id, "error": repr(result)},
                        )
                else:
                    self.metrics.published.labels(event.topic).inc()
                span.end()
            if not any(isinstance(r, BaseException) for r in results):
                delivered.append(item)
        return delivered

    def _send_span(self, event: PendingEvent) -> Span:
        """A producer span for one event, a child of the trace context stored with it."""
        parent = propagate.extract({TRACEPARENT: event.traceparent} if event.traceparent else {})
        return self.tracer.start_span(
            f"send {event.topic}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation": "publish",
                "messaging.operation.type": "send",
                "messaging.destination.name": event.topic,
                "messaging.kafka.message.key": event.subject,
                "messaging.message.id": event.id,
                EVENT_TYPE: event.type,
                "regstd.relay.owner": self.owner,
                **business_attributes(event.data),
            },
        )

    async def backlog(self) -> dict[str, tuple[int, float]]:
        """Per collection: events waiting and the age in seconds of the oldest (0 when none waits).

        Reads at most a batch of aggregates with pending events per collection: enough to see a
        backlog grow; the exact count beyond that is not worth a full scan on every scrape.
        """
        now = datetime.now(UTC)
        found: dict[str, tuple[int, float]] = {}
        for collection in self.collections:
            count, oldest = 0, now
            pending = collection.find({OUTBOX_COUNT: {"$gt": 0}}, projection={OUTBOX: True})
            async for doc in pending.limit(self.batch_size):
                for entry in doc.get(OUTBOX, ()):
                    count += 1
                    oldest = min(oldest, PendingEvent.from_document(entry).time)
            found[collection.name] = (count, (now - oldest).total_seconds())
        return found

    async def acknowledge(self, claimed: Sequence[Claimed], delivered: Sequence[Claimed]) -> None:
        """Pull the delivered events from their documents and release every lease taken."""
        done = {(id(c.collection), c.aggregate_id) for c in delivered}
        by_collection: dict[int, tuple[AsyncCollection[Document], list[UpdateOne]]] = {}
        for item in claimed:
            ops = by_collection.setdefault(id(item.collection), (item.collection, []))[1]
            if (id(item.collection), item.aggregate_id) in done:
                # $pullAll removes entries equal to the ones read. A $pull by condition would be
                # simpler, but FerretDB ignores conditions in $pull without an error.
                update: Document = {
                    "$pullAll": {OUTBOX: list(item.entries)},
                    "$inc": {OUTBOX_COUNT: -len(item.entries)},
                    "$unset": {RELAY_LEASE: ""},
                }
            else:
                update = {"$unset": {RELAY_LEASE: ""}}
            ops.append(UpdateOne({"_id": item.aggregate_id, f"{RELAY_LEASE}.owner": self.owner}, update))
        for collection, ops in by_collection.values():
            await collection.bulk_write(ops, ordered=False)

    async def relay_once(self) -> int:
        """One round over every collection; returns how many events were published."""
        published = 0
        for collection in self.collections:
            claimed = await self.claim(collection)
            if not claimed:
                continue
            delivered = await self.publish(claimed)
            await self.acknowledge(claimed, delivered)
            published += sum(len(c.events) for c in delivered)
        return published

    async def run(self) -> None:
        """Relay until cancelled: immediately when woken, otherwise every poll interval."""
        while True:
            self._wake.clear()
            try:
                published = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay round failed; retrying after the poll interval")
                published = 0
            if published:
                continue  # there may be more than one batch waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)

    def start(self) -> None:
        """Run the relay in the background."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop the background relay; pending events stay in their documents."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def _failed(error: Exception) -> Any:
    """An acknowledgement that never comes: the producer refused the record outright."""
    raise error
