"""End to end on the real Kafka and FerretDB: two (or three) provincial regulators take a joint
standard from proposal to publication through project intake and publication, and a partner city
receives it. Both services run in this process on fresh databases and consumer groups, each with its
own tracer provider writing spans to the test's span directory, as separate processes would."""

import asyncio
import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from regstd.cli.subscriber import CityLedger, CitySubscriber, run_subscriber
from regstd.contracts import TOPICS
from regstd.contracts.reference import PartnerCity, load_reference
from regstd.contracts.topics import INTAKE_PROJECTS, PUBLICATION_STANDARDS
from regstd.intake.main import IntakeService
from regstd.intake.settings import IntakeSettings
from regstd.kernel.principals import Principal
from regstd.publication.main import PublicationService
from regstd.publication.settings import PublicationSettings
from regstd.runtime.auth import IssuedToken, TokenBook
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.kafka import declare_topics
from regstd.runtime.telemetry import tracer_provider
from regstd.runtime.testing import MovableClock, bearer, eventually, letters, position_group_at_end, run_app

REFERENCE = load_reference()
TOKENS = TokenBook(
    [IssuedToken(token=f"reg-{c}", principal=Principal(kind="regulator", code=c, name=r.regulator_zh))
     for c, r in REFERENCE.regions.items()]
    + [IssuedToken(token="city", principal=Principal(kind="city", code="510100", name="成都市"))]
)  # fmt: skip


def as_(code: str) -> dict[str, str]:
    """The headers of a request as a region's regulator (`reg-<code>`) or as the city (`city`)."""
    return bearer("city" if code == "city" else "reg-" + code)


class Calls(ABC):
    """HTTP calls to the services in this process as a regulator or the city."""

    @abstractmethod
    def client(self, service: str) -> httpx.AsyncClient:
        """The HTTP client of a service by name."""

    async def call(self, service: str, method: str, path: str, code: str, **kwargs: Any) -> httpx.Response:
        headers = {**as_(code), **kwargs.pop("headers", {})}
        return await self.client(service).request(method, path, headers=headers, **kwargs)

    async def ok(self, service: str, method: str, path: str, code: str, **kwargs: Any) -> Any:
        response = await self.call(service, method, path, code, **kwargs)
        assert response.status_code < 300, (
            f"{method} {path} as {code}: {response.status_code} {response.text}"
        )
        return response.json()


def on_stack(stack: Any, service: str, suffix: str, **overrides: Any) -> dict[str, Any]:
    """The settings fields of one service of an end-to-end system: the stack, a database and a consumer
    group of its own, a quick relay, store calls traced."""
    return {
        "kafka_bootstrap": stack.kafka_bootstrap,
        "mongo_url": stack.mongo_url,
        "mongo_database": f"e2e_{service}_{suffix}",
        "consumer_group": f"e2e-{service}-{suffix}",
        "relay_poll_interval_s": 0.2,
        # Store calls are traced here (off by default): the trace test checks they nest in the flow.
        "trace_store_calls": True,
        **overrides,
    }


async def serve(exits: AsyncExitStack, *services: Any) -> list[httpx.AsyncClient]:
    """Run each service's app inside its lifespan until `exits` closes; an HTTP client of each."""
    clients = []
    for service in services:
        await run_app(exits, service)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://regstd")
        clients.append(await exits.enter_async_context(client))
    return clients


@dataclass
class System(Calls):
    """Intake and publication, in process, with HTTP clients and where their spans go."""

    intake: httpx.AsyncClient
    publication: httpx.AsyncClient
    spans_dir: Path
    providers: dict[str, TracerProvider]
    publication_clock: MovableClock = field(default_factory=MovableClock)

    def tracer_provider(self, service: str) -> TracerProvider:
        """A tracer provider for another participant (a partner city) writing to the same place."""
        provider = tracer_provider(service, spans_dir=self.spans_dir, local=True)
        self.providers[service] = provider
        return provider

    def flush_spans(self) -> None:
        """Write every finished span to the span files."""
        for provider in self.providers.values():
            provider.force_flush()

    def client(self, service: str) -> httpx.AsyncClient:
        return self.intake if service == "intake" else self.publication


