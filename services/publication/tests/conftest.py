"""Fixtures of the publication service's tests: approvals as intake sends them, tokens, and (for the
infra tests) a scenario with fresh database and consumer group on the session's real Kafka and
FerretDB."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from faststream.kafka import KafkaBroker

from regstd.contracts.common import TextReference
from regstd.contracts.envelope import EventModel
from regstd.contracts.intake import BallotDecided, ProjectFinallyApproved, ProjectProposed
from regstd.contracts.topics import INTAKE_PROJECTS
from regstd.kernel.principals import Principal
from regstd.publication.app.projects import ProjectRecords
from regstd.publication.app.publishing import PublishingCases
from regstd.publication.domain.standard import Text
from regstd.publication.domain.submission import Submission
from regstd.publication.main import PublicationService
from regstd.publication.settings import PublicationSettings
from regstd.runtime.auth import IssuedToken, TokenBook
from regstd.runtime.events import KafkaRecord, new_event, to_kafka
from regstd.runtime.testing import ServiceScenario, approved_project, delivered, eventually

PRINCIPALS = {
    "reg-50": Principal(kind="regulator", code="50", name="重庆市市场监督管理局"),
    "reg-51": Principal(kind="regulator", code="51", name="四川省市场监督管理局"),
    "reg-31": Principal(kind="regulator", code="31", name="上海市市场监督管理局"),
    "city-chengdu": Principal(kind="city", code="510100", name="成都市"),
    "ops": Principal(kind="operator", code="ops", name="operator"),
}
TOKENS = TokenBook([IssuedToken(token=t, principal=p) for t, p in PRINCIPALS.items()])


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


def submission(number: str = "DB51/T 3125—2026", **changes: object) -> Submission:
    """A single-region submission of Sichuan's own standard to yangtze, with some fields changed."""
    fields: dict[str, object] = {
        "number": number,
        "area": "yangtze",
        "title_zh": "生态修复技术规范",
        "title_en": None,
        "scope": "",
        "category": "ecology",
        "kind": "recommended",
        "eco_civilization": True,
        "publication_date": date(2026, 3, 1),
        "implementation_date": date(2026, 6, 1),
        "text": Text("https://std.example/db51-3125.pdf", "ab" * 32),
    }
    return Submission(**(fields | changes))  # type: ignore[arg-type]


async def hand_over(publishing: PublishingCases, projects: ProjectRecords, *events: EventModel) -> None:
    """Intake's events, in order, to the handlers publication's consumer calls for them."""
    for event in events:
        if isinstance(event, ProjectProposed):
            await projects.on_project_proposed(delivered(event))
        elif isinstance(event, BallotDecided):
            await projects.on_ballot_decided(delivered(event))
        elif isinstance(event, ProjectFinallyApproved):
            await publishing.on_final_approval(delivered(event))
        else:
            raise TypeError(f"publication does not consume {type(event).__name__}")


class Scenario(ServiceScenario[PublicationService]):
    """Publication instances sharing one fresh database and one fresh consumer group, which starts at
    the end of the approvals topic (so that other tests' approvals are not this test's)."""

    database_prefix = "pub"
    group_prefix = "publication"
    consumes = INTAKE_PROJECTS.name

    def __init__(self, stack: Any, exits: AsyncExitStack) -> None:
        super().__init__(stack, exits)
        self.producer = KafkaBroker(stack.kafka_bootstrap, enable_idempotence=True, acks="all")

    async def prepare(self) -> None:
        await self.producer.start()
        self.exits.push_async_callback(self.producer.stop)
        await super().prepare()

    async def instance(
        self, clock: Callable[[], datetime] | None = None, **overrides: Any
    ) -> PublicationService:
        """Start one more instance of the service (the app inside its lifespan)."""
        settings = PublicationSettings(**self.settings(publish_loop_interval_s=0.2, **overrides))
        return await self.start(PublicationService(settings, TOKENS, **({"clock": clock} if clock else {})))

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
        """Each project's proposal and passed ballots, then its approval (one key, so in order);
        the approvals' records."""
        records = [[to_kafka(new_event(e)) for e in approved_project(a)] for a in approvals]
        await asyncio.gather(*(self.send_in_order(project) for project in records))
        return [project[-1] for project in records]

    async def approve_alone(self, *approvals: ProjectFinallyApproved) -> list[KafkaRecord]:
        """Approvals without the project's earlier events (what publication must refuse)."""
        records = [to_kafka(new_event(a)) for a in approvals]
        await self.send(records)
        return records

    async def send_in_order(self, records: list[KafkaRecord]) -> None:
        """Publish records one after the other, each acknowledged before the next."""
        for r in records:
            await self.producer.publish(r.value, r.topic, key=r.key, headers=r.headers)

    async def until_consumed(self) -> None:
        await eventually(self.consumed, "the publication consumers to process every approval sent")


@pytest.fixture
async def scenario(stack: Any) -> AsyncIterator[Scenario]:
    """A fresh database and consumer group on the session's stack; instances stopped afterwards."""
    async with Scenario.running(stack) as made:
        yield made
