"""One place that wires a service's event plumbing: broker, database, aggregate stores, relay,
consumers, topics. A service's entry point builds a `Runtime`, asks it for stores and consumers,
and starts it."""

import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.trace import TracerProvider
from pymongo import AsyncMongoClient

from regstd.contracts import TOPICS, EventModel, Topic
from regstd.kernel.calendar import WorkingDayCalendar
from regstd.runtime.arrangements import ArrangementsWatch
from regstd.runtime.consumer import EventConsumer, Handler, RetryPolicy, broker_dead_letter
from regstd.runtime.events import KafkaRecord
from regstd.runtime.kafka import declare_topics, make_broker
from regstd.runtime.logs import configure_logging
from regstd.runtime.metrics import Metrics
from regstd.runtime.periodic import Periodic
from regstd.runtime.relay import OutboxRelay
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.store import AggregateStore, Document
from regstd.runtime.telemetry import INSTRUMENTATION, configure_tracing

log = logging.getLogger(__name__)


def store_call_tracing(settings: RuntimeSettings, provider: TracerProvider) -> list[Any]:
    """The pymongo instrumentation's listener, on this client only, when `trace_store_calls` asks
    for a span per store command (off by default: it is most of a flow's spans, decision 37).
    Imported only then: it is a large import a service's start need not pay."""
    if not settings.trace_store_calls:
        return []
    from opentelemetry.instrumentation.pymongo import CommandTracer

    return [CommandTracer(provider.get_tracer("opentelemetry.pymongo"))]