@pytest.fixture
async def system(stack: Any, tmp_path: Path) -> AsyncIterator[System]:
    suffix = letters()
    await declare_topics(stack.kafka_bootstrap, TOPICS.values())
    intake_settings = IntakeSettings(**on_stack(stack, "intake", suffix, public_comment_min_days=0))
    publication_settings = PublicationSettings(
        **on_stack(stack, "publication", suffix, clock_scan_interval_s=0.2)
    )
    await position_group_at_end(
        stack.kafka_bootstrap, publication_settings.consumer_group, INTAKE_PROJECTS.name
    )
    await position_group_at_end(
        stack.kafka_bootstrap, intake_settings.consumer_group, PUBLICATION_STANDARDS.name
    )
    spans_dir = tmp_path / "spans"
    providers = {
        s.service_name: tracer_provider(s.service_name, spans_dir=spans_dir, local=True)
        for s in (intake_settings, publication_settings)
    }
    intake = IntakeService(
        intake_settings,
        TOKENS,
        runtime=Runtime(intake_settings, tracer_provider=providers[intake_settings.service_name]),
    )
    publication_clock = MovableClock()
    publication = PublicationService(
        publication_settings,
        TOKENS,
        clock=publication_clock,
        runtime=Runtime(publication_settings, tracer_provider=providers[publication_settings.service_name]),
    )
    async with AsyncExitStack() as exits:
        clients = await serve(exits, intake, publication)
        yield System(*clients, spans_dir=spans_dir, providers=providers, publication_clock=publication_clock)
        for service in (intake, publication):
            await service.runtime.mongo.drop_database(service.settings.mongo_database)
    for provider in providers.values():
        provider.shutdown()


def proposal(area: str, parties: list[str], title: str) -> dict[str, Any]:
    return {
        "area": area,
        "parties": parties,
        "title_zh": title,
        "scope": f"本文件规定了{title}的技术要求、检验方法和验收规则。",
        "category": "transport",
        "kind": "recommended",
        "proposing_organisations": ["交通运输主管部门"],
    }


async def vote(system: System, pid: str, stage: str, party: str, position: str, **extra: str) -> Any:
    """A party's regulator records its position."""
    body = {"party": party, "position": position, **extra}
    return await system.ok("intake", "POST", f"/projects/{pid}/ballots/{stage}/positions", party, json=body)


async def take_to_final_approval(system: System, project: dict[str, Any], parties: list[str]) -> str:
    """Both ballots approved by every party, with the lifecycle between them."""
    pid: str = project["project_id"]
    lead = parties[0]
    for party in parties:
        await vote(system, pid, "project_approval", party, "approve")
    await system.ok("intake", "POST", f"/projects/{pid}/drafting", lead)
    await system.ok("intake", "POST", f"/projects/{pid}/public-comment", lead)
    await system.ok("intake", "POST", f"/projects/{pid}/public-comment/close", parties[-1])
    for party in parties:
        await system.ok("intake", "POST", f"/projects/{pid}/review-conclusions", party,
                        json={"party": party, "conclusion": "同意报批", "passed": True})  # fmt: skip
    text = {
        "location": f"https://texts.example/{pid}.pdf",
        "sha256": hashlib.sha256(pid.encode()).hexdigest(),
    }
    await system.ok("intake", "POST", f"/projects/{pid}/submission", lead, json={"text": text})
    return pid


