"""Fixtures of the publication service's tests: approvals as intake sends them, tokens, a clock the
test moves, and (for the infra tests) a scenario with fresh database and consumer group on the
session's real Kafka and FerretDB."""

import asyncio
import random
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from regstd.contracts import TOPICS
from regstd.contracts.common import TextReference
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.topics import INTAKE_PROJECTS
from regstd.kernel.principals import Principal
from regstd.publication.main import PublicationService
from regstd.publication.settings import PublicationSettings
from regstd.runtime.auth import IssuedToken, TokenBook
from regstd.runtime.events import Delivery, KafkaRecord, PendingEvent, new_event, to_kafka
from regstd.runtime.kafka import declare_topics

PRINCIPALS = {
    "reg-50": Principal(kind="regulator", code="50", name="重庆市市场监督管理局"),
    "reg-51": Principal(kind="regulator", code="51", name="四川省市场监督管理局"),
    "reg-31": Principal(kind="regulator", code="31", name="上海市市场监督管理局"),
    "city-chengdu": Principal(kind="city", code="510100", name="成都市"),
    "ops": Principal(kind="operator", code="ops", name="operator"),
}
TOKENS = TokenBook([IssuedToken(token=t, principal=p) for t, p in PRINCIPALS.items()])


def letters(k: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=k))


def approval(
    project_id: str,
    *,
    area: str = "chengyu",
    parties: tuple[str, ...] = ("50", "51"),
    kind: str = "recommended",
    category: str = "transport",
    eco: bool = False,
    approved_at: datetime | None = None,
) -> ProjectFinallyApproved:
    """A final approval as intake publishes it."""
    approved_at = approved_at or datetime.now(UTC)
    return ProjectFinallyApproved.model_validate(
        {
            "project_id": project_id,
            "area": area,
            "parties": list(parties),
            "title_zh": f"联合标准 {project_id}",
            "title_en": f"Joint standard {project_id}",
            "scope": "适用范围",
            "category": category,
            "kind": kind,
            "eco_civilization": eco,
            "text": TextReference(location=f"https://texts.example/{project_id}.pdf", sha256="ab" * 32),
            "project_approved_at": approved_at - timedelta(days=400),
            "approved_at": approved_at,
        }
    )


def delivery(event: ProjectFinallyApproved, pending: PendingEvent | None = None) -> Delivery[Any]:
    """A received approval, as the runtime's consumer hands it to a handler."""
    pending = pending or new_event(event)
    return Delivery(
        id=pending.id,
        type=pending.type,
        source=pending.source,
        subject=pending.subject,
        time=pending.time,
        data=event,
        topic=INTAKE_PROJECTS.name,
        partition=0,
        offset=0,
    )


class MovableClock:
    """The real time, moved forward by what the test says."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return (self.start or datetime.now(UTC)) + self.shift

    def advance(self, **delta: float) -> None:
        self.shift += timedelta(**delta)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------------------------
# Infra: a scenario on the real stack


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 300.0) -> None:
    """Wait until a condition holds; fail naming what was awaited.

    The bound only stops a hung test: it is generous because two cores shared with Kafka and FerretDB
    may run the 200-approval load several times slower than a quiet machine (speed is `make bench`'s).
    """
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


async def read_topic(
    bootstrap: str, topic: str, done: Callable[[list[Any]], bool], within: float = 60.0
) -> list[Any]:
    """Read a topic from its beginning until `done(records)` holds or time runs out."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        while not done(records) and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def ce(record: Any) -> dict[str, str]:
    """A record's headers as text."""
    return {k: v.decode() for k, v in record.headers}


class Scenario:
    """Publication instances sharing one fresh database and one fresh consumer group, which starts at
    the end of the approvals topic (so that other tests' approvals are not this test's)."""

    def __init__(self, stack: Any, exits: AsyncExitStack, producer: KafkaBroker) -> None:
        self.stack = stack
        self.exits = exits
        self.producer = producer
        self.database = f"pub_{letters(10)}"
        self.group = f"publication-{letters(10)}"
        self.services: list[PublicationService] = []

    async def instance(
        self, clock: Callable[[], datetime] | None = None, **overrides: Any
    ) -> PublicationService:
        """Start one more instance of the service (the app inside its lifespan)."""
        settings = PublicationSettings(
            kafka_bootstrap=self.stack.kafka_bootstrap,
            mongo_url=self.stack.mongo_url,
            mongo_database=self.database,
            consumer_group=self.group,
            consumer_max_attempts=3,
            retry_backoff_initial_s=0.01,
            relay_poll_interval_s=0.2,
            publish_loop_interval_s=0.2,
            **overrides,
        )
        service = PublicationService(settings, TOKENS, **({"clock": clock} if clock else {}))
        await self.exits.enter_async_context(service.app.router.lifespan_context(service.app))
        self.services.append(service)
        return service

    def client(self, service: PublicationService | None = None) -> httpx.AsyncClient:
        """An HTTP client of an instance's app (its lifespan is already running)."""
        app = (service or self.services[0]).app
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://publication")

    async def send(self, records: list[KafkaRecord]) -> None:
        """Publish records concurrently and wait for every acknowledgement."""
        await asyncio.gather(
            *(self.producer.publish(r.value, r.topic, key=r.key, headers=r.headers) for r in records)
        )

    async def approve(self, *approvals: ProjectFinallyApproved) -> list[KafkaRecord]:
        records = [to_kafka(new_event(a)) for a in approvals]
        await self.send(records)
        return records

    async def consumed(self) -> bool:
        """Whether the group committed everything on the approvals topic so far."""
        return await _group_at_end(self.stack.kafka_bootstrap, self.group, INTAKE_PROJECTS.name)

    async def until_consumed(self) -> None:
        await eventually(self.consumed, "the publication consumers to process every approval sent")

    async def position_group_at_end(self) -> None:
        await declare_topics(self.stack.kafka_bootstrap, TOPICS.values())
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.stack.kafka_bootstrap, group_id=self.group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(INTAKE_PROJECTS.name, p) for p in range(INTAKE_PROJECTS.partitions)]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.commit(dict(ends))
        finally:
            await consumer.stop()


async def _group_at_end(bootstrap: str, group: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = {
            tp.partition: meta.offset
            for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
            if tp.topic == topic
        }
    finally:
        await admin.close()
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(INTAKE_PROJECTS.partitions)]
        ends = await reader.end_offsets(partitions)
    finally:
        await reader.stop()
    return all(committed.get(tp.partition, -1) >= end for tp, end in ends.items())


@pytest.fixture
async def scenario(stack: Any) -> AsyncIterator[Scenario]:
    """A fresh database and consumer group on the session's stack; instances stopped afterwards."""
    producer = KafkaBroker(stack.kafka_bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    async with AsyncExitStack() as exits:
        made = Scenario(stack, exits, producer)
        await made.position_group_at_end()
        try:
            yield made
        finally:
            await exits.aclose()
            await producer.stop()
            cleaner: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url)
            await cleaner.drop_database(made.database)
            await cleaner.close()
