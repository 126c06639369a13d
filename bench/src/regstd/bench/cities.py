"""Partner-city consumers inside the bench process: plain aiokafka consumers of the standards topic,
each in a consumer group of its own (as every city's `regstd subscribe` is), noting when each
StandardPublished arrives."""

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.runtime.events import InvalidEvent, from_kafka


@dataclass(frozen=True)
class Arrival:
    """When a publication reached a city: the bench's monotonic clock, the wall clock, and the
    record's own timestamp (set by the publishing producer) on the wall clock, in seconds."""

    monotonic: float
    wall: float
    record_wall: float


@dataclass
class City:
    """One city's consumer group, starting at the end of the topic."""

    bootstrap: str
    group: str
    arrivals: dict[str, Arrival] = field(default_factory=dict)
    """Project id → first arrival of its StandardPublished."""
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self, within_s: float = 60.0) -> None:
        """Join the group, wait for partitions, fix the starting positions at the current end."""
        consumer = AIOKafkaConsumer(
            PUBLICATION_STANDARDS.name,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            auto_offset_reset="latest",
            enable_auto_commit=True,
        )
        self._consumer = consumer
        await consumer.start()
        deadline = time.monotonic() + within_s
        while not consumer.assignment():
            if time.monotonic() > deadline:
                raise TimeoutError(f"city group {self.group} got no partitions within {within_s:.0f} s")
            await asyncio.sleep(0.05)
        for tp in consumer.assignment():
            await consumer.position(tp)  # resolves "latest" now, before anything is published
        self._task = asyncio.create_task(self._run(consumer), name=f"city-{self.group}")

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            now, wall = time.monotonic(), time.time()
            for records in batches.values():
                for record in records:
                    try:
                        event = from_kafka(record.key, record.value, record.headers)
                    except InvalidEvent:
                        continue
                    project_id = event.data.get("project_id")
                    if isinstance(project_id, str) and project_id not in self.arrivals:
                        self.arrivals[project_id] = Arrival(now, wall, record.timestamp / 1000)

    async def stop(self) -> None:
        """Stop consuming and leave the group."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    def has(self, project_ids: set[str]) -> int:
        """How many of these projects' publications arrived."""
        return sum(1 for p in project_ids if p in self.arrivals)