async def published(system: System, project_id: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        listing = await system.ok("publication", "GET", "/standards", "city", params={"limit": 200})
        items = listing["items"] if isinstance(listing, dict) else listing
        return next((s for s in items if s["project_id"] == project_id and s["status"] == "published"), None)

    found: dict[str, Any] = await eventually(find, f"the standard of {project_id} to be published", within=60)
    return found


async def test_a_chengyu_joint_standard_goes_from_proposal_to_a_partner_city(
    system: System, stack: Any, tmp_path: Path
) -> None:
    body = proposal("chengyu", ["50", "51"], "川渝地区高速公路服务区服务规范")
    project = await system.ok("intake", "POST", "/projects", "50", json=body)
    pid = project["project_id"]

    # Sichuan objects (blocking), which holds the ballot open, then clears it by approving.
    await vote(system, pid, "project_approval", "51", "object", reason="请补充服务区分级要求")
    await vote(system, pid, "project_approval", "50", "approve")
    blocked = await system.ok("intake", "GET", f"/projects/{pid}", "city")
    assert blocked["status"] == "awaiting_project_approval"

    # Refusals change nothing: a step out of order, Chongqing voting for Sichuan, a city writing.
    early = await system.call("intake", "POST", f"/projects/{pid}/drafting", "50")
    assert early.status_code == 409
    for_other = await system.call("intake", "POST", f"/projects/{pid}/ballots/project_approval/positions",
                                  "50", json={"party": "51", "position": "approve"})  # fmt: skip
    assert for_other.status_code == 403
    city_proposal = proposal("chengyu", ["50", "51"], "城市提案")
    city_vote = {"party": "51", "position": "approve"}
    city_writes = [
        await system.call("intake", "POST", "/projects", "city", json=city_proposal),
        await system.call("intake", "POST", f"/projects/{pid}/ballots/project_approval/positions", "city",
                          json=city_vote),
        await system.call("intake", "POST", f"/projects/{pid}/drafting", "city"),
        await system.call("publication", "POST", f"/standards/std-{pid}/withdrawal", "city",
                          json={"reason": "x"}),
    ]  # fmt: skip
    assert [r.status_code for r in city_writes] == [403, 403, 403, 403]
    unchanged = await system.ok("intake", "GET", f"/projects/{pid}", "city")
    assert unchanged == blocked

    await take_to_final_approval(system, project, ["50", "51"])
    for party in ("50", "51"):
        await vote(system, pid, "final_approval", party, "approve")
    standard = await published(system, pid)
    year = standard["year"]
    numbers = {n["party"]: n["number"] for n in standard["numbers"]}
    assert numbers == {"50": f"DB50/T 10001—{year}", "51": f"DB51/T 10001—{year}"}
    for form in (f"DB51/T 10001—{year}", f"DB50/T 10001-{year}"):
        found = await system.ok("publication", "GET", f"/standards/by-number/{quote(form, safe='')}", "city")
        assert found["standard_id"] == standard["standard_id"]

    city = PartnerCity(code="510100", name_zh="成都市", region="51", areas=("chengyu",))
    ledger = CityLedger(tmp_path / "city.sqlite")
    printed: list[str] = []
    stop = asyncio.Event()

    def announce(line: str) -> None:
        printed.append(line)
        # Other tests of this session publish on the same topic: stop at this test's standard.
        if any(sid == standard["standard_id"] for sid, _, _ in ledger.standards()):
            stop.set()

    subscriber = CitySubscriber(city, ledger, announce=announce, group_id=f"city-e2e-{letters()}")
    try:
        await asyncio.wait_for(run_subscriber(subscriber, stack.kafka_bootstrap, stop), 60)
    finally:
        ledger.close()
    assert any(
        "川渝地区高速公路服务区服务规范" in line and f"DB51/T 10001—{year}" in line for line in printed
    )


async def test_a_three_party_yrd_standard_and_a_rejected_proposal(system: System) -> None:
    parties = ["31", "32", "33"]
    body = proposal("yrd", parties, "长三角区域道路运输电子证照应用规范")
    project = await system.ok("intake", "POST", "/projects", "31", json=body)
    pid = await take_to_final_approval(system, project, parties)
    for party in parties:
        await vote(system, pid, "final_approval", party, "approve")
    standard = await published(system, pid)
    year = standard["year"]
    assert [n["number"] for n in standard["numbers"]] == [f"DB{p}/T 310001—{year}" for p in parties]
    assert standard["parties"] == parties

    body = proposal("chengyu", ["50", "51"], "川渝地区花椒育苗技术规程")
    rejected = await system.ok("intake", "POST", "/projects", "51", json=body)
    rid = rejected["project_id"]
    await vote(system, rid, "project_approval", "51", "approve")
    await vote(system, rid, "project_approval", "50", "reject", reason="已有同类标准")
    outcome = await system.ok("intake", "GET", f"/projects/{rid}", "city")
    assert outcome["status"] == "rejected"
    late = await system.call("intake", "POST", f"/projects/{rid}/drafting", "51")
    assert late.status_code == 409


async def test_the_openapi_documents_are_served(system: System) -> None:
    for client, path in (
        (system.intake, "/projects/{project_id}"),
        (system.publication, "/standards/by-number/{number}"),
    ):
        document = (await client.get("/openapi.json")).json()
        assert path in document["paths"]
        assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert (await client.get("/docs")).status_code == 200


async def test_a_review_ending_in_revise_leads_to_a_revision_that_supersedes_and_cities_follow(
    system: System, stack: Any, tmp_path: Path
) -> None:
    title = "川渝地区电动汽车充电站运营服务规范"
    first = await system.ok(
        "intake", "POST", "/projects", "50", json=proposal("chengyu", ["50", "51"], title)
    )
    pid = await take_to_final_approval(system, first, ["50", "51"])
    for party in ("50", "51"):
        await vote(system, pid, "final_approval", party, "approve")
    old = await published(system, pid)
    old_id, sequence, year = old["standard_id"], old["sequence"], old["year"]

    # A partner city follows the standard from now on.
    city = PartnerCity(code="510100", name_zh="成都市", region="51", areas=("chengyu",))
    ledger = CityLedger(tmp_path / "city.sqlite")
    printed: list[str] = []
    stop = asyncio.Event()
    subscriber = CitySubscriber(city, ledger, announce=printed.append, group_id=f"city-life-{letters()}")
    listening = asyncio.create_task(run_subscriber(subscriber, stack.kafka_bootstrap, stop))
    try:
        await eventually(lambda: _true(ledger.has(old_id)), "the city to receive the standard", within=60)

        # Five years and a season later the review (复审) is overdue: the scheduler says so once.
        life = await system.ok("publication", "GET", f"/standards/{old_id}/life", "city")
        review_due = next(c for c in life["clocks"] if c["name"] == "review")["due_on"]
        system.publication_clock.advance(days=5 * 365 + 120)

        async def review_overdue() -> bool:
            life = await system.ok("publication", "GET", f"/standards/{old_id}/life", "city")
            return any(c["name"] == "review" and c["state"] == "overdue" for c in life["clocks"])

        await eventually(review_overdue, "the review clock to go overdue", within=60)
        assert review_due == f"{int(old['implementation_date'][:4]) + 5}{old['implementation_date'][4:]}"

        refused = [
            await system.call("publication", "POST", f"/standards/{old_id}/review-conclusions", "city",
                              json={"outcome": "revise"}),
            await system.call("publication", "POST", f"/standards/{old_id}/review-conclusions", "31",
                              json={"outcome": "revise"}),
        ]  # fmt: skip
        anonymous = await system.publication.post(
            f"/standards/{old_id}/filings",
            json={"party": "50", "filing_number": "x", "filed_on": old["publication_date"]},
        )
        refused.append(anonymous)
        assert [r.status_code for r in refused] == [403, 403, 401]
        untouched = await system.ok("publication", "GET", f"/standards/{old_id}/life", "city")
        assert (untouched["reviews"], untouched["filings"]) == ([], []), "refusals record nothing"
        for party in ("50", "51"):
            after = await system.ok("publication", "POST", f"/standards/{old_id}/review-conclusions", party,
                                    json={"outcome": "revise", "reason": "技术指标需更新"})  # fmt: skip
        assert after["revision_pending"] is True
        assert after["reviews"][-1]["outcome"] == "revise"

        # The revision project names the standard it revises; intake knows it from the topic.
        revision = {**proposal("chengyu", ["50", "51"], title + "（修订）"), "supersedes": old_id}

        async def proposed() -> Any:
            response = await system.call("intake", "POST", "/projects", "51", json=revision)
            return response.json() if response.status_code == 201 else None

        second = await eventually(proposed, "intake to accept the revision project", within=60)
        assert second["supersedes"] == old_id
        rid = await take_to_final_approval(system, second, ["50", "51"])
        for party in ("50", "51"):
            await vote(system, rid, "final_approval", party, "approve")
        new = await published(system, rid)
        new_year = new["year"]
        expected_year = (system.publication_clock() + timedelta(hours=8)).year  # the CST year today
        assert (new_year, new["publication_date"][:4]) == (expected_year, str(expected_year))
        assert new_year > year, "the revision takes the year of its publication"
        assert new["sequence"] == sequence
        assert [n["number"] for n in new["numbers"]] == [
            f"DB50/T {sequence}—{new_year}", f"DB51/T {sequence}—{new_year}",
        ]  # fmt: skip

        async def superseded() -> Any:
            life = await system.ok("publication", "GET", f"/standards/{old_id}/life", "city")
            return life if life["status"] == "superseded" else None

        ended = (await eventually(superseded, "the old standard to be superseded", within=60))["ending"]
        assert (ended["successor"], ended["effective_date"]) == (
            new["standard_id"],
            new["implementation_date"],
        )
        block = await system.ok("publication", "GET", "/blocks/chengyu", "city")
        holders = [a["project_id"] for a in block["allocations"] if a["sequence"] == sequence]
        assert holders == [pid], "a revision draws no new number: the block keeps one holder"
        assert all(a["project_id"] != rid for a in block["allocations"])

        await eventually(
            lambda: _true(ledger.current(old_id) == new["standard_id"] and ledger.has(new["standard_id"])),
            "the city to follow the standard to its revision",
            within=60,
        )
    finally:
        stop.set()
        await listening
        ledger.close()
    assert [what for what, _, _ in ledger_changes(tmp_path / "city.sqlite", old_id)] == [
        "review:revise", "superseded",
    ]  # fmt: skip
    assert any("superseded by" in line and f"DB51/T {sequence}—{new_year}" in line for line in printed)


async def _true(value: bool) -> bool:
    return value


def ledger_changes(path: Path, standard_id: str) -> list[tuple[str, str | None, str | None]]:
    ledger = CityLedger(path)
    try:
        return ledger.changes(standard_id)
    finally:
        ledger.close()
