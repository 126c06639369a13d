"""Fixtures of the project-intake tests: principals and tokens, proposals, and (for the infra tests)
a scenario with a fresh database and consumer group on the session's real Kafka and FerretDB."""

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from regstd.contracts.topics import INTAKE_PROJECTS, PUBLICATION_STANDARDS
from regstd.intake.domain.proposal import Proposal
from regstd.intake.main import IntakeService
from regstd.intake.settings import IntakeSettings
from regstd.kernel.principals import Principal
from regstd.runtime.auth import IssuedToken, TokenBook
from regstd.runtime.testing import ServiceScenario, ce, eventually, outboxes_empty, read_topic

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


# ---------------------------------------------------------------------------------------------
# Infra: a scenario on the real stack


class Scenario(ServiceScenario[IntakeService]):
    """Intake instances sharing one fresh database and one fresh consumer group; the group starts at
    the end of the publication topic, so that other tests' standards are not this test's."""

    database_prefix = "intake"
    group_prefix = "project-intake"
    consumes = PUBLICATION_STANDARDS.name

    async def instance(self, clock: Callable[[], datetime] | None = None, **overrides: Any) -> IntakeService:
        """Start one more instance of the service (the app inside its lifespan)."""
        settings = IntakeSettings(**self.settings(**overrides))
        return await self.start(IntakeService(settings, TOKENS, **({"clock": clock} if clock else {})))

    def client(self, service: IntakeService | None = None) -> httpx.AsyncClient:
        """An HTTP client of an instance's app (its lifespan is already running)."""
        app = (service or self.services[0]).app
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")

    async def events_of(self, project_id: str) -> list[dict[str, Any]]:
        """Every event of the project on the intake topic, in order, as {type, id, data}: read once the
        relay has published everything stored."""
        collection = self.services[0].projects.collection
        await eventually(
            lambda: outboxes_empty(collection), what="the relay to publish every stored event", within=60
        )
        records = await read_topic(self.stack.kafka_bootstrap, INTAKE_PROJECTS.name)
        return [
            {"type": ce(r)["ce_type"], "id": ce(r)["ce_id"], "data": json.loads(r.value)}
            for r in records
            if r.key is not None and r.key.decode() == project_id
        ]


@pytest.fixture
async def scenario(stack: Any) -> AsyncIterator[Scenario]:
    """A fresh database and consumer group on the session's stack; instances stopped afterwards."""
    async with Scenario.running(stack) as made:
        yield made
