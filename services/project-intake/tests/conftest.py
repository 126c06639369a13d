"""Fixtures of the project-intake tests: principals and tokens, a clock the test moves, proposals,
and (for the infra tests) a scenario with a fresh database and consumer group on the session's real
Kafka and FerretDB."""

import asyncio
import json
import random
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from regstd.contracts import TOPICS
from regstd.contracts.topics import INTAKE_PROJECTS, PUBLICATION_STANDARDS
from regstd.intake.domain.proposal import Proposal
from regstd.intake.main import IntakeService
from regstd.intake.settings import IntakeSettings
from regstd.kernel.principals import Principal
from regstd.runtime.auth import IssuedToken, TokenBook
from regstd.runtime.kafka import declare_topics

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 10:00 in China Standard Time

REGULATORS = {
    code: Principal(kind="regulator", code=code, name=f"regulator {code}")
    for code in ("31", "32", "33", "34", "50", "51", "52")
}
CITY = Principal(kind="city", code="510100", name="成都市")
OPERATOR = Principal(kind="operator", code="ops", name="operator")

TOKENS = TokenBook(
    [IssuedToken(token=f"reg-{code}", principal=p) for code, p in REGULATORS.items()]
    + [
        IssuedToken(token="city-chengdu", principal=CITY),
        IssuedToken(token="ops", principal=OPERATOR),
    ]
)

SHA = "ab" * 32


def proposal(**overrides: Any) -> Proposal:
    """A chengyu proposal, changed where the test says."""
    fields: dict[str, Any] = {
        "area": "chengyu",
        "parties": ["50", "51"],
        "title_zh": "川渝地区公路沥青路面养护技术规范",
        "title_en": "Technical specification for asphalt pavement maintenance of highways",
        "scope": "本文件规定了川渝地区公路沥青路面日常养护、预防养护和修复养护的技术要求。",
        "category": "transport",
        "kind": "recommended",
        "proposing_organisations": ["重庆市交通运输委员会", "四川省交通运输厅"],
    }
    return Proposal.model_validate(fields | overrides)


def proposal_body(**overrides: Any) -> dict[str, Any]:
    """A proposal as the JSON body of POST /projects."""
    return proposal(**overrides).model_dump(mode="json")


def letters(k: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=k))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class MovableClock:
    """The real time (or a fixed start), moved forward by what the test says."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return (self.start or datetime.now(UTC)) + self.shift

    def advance(self, **delta: float) -> None:
        self.shift += timedelta(**delta)


# ---------------------------------------------------------------------------------------------
# Infra: a scenario on the real stack


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 60.0) -> None:
    """Wait until a condition holds; fail naming what was awaited."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


def ce(record: Any) -> dict[str, str]:
    """A record's headers as text."""
    return {k: v.decode() for k, v in record.headers}


async def read_to_end(bootstrap: str, topic: str, partitions: int) -> list[Any]:
    """Every record on a topic up to its end as of now, partition by partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        remaining = {tp for tp in assigned if ends[tp] > 0}
        while remaining:
            for tp, batch in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                records.extend(batch)
                if batch[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return records


class Scenario:
    """Intake instances sharing one fresh database and one fresh consumer group; the group starts at
    the end of the publication topic, so that other tests' standards are not this test's."""

    def __init__(self, stack: Any, exits: AsyncExitStack) -> None:
        self.stack = stack
        self.exits = exits
        self.database = f"intake_{letters(10)}"
        self.group = f"project-intake-{letters(10)}"
        self.services: list[IntakeService] = []

    async def instance(self, clock: Callable[[], datetime] | None = None, **overrides: Any) -> IntakeService:
        """Start one more instance of the service (the app inside its lifespan)."""
        settings = IntakeSettings(
            kafka_bootstrap=self.stack.kafka_bootstrap,
            mongo_url=self.stack.mongo_url,
            mongo_database=self.database,
            consumer_group=self.group,
            consumer_max_attempts=3,
            retry_backoff_initial_s=0.01,
            relay_poll_interval_s=0.2,
            **overrides,
        )
        service = IntakeService(settings, TOKENS, **({"clock": clock} if clock else {}))
        await self.exits.enter_async_context(service.app.router.lifespan_context(service.app))
        self.services.append(service)
        return service

    def client(self, service: IntakeService | None = None) -> httpx.AsyncClient:
        """An HTTP client of an instance's app (its lifespan is already running)."""
        app = (service or self.services[0]).app
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")

    async def outboxes_empty(self) -> bool:
        collection = self.services[0].projects.collection
        return bool(await collection.count_documents({"_outbox_count": {"$gt": 0}}) == 0)

    async def events_of(self, project_id: str) -> list[dict[str, Any]]:
        """Every event of the project on the intake topic, in order, as {type, id, data}: read once the
        relay has published everything stored."""
        await eventually(self.outboxes_empty, what="the relay to publish every stored event")
        records = await read_to_end(
            self.stack.kafka_bootstrap, INTAKE_PROJECTS.name, INTAKE_PROJECTS.partitions
        )
        return [
            {"type": ce(r)["ce_type"], "id": ce(r)["ce_id"], "data": json.loads(r.value)}
            for r in records
            if r.key is not None and r.key.decode() == project_id
        ]

    async def position_group_at_end(self) -> None:
        await declare_topics(self.stack.kafka_bootstrap, TOPICS.values())
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.stack.kafka_bootstrap, group_id=self.group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(PUBLICATION_STANDARDS.name, p) for p in range(PUBLICATION_STANDARDS.partitions)
            ]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.commit(dict(ends))
        finally:
            await consumer.stop()


@pytest.fixture
async def scenario(stack: Any) -> AsyncIterator[Scenario]:
    """A fresh database and consumer group on the session's stack; instances stopped afterwards."""
    async with AsyncExitStack() as exits:
        made = Scenario(stack, exits)
        await made.position_group_at_end()
        try:
            yield made
        finally:
            await exits.aclose()
            cleaner: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url)
            await cleaner.drop_database(made.database)
            await cleaner.close()
