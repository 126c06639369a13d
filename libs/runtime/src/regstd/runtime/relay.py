"""The outbox relay: publishes the events waiting in aggregate documents, then removes them.

Each round claims aggregates with pending events under a lease (so two instances do not publish
the same outbox at once), sends all their events concurrently to the idempotent producer, waits
for the broker's acknowledgement of every one, and only then pulls the acknowledged entries from
the documents. A relay that dies between sending and pulling leaves the events in place: they are
sent again after the lease expires, with the same CloudEvents id, and consumers drop the repeat.

Every event is sent in a producer span that continues the trace stored with the event (the request or
consumed event that caused it): the span is a child of that context, and its own traceparent goes
with the record, so the consumer continues the same trace (decision 0013).

A save in this process whose aggregate had nothing waiting takes this relay's lease in the same
write and hands the entries over (`hand_over`): the relay publishes them and acknowledges, with no
claim and no read (decision 0020). Any other save names its aggregate (`notify`), and the relay
claims exactly those documents by `_id $in`: one update to lease them, one read of those it won
(decisions 0019, 0036). The scan for `_outbox_count > 0` runs only
every poll interval, as the fallback that finds work left by another instance or a crash.

Leases are short (5 s by default) and the live holder renews them (every second by default) for as
long as it holds the aggregates: handed over, claimed, or in flight. So a live relay keeps what it
holds however long the broker takes, and the leases of an instance killed with -9 run out within
one lease, after which any relay's next fallback scan claims its events (decision 0029).
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
from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from regstd.runtime.events import TRACEPARENT, KafkaRecord, PendingEvent, to_kafka
from regstd.runtime.metrics import Metrics
from regstd.runtime.store import OUTBOX, OUTBOX_COUNT, RELAY_LEASE, Document
from regstd.runtime.telemetry import EVENT_TYPE, INSTRUMENTATION, business_attributes, traceparent_of

log = logging.getLogger(__name__)

LEASE_CLAIM = f"{RELAY_LEASE}.claim"

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
    claim: str | None = None
    """The token of the lease they were taken under: the acknowledgement touches the document only
    while it still carries that very lease, not a newer one of the same relay (None: any lease of
    this relay, for callers that hand over without a token)."""


class OutboxRelay:
    """Moves pending events from aggregate documents to Kafka; safe with several instances."""

    def __init__(
        self,
        collections: Sequence[AsyncCollection[Document]],
        send: Send,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        lease_s: float = 5.0,
        renew_every_s: float | None = None,
        publish_delay_s: float = 0.0,
        owner: str | None = None,
        tracer: Tracer | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.collections = list(collections)
        self._send = send
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.lease = timedelta(seconds=lease_s)
        self.renew_every_s = renew_every_s if renew_every_s is not None else lease_s / 5
        if not 0 < self.renew_every_s < lease_s:
            raise ValueError(f"renew_every_s must be above 0 and below the lease ({lease_s} s)")
        # Fault tests only: a pause between claiming and sending, as a slow broker would cause.
        self.publish_delay_s = publish_delay_s
        self.owner = owner or uuid4().hex
        self.tracer = tracer or trace.get_tracer(INSTRUMENTATION)
        self.metrics = metrics or Metrics()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        # Per collection name, the aggregates whose lease this relay holds and renews.
        self._held: dict[str, tuple[AsyncCollection[Document], set[str]]] = {}
        # Per collection name, the aggregates saved here with events, oldest first (a dict keeps order).
        self._notified: dict[str, dict[str, None]] = {}
        # Per collection name, the aggregates saved here under this relay's lease, with their entries.
        self._handed: dict[str, list[Claimed]] = {}
        self._scan_again = False

    def watch(self, collection: AsyncCollection[Document]) -> None:
        """Relay the outboxes of one more collection."""
        self.collections.append(collection)

    def notify(self, collection: str | None = None, aggregate_id: str | None = None) -> None:
        """Wake the relay: a save in this process left events to publish.

        Named with its collection and id, the aggregate is claimed by `_id` in the next round, without
        waiting for the fallback scan; without them, the next round scans as well.
        """
        if collection is not None and aggregate_id is not None:
            self._notified.setdefault(collection, {})[aggregate_id] = None
        else:
            self._scan_again = True
        self._wake.set()

    def _claim_lease(self, now: datetime) -> Document:
        """A lease for one claim. Its own token tells the documents this claim won from those this
        relay already holds (handed over and still in flight), which must not be published twice."""
        return {"owner": self.owner, "until": now + self.lease, "claim": uuid4().hex}

    def new_lease(self) -> Document | None:
        """A lease of this relay from now, for a save to store with the events it hands over; None
        while the relay is not running (stopping, say), so that no save waits for a lease to expire."""
        if self._task is None or self._task.done():
            return None
        return {"owner": self.owner, "until": datetime.now(UTC) + self.lease, "claim": uuid4().hex}

    def hand_over(
        self,
        collection: AsyncCollection[Document],
        aggregate_id: str,
        entries: Sequence[Document],
        lease: Document | None = None,
    ) -> None:
        """Publish the entries of an aggregate just saved under this relay's lease, in the next round.

        The entries must be exactly those stored (the acknowledgement matches them), and `lease` the
        one stored with them (from `new_lease`); if this process dies first, the lease expires and the
        fallback scan of any relay finds them.
        """
        events = tuple(PendingEvent.from_document(e) for e in entries)
        self._hold(collection, [aggregate_id])
        self._handed.setdefault(collection.name, []).append(
            Claimed(collection, aggregate_id, events, tuple(entries), (lease or {}).get("claim"))
        )
        self._wake.set()

    def held(self) -> dict[str, set[str]]:
        """Per collection name, the aggregates whose lease this relay holds and renews now."""
        return {name: set(ids) for name, (_, ids) in self._held.items() if ids}

    def _hold(self, collection: AsyncCollection[Document], aggregate_ids: Sequence[str]) -> None:
        self._held.setdefault(collection.name, (collection, set()))[1].update(aggregate_ids)

    def _let_go(self, collection: AsyncCollection[Document], aggregate_ids: Sequence[str]) -> None:
        held = self._held.get(collection.name)
        if held is not None:
            held[1].difference_update(aggregate_ids)

    async def renew(self) -> int:
        """Extend the lease of every aggregate this relay holds to a full lease from now; returns how
        many documents still carried this relay's lease.

        The filter names this relay as owner, so a lease already released, or taken over by another
        relay after it ran out (a renewal that failed for longer than a lease), is left alone.
        """
        renewed = 0
        until = datetime.now(UTC) + self.lease
        for collection, ids in list(self._held.values()):
            if not ids:
                continue
            result = await collection.update_many(
                {"_id": {"$in": list(ids)}, f"{RELAY_LEASE}.owner": self.owner},
                {"$set": {f"{RELAY_LEASE}.until": until}},
            )
            renewed += result.modified_count
        return renewed

    async def _renew_forever(self) -> None:
        """Renew the held leases every `renew_every_s` until cancelled; a failed renewal is retried
        at the next tick (a lease outlives several missed ones)."""
        while True:
            await asyncio.sleep(self.renew_every_s)
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("relay could not renew its leases", extra={"error": repr(error)})

    def has_notified(self) -> bool:
        """Whether aggregates handed over or named by `notify` wait for a round."""
        return any(self._notified.values()) or any(self._handed.values())

    def take_handed(self, collection: AsyncCollection[Document]) -> list[Claimed]:
        """Up to a batch of the aggregates handed over for this collection, oldest first."""
        waiting = self._handed.get(collection.name)
        if not waiting:
            return []
        taken, waiting[:] = waiting[: self.batch_size], waiting[self.batch_size :]
        return taken

    async def claim_notified(self, collection: AsyncCollection[Document]) -> list[Claimed]:
        """Lease up to a batch of the aggregates named by `notify`, and read them by `_id`.

        The lease is taken by one conditional update of the named ids, on the same condition as the
        scan's, so of two relays only one wins each document; the documents won are then read in one
        query by `_id $in` and this claim's lease token (decision 36). An aggregate leased by another
        relay, or already emptied, is left alone: that relay publishes it, or there is nothing left.
        One update and one read per round, not one per aggregate. If the claim fails, the ids go back
        on the list for the next round.
        """
        waiting = self._notified.get(collection.name)
        if not waiting:
            return []
        ids = list(waiting)[: self.batch_size]
        for aggregate_id in ids:
            del waiting[aggregate_id]
        now = datetime.now(UTC)
        lease = self._claim_lease(now)
        try:
            await collection.update_many(
                {"_id": {"$in": ids}, **_claimable(now)}, {"$set": {RELAY_LEASE: lease}}
            )
            found = collection.find(
                {"_id": {"$in": ids}, LEASE_CLAIM: lease["claim"], OUTBOX_COUNT: {"$gt": 0}},
                projection={OUTBOX: True},
            )
            docs = [doc async for doc in found]
        except Exception:
            for aggregate_id in ids:
                waiting[aggregate_id] = None
            raise
        won = [_claimed(collection, doc, lease["claim"]) for doc in docs]
        self._hold(collection, [c.aggregate_id for c in won])
        return won

    async def claim(self, collection: AsyncCollection[Document]) -> list[Claimed]:
        """Lease up to a batch of aggregates with pending events, found by scanning (the fallback)."""
        now = datetime.now(UTC)
        claimable = _claimable(now)
        candidates = [
            doc["_id"]
            async for doc in collection.find(claimable, projection={"_id": True}).limit(self.batch_size)
        ]
        # A full batch may mean more is waiting: scan again in the next round, not after the interval.
        self._scan_again = self._scan_again or len(candidates) >= self.batch_size
        if not candidates:
            return []
        lease = self._claim_lease(now)
        # The filter repeats the claimable condition, so of two relays racing only one wins each document.
        await collection.update_many(
            {"_id": {"$in": candidates}, **claimable}, {"$set": {RELAY_LEASE: lease}}
        )
        claimed = collection.find(
            {
                "_id": {"$in": candidates},
                LEASE_CLAIM: lease["claim"],
                OUTBOX_COUNT: {"$gt": 0},
            },
            projection={OUTBOX: True},
        )
        won = [_claimed(collection, doc, lease["claim"]) async for doc in claimed]
        self._hold(collection, [c.aggregate_id for c in won])
        return won

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
        """Remove the delivered events from their documents and release every lease taken.

        A document whose outbox still holds exactly the entries read (its count unchanged, its lease
        still this relay's: nobody else can have added or removed entries) is emptied by one update
        per collection and count. Any other document (events saved meanwhile) gets its own update
        that pulls exactly the entries read. So the common case costs one update per round instead of
        one per aggregate.
        """
        done = {(id(c.collection), c.aggregate_id) for c in delivered}
        by_collection: dict[int, tuple[AsyncCollection[Document], list[Claimed], list[Claimed]]] = {}
        for item in claimed:
            _, sent, unsent = by_collection.setdefault(id(item.collection), (item.collection, [], []))
            (sent if (id(item.collection), item.aggregate_id) in done else unsent).append(item)
        for collection, sent, unsent in by_collection.values():
            # Released below (or, should the release fail, left to run out within one lease).
            self._let_go(collection, [c.aggregate_id for c in (*sent, *unsent)])
            leftover: list[Claimed] = []
            by_count: dict[int, list[Claimed]] = {}
            for item in sent:
                by_count.setdefault(len(item.entries), []).append(item)
            for count, items in by_count.items():
                emptied = await collection.update_many(
                    {
                        "_id": {"$in": [i.aggregate_id for i in items]},
                        **_held_under(items, self.owner),
                        OUTBOX_COUNT: count,
                    },
                    {"$set": {OUTBOX: [], OUTBOX_COUNT: 0}, "$unset": {RELAY_LEASE: ""}},
                )
                if emptied.modified_count < len(items):
                    leftover += items  # some changed meanwhile; for the emptied, the filter no longer matches
            ops: list[UpdateOne | UpdateMany] = []
            for item in leftover:
                # $pullAll removes entries equal to the ones read. A $pull by condition would be
                # simpler, but FerretDB ignores conditions in $pull without an error.
                ops.append(
                    UpdateOne(
                        {"_id": item.aggregate_id, **_held_under([item], self.owner)},
                        {
                            "$pullAll": {OUTBOX: list(item.entries)},
                            "$inc": {OUTBOX_COUNT: -len(item.entries)},
                            "$unset": {RELAY_LEASE: ""},
                        },
                    )
                )
            if unsent:
                ops.append(
                    UpdateMany(
                        {
                            "_id": {"$in": [i.aggregate_id for i in unsent]},
                            **_held_under(unsent, self.owner),
                        },
                        {"$unset": {RELAY_LEASE: ""}},
                    )
                )
            if ops:
                await collection.bulk_write(ops, ordered=False)
            for item in leftover:
                # events saved meanwhile were not handed over while this relay held the lease: claim them
                self._notified.setdefault(collection.name, {})[item.aggregate_id] = None

    async def relay_once(self, *, scan: bool = True) -> int:
        """One round over every collection: the notified aggregates, then (with `scan`) the fallback
        scan for any others; returns how many events were published."""
        published = 0
        for collection in self.collections:
            handed = self.take_handed(collection)
            claimed = list(handed)
            try:
                claimed += await self.claim_notified(collection)
                if scan:
                    claimed += await self.claim(collection)
                if not claimed:
                    continue
                if self.publish_delay_s:
                    await asyncio.sleep(self.publish_delay_s)
                delivered = await self.publish(claimed)
                await self.acknowledge(claimed, delivered)
            except BaseException:
                # this relay still holds their leases: keep them for the next round (a repeat is harmless)
                self._handed.setdefault(collection.name, [])[:0] = handed
                # The claimed ones are forgotten here: their leases run out and a scan finds them.
                kept = {c.aggregate_id for c in handed}
                self._let_go(collection, [c.aggregate_id for c in claimed if c.aggregate_id not in kept])
                raise
            published += sum(len(c.events) for c in delivered)
        return published

    async def run(self) -> None:
        """Relay until cancelled: notified aggregates as soon as they are notified, the fallback scan
        at start and every poll interval (at once again while it finds full batches)."""
        loop = asyncio.get_running_loop()
        next_scan = loop.time()
        while True:
            self._wake.clear()
            scan = self._scan_again or loop.time() >= next_scan
            if scan:
                self._scan_again = False
            try:
                published = await self.relay_once(scan=scan)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay round failed; retrying shortly")
                self._scan_again = True
                await asyncio.sleep(min(self.poll_interval_s, 1.0))
                continue
            if scan:
                next_scan = loop.time() + self.poll_interval_s
            if published:
                continue  # more may be waiting
            if self.has_notified():
                # Notified during the round, or a claim failed: soon again, but not in a tight loop.
                await asyncio.sleep(0.05)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, next_scan - loop.time()))

    def start(self) -> None:
        """Run the relay, and the renewal of its leases, in the background."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="outbox-relay")
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_forever(), name="outbox-relay-leases")

    async def stop(self) -> None:
        """Stop the background relay; pending events stay in their documents.

        The leases it still holds are released (best effort), so that another instance's next scan
        publishes those events without waiting for them to run out.
        """
        for task in (self._task, self._renewer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._renewer = None
        await self._release_held()

    async def _release_held(self) -> None:
        """Unset this relay's lease on every aggregate it still holds; a failure only means those
        leases run out by themselves."""
        for collection, ids in list(self._held.values()):
            if not ids:
                continue
            try:
                await collection.update_many(
                    {"_id": {"$in": list(ids)}, f"{RELAY_LEASE}.owner": self.owner},
                    {"$unset": {RELAY_LEASE: ""}},
                )
            except Exception as error:
                log.warning("relay could not release its leases", extra={"error": repr(error)})
            ids.clear()
        self._handed.clear()


def _claimable(now: datetime) -> Document:
    """The condition of an aggregate a relay may claim: events waiting, no lease or an expired one."""
    return {
        OUTBOX_COUNT: {"$gt": 0},
        "$or": [{RELAY_LEASE: None}, {f"{RELAY_LEASE}.until": {"$lt": now}}],
    }


def _claimed(collection: AsyncCollection[Document], doc: Document, claim: str) -> Claimed:
    return Claimed(
        collection,
        doc["_id"],
        tuple(PendingEvent.from_document(e) for e in doc[OUTBOX]),
        tuple(doc[OUTBOX]),
        claim,
    )


def _held_under(items: Sequence[Claimed], owner: str) -> Document:
    """The condition of documents still under the leases these items were taken with.

    A document emptied and then saved again while this relay acknowledges carries a new lease of the
    same relay, with a new token: matching the owner alone would pull the old entries from it (none
    left), subtract their count and drop the new lease, leaving its new events published but never
    removed and its count wrong (found by `make chaos`).
    """
    tokens = {item.claim for item in items}
    if None in tokens:
        return {f"{RELAY_LEASE}.owner": owner}
    return {f"{RELAY_LEASE}.owner": owner, LEASE_CLAIM: {"$in": sorted(t for t in tokens if t is not None)}}


async def _failed(error: Exception) -> Any:
    """An acknowledgement that never comes: the producer refused the record outright."""
    raise error
