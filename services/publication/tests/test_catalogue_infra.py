"""The service end to end on the real Kafka and FerretDB: a three-party standard, the catalogue and
its lookups, who may withdraw, and a number withdrawn before publication."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.publication import ApprovalRefused, NumberNotIssued, StandardPublished
from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.kernel.time import china_date
from regstd.publication.main import PublicationService
from regstd.runtime.testing import MovableClock, bearer, ce, eventually, letters, read_topic

from .conftest import Scenario, approval


async def _status(service: PublicationService, standard_id: str, status: str) -> bool:
    stored = await service.standards.find(standard_id)
    return stored is not None and stored.status == status


async def published(
    scenario: Scenario, service: PublicationService, *approvals: ProjectFinallyApproved
) -> None:
    await scenario.approve(*approvals)
    for a in approvals:
        await eventually(lambda a=a: _status(service, f"std-{a.project_id}", "published"), f"{a.project_id}")


async def events_about(scenario: Scenario, standard_ids: set[str], expected: int) -> list[Any]:
    def ours(records: list[Any]) -> list[Any]:
        return [r for r in records if r.key is not None and r.key.decode() in standard_ids]

    return ours(
        await read_topic(
            scenario.stack.kafka_bootstrap,
            PUBLICATION_STANDARDS.name,
            lambda seen: len(ours(seen)) >= expected,
        )
    )


async def test_a_three_party_yrd_standard_carries_one_sequence_under_three_codes(scenario: Scenario) -> None:
    service = await scenario.instance()
    project = f"yrd-{letters()}"
    await published(scenario, service, approval(project, area="yrd", parties=("33", "31", "32")))

    stored = await service.standards.find(f"std-{project}")
    assert stored is not None
    standard = stored
    assert standard.published_at is not None
    year = china_date(standard.published_at).year
    expected = [f"DB31/T 310001—{year}", f"DB32/T 310001—{year}", f"DB33/T 310001—{year}"]
    assert [n.number for n in standard.numbers] == expected

    [record] = await events_about(scenario, {standard.id}, expected=1)
    headers = ce(record)
    assert headers["ce_type"] == StandardPublished.event_type
    assert headers["ce_subject"] == standard.id == record.key.decode()
    event = StandardPublished.model_validate(json.loads(record.value))
    assert [n.number for n in event.numbers] == expected
    assert (event.sequence, event.year, event.area, event.parties) == (
        310001,
        year,
        "yrd",
        ["31", "32", "33"],
    )
    assert event.project_id == project
    assert event.publication_date == china_date(event.published_at)
    assert (event.implementation_date - event.publication_date).days == 90
    assert event.text.sha256 == "ab" * 32


async def test_approvals_that_break_a_rule_are_refused_visibly_and_spend_no_number(
    scenario: Scenario,
) -> None:
    # Issue 13: a yangtze "joint" project was dead-lettered silently; an approval for a project
    # intake never had was published with a real number.
    service = await scenario.instance()
    run = letters()
    eco, ghost = f"eco-{run}", f"ghost-{run}"
    await scenario.approve(approval(eco, area="yangtze", parties=("50", "51")))
    await scenario.approve_alone(approval(ghost))
    await scenario.until_consumed()

    records = await events_about(scenario, {f"std-{eco}", f"std-{ghost}"}, expected=2)
    refused = {
        r.key.decode(): ApprovalRefused.model_validate(json.loads(r.value))
        for r in records
        if ce(r)["ce_type"] == ApprovalRefused.event_type
    }
    assert len(records) == len(refused) == 2
    assert (refused[f"std-{eco}"].rule, refused[f"std-{ghost}"].rule) == ("no_joint_block", "unknown_project")
    assert await service.allocator.collection.count_documents({}) == 0
    assert await service.standards.find(f"std-{eco}") is None
    assert await service.standards.find(f"std-{ghost}") is None

    async with scenario.client() as client:
        metrics = (await client.get("/metrics")).text
        assert 'regstd_approvals_refused_total{rule="no_joint_block"} 1.0' in metrics
        assert 'regstd_approvals_refused_total{rule="unknown_project"} 1.0' in metrics
        feed = await client.get("/feeds/yangtze.atom")
        assert feed.status_code == 200
        assert f"Approval refused: project {eco}" in feed.text
        assert "no_joint_block" in feed.text


async def test_the_designation_registry_gives_a_designation_to_one_standard_under_concurrency(
    scenario: Scenario,
) -> None:
    service = await scenario.instance()
    designation = "DB51/T 1000—2026"
    outcomes = await asyncio.gather(
        *(service.designations.claim([designation], f"std-racer-{i}") for i in range(8))
    )
    winners = [i for i, taken in enumerate(outcomes) if taken is None]
    assert len(winners) == 1
    holder = await service.designations.holder(designation)
    assert holder == f"std-racer-{winners[0]}"
    assert all(taken == (designation, holder) for taken in outcomes if taken is not None)
    assert await service.designations.claim([designation], holder) is None, "the holder again: idempotent"


async def test_submissions_are_refused_over_http_with_the_rule_and_nothing_stored(scenario: Scenario) -> None:
    await scenario.instance()
    today = china_date(datetime.now(UTC))
    body: dict[str, Any] = {
        "number": f"DB51/T 3125—{today.year}",
        "area": "yangtze",
        "title_zh": "生态修复技术规范",
        "category": "ecology",
        "kind": "recommended",
        "publication_date": today.isoformat(),
        "implementation_date": (today + timedelta(days=30)).isoformat(),
        "text": {"location": "https://std.example/3125.pdf", "sha256": "ab" * 32},
    }
    async with scenario.client() as client:
        future = body | {"publication_date": (today + timedelta(days=1)).isoformat()}
        answer = await client.post("/submissions", json=future, headers=bearer("reg-51"))
        assert answer.status_code == 422
        assert "publication_date" in answer.json()["message"]
        script = body | {"text": {"location": "javascript:alert(1)", "sha256": "ab" * 32}}
        answer = await client.post("/submissions", json=script, headers=bearer("reg-51"))
        assert answer.status_code == 422
        assert "text.location" in answer.json()["message"]
        assert (await client.get("/standards", headers=bearer("ops"))).json()["total"] == 0

        created = await client.post("/submissions", json=body, headers=bearer("reg-51"))
        assert created.status_code == 200, created.text
        assert (created.json()["standing"], created.json()["in_force"]) == ("not_yet_in_force", False)
        other = body | {"number": body["number"].replace("—", "-"), "title_zh": "另一标准"}
        taken = await client.post("/submissions", json=other, headers=bearer("reg-51"))
        assert taken.status_code == 409
        assert created.json()["standard_id"] in taken.json()["message"]


async def test_the_catalogue_lists_filters_and_finds_by_any_number_in_any_dash(scenario: Scenario) -> None:
    service = await scenario.instance()
    run = letters()
    road, water, delta = f"road-{run}", f"water-{run}", f"delta-{run}"
    await published(scenario, service, approval(road))
    await published(scenario, service, approval(water, kind="mandatory", category="environment", eco=True))
    await published(scenario, service, approval(delta, area="yrd", parties=("31", "32", "33", "34")))
    stored = await service.standards.find(f"std-{road}")
    assert stored is not None
    assert stored.published_at is not None
    year = stored.year

    async with scenario.client() as client:

        async def get(path: str, token: str = "city-chengdu", **params: Any) -> Any:
            response = await client.get(path, params=params, headers=bearer(token))
            assert response.status_code == 200, response.text
            return response.json()

        def projects(page: Any) -> list[str]:
            return [s["project_id"] for s in page["items"]]

        assert projects(await get("/standards")) == [road, water, delta]  # by area, then sequence
        assert projects(await get("/standards", area="chengyu")) == [road, water]
        assert projects(await get("/standards", party="34")) == [delta]
        assert projects(await get("/standards", category="environment")) == [water]
        assert projects(await get("/standards", kind="mandatory", eco_civilization="true")) == [water]
        assert projects(await get("/standards", year=year, status="published", token="ops")) == [
            road,
            water,
            delta,
        ]
        assert (await get("/standards", year=year + 1))["total"] == 0
        assert (await get("/standards", status="numbered"))["total"] == 0
        page = await get("/standards", limit=1, offset=1, token="reg-31")
        assert (projects(page), page["total"]) == ([water], 3)

        one = await get(f"/standards/std-{road}")
        assert one["numbers"] == [
            {"party": "50", "number": f"DB50/T 10001—{year}"},
            {"party": "51", "number": f"DB51/T 10001—{year}"},
        ]
        assert (one["status"], one["publication_date"]) == (
            "published",
            stored.publication_date.isoformat(),
        )

        for written in (
            f"DB51/T 10001—{year}",
            f"DB51/T 10001-{year}",
            f"db50/t 10001－{year}",
            f"DB50/T  10001 – {year}",
        ):
            found = await get("/standards/by-number/" + quote(written, safe=""))
            assert found["standard_id"] == f"std-{road}", written
        assert (await get(f"/standards/by-number/DB51/T 10001-{year}"))["standard_id"] == f"std-{road}"
        for written in (f"DB50 10002—{year}", f"DB51/10002-{year}"):
            found = await get("/standards/by-number/" + quote(written, safe=""))
            assert found["standard_id"] == f"std-{water}", written
        assert (await get("/standards/by-number/" + quote(f"DB34/T 310001—{year}", safe="")))[
            "project_id"
        ] == delta

        missing = await client.get(
            "/standards/by-number/" + quote(f"DB50/T 10002—{year}", safe=""), headers=bearer("ops")
        )
        assert missing.status_code == 404, "10002 is mandatory: DB50/T 10002 is another number"
        assert missing.json()["message"] == f"no standard numbered DB50/T 10002—{year}"
        bad = await client.get("/standards/by-number/GB%2FT%201-2026", headers=bearer("ops"))
        assert bad.status_code == 422
        assert (await client.get("/standards/std-nothing", headers=bearer("ops"))).status_code == 404
        assert (
            await client.get("/standards", params={"area": "mars"}, headers=bearer("ops"))
        ).status_code == 422
        assert (await client.get("/standards")).status_code == 401

        block = await get("/blocks/chengyu")
        assert [(a["sequence"], a["project_id"], a["status"]) for a in block["allocations"]] == [
            (10001, road, "published"),
            (10002, water, "published"),
        ]
        assert block["gap_free"] is True
        assert (await client.get("/blocks/yangtze", headers=bearer("ops"))).status_code == 404

        # Only the regulator of a party may withdraw, and only before publication; nothing changes.
        before = await get(f"/standards/std-{road}")
        reason = {"reason": "try"}
        city = await client.post(
            f"/standards/std-{road}/withdrawal", json=reason, headers=bearer("city-chengdu")
        )
        assert city.status_code == 403
        assert "may only read" in city.json()["message"]
        other = await client.post(f"/standards/std-{road}/withdrawal", json=reason, headers=bearer("reg-31"))
        assert other.status_code == 403
        assert "not a party" in other.json()["message"]
        late = await client.post(f"/standards/std-{road}/withdrawal", json=reason, headers=bearer("reg-50"))
        assert late.status_code == 409
        assert "only a numbered, unpublished standard" in late.json()["message"]
        assert await get(f"/standards/std-{road}") == before
        assert (await get("/blocks/chengyu"))["allocations"][0]["status"] == "published"
        allocation = await service.allocator.for_project(road)
        assert allocation is not None
        assert allocation.status == "assigned"


async def test_a_number_withdrawn_before_publication_is_not_issued_and_never_reused(
    scenario: Scenario,
) -> None:
    clock = MovableClock()
    service = await scenario.instance(clock=clock, publication_delay_days=1)
    run = letters()
    first, second, third = f"first-{run}", f"second-{run}", f"third-{run}"
    for project in (first, second):  # one after the other, so that the order of the numbers is known
        await scenario.approve(approval(project))
        await eventually(lambda p=project: _status(service, f"std-{p}", "numbered"), f"{project} numbered")

    async with scenario.client() as client:
        withdraw = f"/standards/std-{first}/withdrawal"
        refused = await client.post(withdraw, json={"reason": "x"}, headers=bearer("city-chengdu"))
        assert refused.status_code == 403
        assert await _status(service, f"std-{first}", "numbered")

        response = await client.post(
            withdraw, json={"reason": "merged into the second project"}, headers=bearer("reg-51")
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "withdrawn"
        again = await client.post(withdraw, json={"reason": "again"}, headers=bearer("reg-50"))
        assert again.status_code == 409

        await scenario.approve(approval(third))
        await eventually(lambda: _status(service, f"std-{third}", "numbered"), "the third numbered")
        await scenario.approve(approval(first))  # a repeated approval of the withdrawn project
        await scenario.until_consumed()

        block = (await client.get("/blocks/chengyu", headers=bearer("city-chengdu"))).json()
        assert [(a["sequence"], a["project_id"], a["status"]) for a in block["allocations"]] == [
            (10001, first, "not_issued"),
            (10002, second, "numbered"),
            (10003, third, "numbered"),
        ]
        not_issued = block["allocations"][0]["not_issued"]
        assert not_issued["reason"] == "merged into the second project"
        assert not_issued["by"]["code"] == "51"
        assert (block["gap_free"], block["not_issued"]) == (True, 1)

        withdrawn = (
            await client.get("/standards", params={"status": "withdrawn"}, headers=bearer("ops"))
        ).json()
        assert [s["project_id"] for s in withdrawn["items"]] == [first]
        assert withdrawn["items"][0]["withdrawal"]["reason"] == "merged into the second project"
        numbered = (
            await client.get("/standards", params={"status": "numbered"}, headers=bearer("ops"))
        ).json()
        assert [s["project_id"] for s in numbered["items"]] == [second, third]

        # The day comes: the numbered standards are published, the withdrawn one is not.
        clock.advance(days=2)
        for project in (second, third):
            await eventually(
                lambda p=project: _status(service, f"std-{p}", "published"), f"{project} published"
            )
        assert await _status(service, f"std-{first}", "withdrawn")
        publication_day = china_date(clock())
        third_view = (await client.get(f"/standards/std-{third}", headers=bearer("ops"))).json()
        assert third_view["publication_date"] == publication_day.isoformat()
        assert third_view["numbers"][0]["number"] == f"DB50/T 10003—{publication_day.year}"
        late = await client.post(
            f"/standards/std-{second}/withdrawal", json={"reason": "too late"}, headers=bearer("reg-50")
        )
        assert late.status_code == 409

    allocation = await service.allocator.for_project(first)
    assert allocation is not None
    assert (allocation.status, allocation.reason) == ("not_issued", "merged into the second project")
    assert allocation.by is not None
    assert allocation.by.code == "51"
    assert allocation.not_issued_at is not None

    ids = {f"std-{p}" for p in (first, second, third)}
    records = await events_about(scenario, ids, expected=3)
    kinds = sorted((r.key.decode(), ce(r)["ce_type"]) for r in records)
    assert kinds == sorted(
        [
            (f"std-{first}", NumberNotIssued.event_type),
            (f"std-{second}", StandardPublished.event_type),
            (f"std-{third}", StandardPublished.event_type),
        ]
    )
    [not_issued_record] = [r for r in records if ce(r)["ce_type"] == NumberNotIssued.event_type]
    event = NumberNotIssued.model_validate(json.loads(not_issued_record.value))
    assert (event.sequence, event.reason, event.withdrawn_by.code) == (
        10001,
        "merged into the second project",
        "51",
    )