class Runtime:
    """The running plumbing of one service instance."""

    def __init__(
        self,
        settings: RuntimeSettings,
        broker: KafkaBroker | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """`tracer_provider` defaults to the process's global one (`configure_tracing`); tests that
        run several services in one process give each its own, named after it."""
        self.settings = settings
        self.tracer_provider = tracer_provider or trace.get_tracer_provider()
        self.tracer = self.tracer_provider.get_tracer(INSTRUMENTATION)
        self.metrics = Metrics()
        self.broker = broker or make_broker(settings.kafka_bootstrap, client_id=settings.service_name)
        self.mongo: AsyncMongoClient[Document] = AsyncMongoClient(
            settings.mongo_url,
            tz_aware=True,
            timeoutMS=settings.mongo_timeout_ms,
            event_listeners=store_call_tracing(settings, self.tracer_provider),
        )
        self.database = self.mongo[settings.mongo_database]
        self.relay = OutboxRelay(
            [],
            self.send,
            batch_size=settings.relay_batch_size,
            poll_interval_s=settings.relay_poll_interval_s,
            lease_s=settings.relay_lease_s,
            renew_every_s=settings.relay_lease_renew_s,
            publish_delay_s=settings.relay_publish_delay_s,
            tracer=self.tracer,
            metrics=self.metrics,
        )
        self.stores: list[AggregateStore] = []
        self.consumers: list[EventConsumer] = []
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        self._finishers: list[Callable[[], Awaitable[None]]] = []
        # The working-day calendar the service's domain counts deadlines with: the operator's
        # arrangements file is read now (an invalid one stops the start) and again when it changes.
        self.calendar = WorkingDayCalendar()
        self.arrangements = ArrangementsWatch(settings.holiday_arrangements, self.calendar)
        self.arrangements.load()
        self._arrangements_watch = Periodic(
            "holiday-arrangements",
            self.arrangements.refresh,
            settings.holiday_arrangements_check_interval_s,
        )

    async def send(self, record: KafkaRecord) -> Any:
        """Hand a record to the idempotent producer; the returned future completes on the broker's ack."""
        return await self.broker.publish(
            record.value, record.topic, key=record.key, headers=record.headers, no_confirm=True
        )

    def aggregate_store(self, collection: str) -> AggregateStore:
        """A store for one kind of aggregate whose outboxes this service's relay publishes."""
        store = AggregateStore(self.database[collection], relay=self.relay)
        self.relay.watch(store.collection)
        self.stores.append(store)
        return store

    def consume(
        self, topic: Topic, group_id: str, handlers: Mapping[type[EventModel], Handler]
    ) -> EventConsumer:
        """Subscribe handlers to a topic under a consumer group, with retries and dead letters."""
        consumer = EventConsumer(
            topic,
            group_id,
            handlers,
            broker_dead_letter(self.broker),
            RetryPolicy(
                self.settings.consumer_max_attempts,
                self.settings.retry_backoff_initial_s,
                self.settings.retry_backoff_max_s,
            ),
            tracer=self.tracer,
            metrics=self.metrics,
            batch_records=self.settings.consumer_batch_records,
            keys_in_flight=self.settings.consumer_keys_in_flight,
            batch_wait_ms=self.settings.consumer_batch_wait_ms,
            batches_in_flight=self.settings.consumer_batches_in_flight,
            max_value_bytes=self.settings.consumer_max_value_bytes,
        )
        consumer.subscribe(self.broker)
        self.consumers.append(consumer)
        return consumer

    async def start(
        self,
        topics: Iterable[Topic] = TOPICS.values(),
        prepare: Iterable[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        """Declare topics and connect the producer while the store is prepared (the stores' indexes,
        then `prepare`'s steps): Kafka and the store are independent, and start-up used to wait for
        each in turn. The store steps stay one after another (concurrent index builds could race to
        create a collection). Then the consumers join their groups, only now: a handler may need
        what `prepare` builds. Then the relay starts. The seconds each step took are logged with
        "runtime started" (`StartTimes`)."""

        took = StartTimes()

        async def prepare_store() -> None:
            for store in self.stores:
                await store.ensure_indexes()
            for step in prepare:
                await step()
            took.mark("store_s")

        async def declare() -> None:
            await declare_topics(self.settings.kafka_bootstrap, topics)
            took.mark("topics_s")

        async def connect() -> None:
            await self.broker.connect()
            took.mark("producer_s")

        await asyncio.gather(declare(), prepare_store(), connect())
        await self.broker.start()  # connected already: this starts the consumers
        took.mark("consumers_s")
        self.relay.start()
        self._arrangements_watch.start()
        # What start-up made (modules, models, routes, what `prepare` loaded such as the overlap
        # index's frequencies) lives as long as the process. Frozen, the cycle collector no longer
        # walks it at each full collection: in intake that took 70-120 ms every 30 requests or so,
        # most of the overlap check's tail (decisions 41, 44). Start-up's garbage goes first.
        gc.collect()
        gc.freeze()
        # The span writer's thread encodes spans while the event loop waits on sockets: after each
        # send or receive the loop waited for the GIL for up to the switch interval (5 ms by
        # default), once per store call and Kafka request (decision 46).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        log.info("runtime started", extra={"service": self.settings.service_name, **took.marks})

    def on_refresh_metrics(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Read more gauges from the store whenever the metrics are scraped (see `refresh_metrics`)."""
        self._refreshers.append(refresh)

    def watch_overdue(self, count: Callable[[], Awaitable[Mapping[str, int]]], kinds: Iterable[str]) -> None:
        """Set the `regstd_overdue` gauge at each scrape from a count by kind (e.g. a clock
        scheduler's `overdue_counts`); the named kinds show 0 when nothing of theirs is overdue."""
        known = tuple(kinds)

        async def refresh() -> None:
            counts = await count()
            for kind in {*known, *counts}:
                self.metrics.overdue.labels(kind).set(counts.get(kind, 0))

        self.on_refresh_metrics(refresh)

    def watch_count(
        self, name: str, documentation: str, label: str, count: Callable[[], Awaitable[Mapping[str, int]]]
    ) -> None:
        """A gauge of the service's own (`name`, one label), set at each scrape from a count read
        from the store (e.g. intake's projects refused by publication, by area)."""
        gauge = self.metrics.gauge(name, documentation, [label])

        async def refresh() -> None:
            for value, counted in (await count()).items():
                gauge.labels(value).set(counted)

        self.on_refresh_metrics(refresh)

    def on_stop(self, finish: Callable[[], Awaitable[None]]) -> None:
        """Finish some of the service's own work at a clean stop: after the consumers have stopped,
        before the store client closes (e.g. publication's block hints in flight)."""
        self._finishers.append(finish)

    async def refresh_metrics(self) -> None:
        """Bring the gauges read from the store up to date: the outbox backlog and its oldest age,
        and whatever the service added with `on_refresh_metrics` (overdue work)."""
        for collection, (count, age) in (await self.relay.backlog()).items():
            self.metrics.outbox_backlog.labels(collection).set(count)
            self.metrics.outbox_oldest_age.labels(collection).set(age)
        for refresh in self._refreshers:
            await refresh()

    async def stop(self) -> None:
        """Stop the relay, the broker and the database client; pending events stay stored. Idempotent.

        Each step gets `STOP_STEP_TIMEOUT_S`: one that does not finish is logged by name and left
        behind, so that the process still exits. Nothing acknowledged is at stake: events stay in
        their outboxes, offsets are committed only after an effect is stored.
        """
        await stop_within("holiday arrangements watch", self._arrangements_watch.stop())
        await stop_within("outbox relay", self.relay.stop())
        await stop_within("consumers", _stop_handling(self.consumers))
        for finish in self._finishers:
            await stop_within("the service's own work", finish())
        await stop_within("kafka broker", self.broker.stop())
        await stop_within("store client", self.mongo.close())


class StartTimes:
    """When each step of a start finished, in seconds since the start began: logged with "runtime
    started" so that an operator (and `python -m regstd.bench.startup`) sees where a start went."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._began = clock()
        self.marks: dict[str, float] = {}

    def mark(self, step: str) -> None:
        """Note that `step` finished now."""
        self.marks[step] = round(self._clock() - self._began, 3)


STOP_STEP_TIMEOUT_S = 20.0

SWITCH_INTERVAL_S = 0.0005
"""How long a thread keeps the GIL while another waits for it."""


async def _stop_handling(consumers: Iterable[EventConsumer]) -> None:
    """Let the records being handled end and commit what ended, before the Kafka consumers close."""
    await asyncio.gather(*(consumer.stop_handling() for consumer in consumers))


async def stop_within(step: str, stopping: Awaitable[Any], timeout_s: float = STOP_STEP_TIMEOUT_S) -> None:
    """Await one step of a shutdown for at most `timeout_s`; log it by name if it takes longer."""
    try:
        await asyncio.wait_for(stopping, timeout_s)
    except TimeoutError:
        log.error("a shutdown step did not finish in time; going on without it", extra={"step": step})


async def serve(runtime: Runtime) -> None:
    """Start the runtime, keep it running until SIGINT or SIGTERM, then stop it cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()


def run_service(settings: RuntimeSettings, wire: Callable[[Runtime], None] = lambda _: None) -> None:
    """A service's whole entry point: logs, tracing, its wiring, then serve until interrupted."""
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name, spans_dir=settings.spans_dir)
    runtime = Runtime(settings)
    wire(runtime)
    asyncio.run(serve(runtime))
