"""The overlap index against the real Kafka and FerretDB: it follows publication's events and
intake's own proposals, the preview answers from it without storing anything, and an index lost or
cut short by a crash is rebuilt at the next start."""

import asyncio
from typing import Any

from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.intake.adapters.overlap_index import STATE_ID, MongoOverlapIndex
from regstd.intake.domain.overlap import Candidate
from regstd.intake.domain.overlap_index import Terms
from regstd.intake.main import IntakeService
from regstd.runtime.events import new_event, to_kafka
from regstd.runtime.testing import bearer, committed, eventually

from .conftest import Scenario, proposal_body
from .test_intake_infra import _published

STANDARD_TITLE = "成渝地区高速公路沥青路面养护技术规范"


async def _consumed(scenario: Scenario, before: int) -> bool:
    bootstrap = scenario.stack.kafka_bootstrap
    return await committed(bootstrap, scenario.group, PUBLICATION_STANDARDS.name) == before


async def _preview(service: IntakeService, scenario: Scenario, **overrides: Any) -> list[tuple[str, str]]:
    async with scenario.client(service) as client:
        answer = await client.post(
            "/projects/overlaps", json=proposal_body(**overrides), headers=bearer("reg-50")
        )
    assert answer.status_code == 200, answer.text
    return [(m["kind"], m["ref"]) for m in answer.json()["matches"]]


async def test_the_index_follows_publications_events_and_proposals_and_the_preview_stores_nothing(
    scenario: Scenario,
) -> None:
    service = await scenario.instance(clock_scan_interval_s=3600)
    bootstrap = scenario.stack.kafka_bootstrap
    assert await service.overlaps.built(), "an empty store's index is built at start"

    standard = _published(STANDARD_TITLE, 10003)
    before = await committed(bootstrap, scenario.group, PUBLICATION_STANDARDS.name)
    await asyncio.gather(await service.runtime.send(to_kafka(new_event(standard))))
    await eventually(
        lambda: _consumed(scenario, before + 1), what="intake to consume the standard", within=60
    )
    assert await _preview(service, scenario) == [("standard", standard.standard_id)]

    async with scenario.client() as client:
        created = await client.post("/projects", json=proposal_body(), headers=bearer("reg-50"))
        assert created.status_code == 201, created.text
        project_id = created.json()["project_id"]
        # Refused previews: nothing stored, the same refusals as a proposal.
        refusals = [
            (None, proposal_body(), 401),
            ("city-chengdu", proposal_body(), 403),
            ("ops", proposal_body(), 403),
            ("reg-31", proposal_body(), 403),  # not a party of the proposal
            ("reg-50", proposal_body(area="nowhere"), 422),
            ("reg-50", proposal_body(title_zh="Asphalt"), 422),
            ("reg-50", {**proposal_body(), "unknown": 1}, 422),
        ]
        for token, body, status in refusals:
            answer = await client.post(
                "/projects/overlaps", json=body, headers=bearer(token) if token else {}
            )
            assert answer.status_code == status, (token, body, answer.text)
            assert answer.json()["message"]
    previewed = await _preview(service, scenario)
    assert set(previewed) == {("standard", standard.standard_id), ("project", project_id)}
    assert await service.projects.collection.count_documents({}) == 1, "previews stored nothing"


