"""The register on the real stack: project intake and publication running in this process against
the session's Kafka and FerretDB, with one movable clock, driven by the same model-based test as the
register in memory (`register.py`).

The services run on an event loop of their own in a background thread (hypothesis drives the state
machine synchronously); `run` hands each operation to that loop. `settle` waits until both services
have published everything they stored and consumed everything the other said.
"""

import asyncio
import json
import threading
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from regstd.contracts import TOPICS, EventModel
from regstd.contracts.topics import INTAKE_PROJECTS, PUBLICATION_STANDARDS
from regstd.intake.main import IntakeService
from regstd.intake.settings import IntakeSettings
from regstd.kernel.time import china_date
from regstd.publication.adapters.allocator import allocation_of
from regstd.publication.adapters.standards import standard_of
from regstd.publication.main import PublicationService
from regstd.publication.settings import PublicationSettings
from regstd.runtime.auth import TokenBook
from regstd.runtime.kafka import declare_topics
from regstd.runtime.testing import (
    MovableClock,
    consumed_to_end,
    drop_databases,
    letters,
    outboxes_empty,
    position_group_at_end,
    run_app,
)

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class StackRegister:
    """Intake and publication on the real stack, at a time the test moves."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.clock = MovableClock(START)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="register", daemon=True)
        self.thread.start()
        self.exits = AsyncExitStack()
        self.run(self._start())

    async def _start(self) -> None:
        suffix = letters(10)
        await declare_topics(self.stack.kafka_bootstrap, TOPICS.values())
        common = {
            "kafka_bootstrap": self.stack.kafka_bootstrap,
            "mongo_url": self.stack.mongo_url,
            "relay_poll_interval_s": 0.2,
            "clock_scan_interval_s": 0.2,
        }
        self.intake_settings = IntakeSettings(
            **common,
            mongo_database=f"register_intake_{suffix}",
            consumer_group=f"register-intake-{suffix}",
            public_comment_min_days=0,
        )
        self.publication_settings = PublicationSettings(
            **common,
            mongo_database=f"register_publication_{suffix}",
            consumer_group=f"register-publication-{suffix}",
            publish_loop_interval_s=0.2,
        )
        bootstrap = self.stack.kafka_bootstrap
        await position_group_at_end(
            bootstrap, self.intake_settings.consumer_group, PUBLICATION_STANDARDS.name
        )
        await position_group_at_end(bootstrap, self.publication_settings.consumer_group, INTAKE_PROJECTS.name)
        self.since = {
            topic: await _ends(bootstrap, topic) for topic in (INTAKE_PROJECTS, PUBLICATION_STANDARDS)
        }
        nobody = TokenBook([])  # the test calls the use cases, not the HTTP API
        self.intake_service = IntakeService(self.intake_settings, nobody, clock=self.clock)
        self.publication_service = PublicationService(self.publication_settings, nobody, clock=self.clock)
        await run_app(self.exits, self.intake_service)
        await run_app(self.exits, self.publication_service)
        self.intake = self.intake_service.intake
        self.publishing = self.publication_service.publishing
        self.life = self.publication_service.life
        self.submissions = self.publication_service.submissions

    def run(self, work: Any) -> Any:
        """Run one operation on the services' loop, to its end."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=600)

    def close(self) -> None:
        """Stop both services, drop their databases and the loop."""
        print(
            "DEBUG",
            [(s.id, s.status) for s in self.standards()],
            len(self.events(__import__("regstd.contracts.intake", fromlist=["x"]).ProjectProposed)),
        )
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()

    async def _stop(self) -> None:
        await self.exits.aclose()
        await drop_databases(
            self.stack.mongo_url,
            self.intake_settings.mongo_database,
            self.publication_settings.mongo_database,
        )

    def today(self) -> date:
        """Today in China Standard Time, by the services' clock."""
        return china_date(self.clock())

    async def settle(self) -> None:
        """Publication's background round once, then wait until both services are quiet twice in a row:
        every stored event published, every published event consumed by the other service."""
        await self.publishing.tick()
        bootstrap = self.stack.kafka_bootstrap
        intake_db = self.intake_service.runtime.database
        publication_db = self.publication_service.runtime.database
        outboxes = [intake_db["projects"], intake_db["published_standards"]] + [
            publication_db[name] for name in ("standards", "refusals", "projects")
        ]
        quiet, deadline = 0, self.loop.time() + 120
        while quiet < 2:
            done = all([await outboxes_empty(c) for c in outboxes]) and (
                await consumed_to_end(
                    bootstrap, self.publication_settings.consumer_group, INTAKE_PROJECTS.name
                )
                and await consumed_to_end(
                    bootstrap, self.intake_settings.consumer_group, PUBLICATION_STANDARDS.name
                )
            )
            quiet = quiet + 1 if done else 0
            if self.loop.time() > deadline:
                raise AssertionError("the services did not settle within 120 s")
            await asyncio.sleep(0.1)

    # -- what the invariants read ---------------------------------------------------------------

    def standards(self) -> list[Any]:
        """Every standard publication holds, as stored."""
        return list(self.run(self._standards()))

    async def _standards(self) -> list[Any]:
        collection = self.publication_service.runtime.database["standards"]
        return [standard_of(doc["_id"], doc) async for doc in collection.find({})]

    def allocations(self) -> list[Any]:
        """Every number handed out of a block, as stored."""
        return list(self.run(self._allocations()))

    async def _allocations(self) -> list[Any]:
        return [allocation_of(doc) async for doc in self.publication_service.allocator.collection.find({})]

    def events(self, model: type[EventModel]) -> list[dict[str, Any]]:
        """The data of every event of one type on its topic since this register started."""
        return list(self.run(self._events(model)))

    async def _events(self, model: type[EventModel]) -> list[dict[str, Any]]:
        topic = model.topic
        consumer = AIOKafkaConsumer(bootstrap_servers=self.stack.kafka_bootstrap, group_id=None)
        await consumer.start()
        try:
            partitions = list(self.since[topic])
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            found: list[dict[str, Any]] = []
            for partition in partitions:
                consumer.seek(partition, self.since[topic][partition])
            pending = {p for p in partitions if ends[p] > self.since[topic][p]}
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=1000)
                for partition, records in batch.items():
                    for record in records:
                        headers = dict(record.headers)
                        if headers.get("ce_type", b"").decode() == model.event_type:
                            found.append(json.loads(record.value))
                        if record.offset + 1 >= ends[partition]:
                            pending.discard(partition)
            return found
        finally:
            await consumer.stop()


async def _ends(bootstrap: str, topic: Any) -> dict[TopicPartition, int]:
    """Where each partition of a topic ends now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()