async def test_a_lost_index_is_rebuilt_at_start_and_a_posting_without_its_project_is_dropped(
    scenario: Scenario,
) -> None:
    first = await scenario.instance(clock_scan_interval_s=3600)
    async with scenario.client(first) as client:
        created = await client.post("/projects", json=proposal_body(), headers=bearer("reg-50"))
        assert created.status_code == 201, created.text
    project_id = created.json()["project_id"]

    # A crash between indexing a proposal and saving it leaves a posting of no project: dropped.
    await first.overlaps.add(
        [Candidate("project", "prj-neversaved", "川渝地区公路沥青路面养护技术规范", "养护")]
    )
    assert await _preview(first, scenario) == [("project", project_id)]

    # The index lost (or cut short before its state was written): the next start rebuilds it.
    await first.overlaps.collection.delete_many({})
    assert await _preview(first, scenario) == []
    second = await scenario.instance(clock_scan_interval_s=3600)
    assert await second.overlaps.built()
    assert await _preview(second, scenario) == [("project", project_id)]

    # An index of an older scheme is rebuilt too.
    await second.overlaps.collection.update_one({"_id": STATE_ID}, {"$set": {"scheme": "older"}})
    rebuilt = await second.overlaps.ensure_built()
    assert rebuilt is not None
    assert rebuilt.candidates == 1
    assert await second.overlaps.ensure_built() is None
    assert (await second.overlaps.frequencies())["沥青"] == 1, "the rebuild counted the project's terms"
    assert await _preview(second, scenario) == [("project", project_id)]


async def test_another_process_sees_the_additions_and_notices_a_rebuild_before_choosing_terms(
    scenario: Scenario,
) -> None:
    service = await scenario.instance(clock_scan_interval_s=3600)
    overlaps = service.overlaps
    elsewhere = MongoOverlapIndex(
        overlaps.collection, projects=overlaps.projects, standards=overlaps.standards, budget=1
    )
    assert await elsewhere.frequencies() == {}  # read before anything was proposed
    async with scenario.client(service) as client:
        for _ in range(3):
            created = await client.post("/projects", json=proposal_body(), headers=bearer("reg-50"))
            assert created.status_code == 201, created.text
    project_ids = {p["project_id"] for p in await _projects(service)}
    assert len(project_ids) == 3
    query = Terms.of(proposal_body()["title_zh"], proposal_body()["scope"])
    # No term counted at the last rebuild: every term is read, the additions made by `service` too.
    every_term = await elsewhere.postings(query)
    assert len({term for term, _ in every_term}) == len(query.all)
    assert {p.ref for _, p in every_term} == project_ids

    await overlaps.rebuild()  # another process's rebuild: `elsewhere` still holds no frequencies
    rarest_only = await elsewhere.postings(query)
    assert len({term for term, _ in rarest_only}) == 1, "the new frequencies chose the terms"
    assert {p.ref for _, p in rarest_only} == project_ids
    assert (await elsewhere.frequencies())["沥青"] == 3


async def test_additions_made_side_by_side_are_one_count_and_one_insert_and_others_see_each(
    scenario: Scenario, monkeypatch: Any
) -> None:
    service = await scenario.instance(clock_scan_interval_s=3600)
    overlaps = service.overlaps
    await overlaps.ensure_built()
    calls: list[str] = []
    for name in ("find_one_and_update", "insert_one", "insert_many"):
        method = getattr(overlaps.collection, name)

        def counted(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls.append(_name)
            return _method(*args, **kwargs)

        monkeypatch.setattr(overlaps.collection, name, counted)
    standards = [
        Candidate(
            kind="standard", ref=f"std-{i}", title_zh=f"{STANDARD_TITLE}第{i}部分", number=f"DB50/T {i}—2026"
        )
        for i in range(12)
    ]
    await asyncio.gather(*(overlaps.add([c]) for c in standards))
    assert sorted(calls) == ["find_one_and_update", "insert_many"], "one count and one insert for the round"

    elsewhere = MongoOverlapIndex(
        overlaps.collection, projects=overlaps.projects, standards=overlaps.standards
    )
    query = Terms.of(STANDARD_TITLE, None)
    mine, theirs = await overlaps.postings(query), await elsewhere.postings(query)
    assert {p.ref for _, p in mine} == {c.ref for c in standards}, "this process holds each addition"
    assert {p.ref for _, p in theirs} == {c.ref for c in standards}, "another process reads each addition"


async def _projects(service: IntakeService) -> list[dict[str, Any]]:
    return [doc async for doc in service.projects.collection.find({}, projection={"project_id": True})]
