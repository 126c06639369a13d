"""Project intake against the real Kafka and FerretDB: the HTTP API drives projects through their
lifecycle, events arrive on `regstd.intake.projects.v1`, refusals change nothing, published
standards feed the overlap check, and two instances flag an overdue ballot exactly once."""

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from regstd.contracts.common import TextReference
from regstd.contracts.intake import BallotDecided, BallotOverdue, ProjectFinallyApproved
from regstd.contracts.publication import PartyNumber, StandardPublished
from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.runtime.events import new_event, to_kafka
from regstd.runtime.testing import MovableClock, bearer, committed, eventually, letters

from .conftest import SHA, Scenario, proposal_body

TEXT = {"location": "https://texts.example/final.pdf", "sha256": SHA}


def _published(title_zh: str, sequence: int) -> StandardPublished:
    return StandardPublished(
        standard_id=f"std-{letters()}",
        area="chengyu",
        parties=["50", "51"],
        numbers=[
            PartyNumber(party="50", number=f"DB50/T {sequence}—2025"),
            PartyNumber(party="51", number=f"DB51/T {sequence}—2025"),
        ],
        sequence=sequence,
        year=2025,
        title_zh=title_zh,
        category="transport",
        kind="recommended",
        publication_date=date(2025, 6, 1),
        implementation_date=date(2025, 9, 1),
        text=TextReference(location="https://texts.example/std.pdf", sha256=SHA),
        published_at=datetime.now(UTC),
    )


async def test_a_project_goes_from_proposal_to_final_approval_with_its_events_on_kafka(
    scenario: Scenario,
) -> None:
    clock = MovableClock()
    # The clock scheduler runs once at start only: the events below are exactly the commands' own.
    service = await scenario.instance(clock, clock_scan_interval_s=3600)
    bootstrap = scenario.stack.kafka_bootstrap

    # Publication announced a similar standard earlier; the announcement arrives twice.
    standard = _published("成渝地区高速公路沥青路面养护技术规范", 10003)
    record = to_kafka(new_event(standard))
    before = await committed(bootstrap, scenario.group, PUBLICATION_STANDARDS.name)
    for _ in range(2):
        await asyncio.gather(await service.runtime.send(record))
    await eventually(
        lambda: _equals(committed(bootstrap, scenario.group, PUBLICATION_STANDARDS.name), before + 2),
        what="intake to consume both deliveries of the published standard",
        within=60,
    )
    row = await service.standards.load(standard.standard_id)
    assert row is not None
    assert (row.version, len(row.processed)) == (1, 1), "the repeated delivery had no second effect"

    async with scenario.client() as client:
        created = await client.post("/projects", json=proposal_body(), headers=bearer("reg-50"))
        assert created.status_code == 201, created.text
        project = created.json()
        pid = project["project_id"]
        assert project["status"] == "awaiting_project_approval"
        assert project["ballots"]["project_approval"]["parties"] == ["50", "51"]
        [match] = project["overlap_matches"]
        assert (match["kind"], match["ref"], match["number"]) == (
            "standard",
            standard.standard_id,
            "DB50/T 10003—2025 = DB51/T 10003—2025",
        )
        assert match["score"] > 0.7

        async def post(path: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            response = await client.post(f"/projects/{pid}{path}", json=body, headers=bearer(token))
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return answer

        for party in ("50", "51"):
            project = await post(
                "/ballots/project_approval/positions", f"reg-{party}", {"party": party, "position": "approve"}
            )
        assert project["status"] == "project_approved"
        await post("/drafting", "reg-51")
        project = await post("/public-comment", "reg-50")  # no body: the minimum period
        closes_on = project["public_comment"]["closes_on"]

        early = await client.post(f"/projects/{pid}/public-comment/close", headers=bearer("reg-50"))
        assert early.status_code == 409
        assert early.json()["message"].startswith(f"cannot close public comment before {closes_on}")

        clock.advance(days=31)
        await post("/public-comment/close", "reg-50")
        for party in ("51", "50"):
            await post(
                "/review-conclusions",
                f"reg-{party}",
                {"party": party, "conclusion": "技术内容合理，同意通过", "passed": True},
            )
        project = await post("/submission", "reg-51", {"text": TEXT})
        assert project["status"] == "awaiting_final_approval"
        for party in ("51", "50"):
            project = await post(
                "/ballots/final_approval/positions", f"reg-{party}", {"party": party, "position": "approve"}
            )
        assert project["status"] == "finally_approved"

        shown = (await client.get(f"/projects/{pid}", headers=bearer("city-chengdu"))).json()
        assert shown == project
        assert [(m["milestone"], m["recorded_by"]["code"]) for m in shown["milestones"]] == [
            ("drafting_started", "51"),
            ("public_comment_opened", "50"),
            ("public_comment_closed", "50"),
            ("review_conclusion_recorded", "51"),
            ("review_conclusion_recorded", "50"),
            ("submitted_for_final_approval", "51"),
        ]

    events = await scenario.events_of(pid)
    assert [e["type"].split(".", 3)[3] for e in events] == [
        "project.proposed.v1",
        "ballot.opened.v1",
        "ballot.position-recorded.v1",
        "ballot.position-recorded.v1",
        "ballot.decided.v1",
        "project.clock-changed.v1",  # the 立项 ballot's clock is met
        "project.milestone-recorded.v1",
        "project.milestone-recorded.v1",
        "project.milestone-recorded.v1",
        "project.clock-changed.v1",  # the end of public comment is met
        "project.milestone-recorded.v1",
        "project.milestone-recorded.v1",
        "project.milestone-recorded.v1",
        "ballot.opened.v1",
        "ballot.position-recorded.v1",
        "ballot.position-recorded.v1",
        "ballot.decided.v1",
        "project.clock-changed.v1",  # the 批准 ballot's clock is met
        "project.finally-approved.v1",
        "project.clock-changed.v1",  # the cycle-time target is met
    ]
    assert len({e["id"] for e in events}) == len(events)
    clocks = [(e["data"]["clock"], e["data"]["happening"]) for e in events if "clock" in e["data"]]
    assert clocks == [("ballot", "met"), ("public_comment", "met"), ("ballot", "met"), ("cycle_time", "met")]
    approved = ProjectFinallyApproved.model_validate(events[-2]["data"])
    assert approved.project_approved_at == datetime.fromisoformat(project["project_approved_at"])
    assert approved.approved_at == datetime.fromisoformat(project["finally_approved_at"])
    assert approved.text == TextReference(**TEXT)
    assert (approved.area, approved.parties, approved.kind, approved.category) == (
        "chengyu",
        ["50", "51"],
        "recommended",
        "transport",
    )
    assert events[0]["data"]["overlap_matches"][0]["ref"] == standard.standard_id


async def test_refused_requests_change_nothing(scenario: Scenario) -> None:
    service = await scenario.instance()
    async with scenario.client() as client:
        created = await client.post("/projects", json=proposal_body(), headers=bearer("reg-50"))
        assert created.status_code == 201, created.text
        pid = created.json()["project_id"]
        position = {"party": "51", "position": "approve"}
        writes: list[tuple[str, dict[str, Any] | None]] = [
            ("/projects", proposal_body()),
            (f"/projects/{pid}/ballots/project_approval/positions", position),
            (f"/projects/{pid}/ballots/project_approval/positions", {"party": "50", "position": "approve"}),
            (f"/projects/{pid}/drafting", None),
            (f"/projects/{pid}/public-comment", {}),
            (f"/projects/{pid}/public-comment/close", None),
            (f"/projects/{pid}/review-conclusions", {"party": "51", "conclusion": "通过", "passed": True}),
            (f"/projects/{pid}/submission", {"text": TEXT}),
        ]

        async def status_and_message(path: str, body: Any, token: str | None) -> tuple[int, str]:
            headers = bearer(token) if token else {}
            response = await client.post(path, json=body, headers=headers)
            return response.status_code, response.json()["message"]

        # No token, an unknown token: 401. A city or an operator: 403 on every write.
        for path, body in writes:
            assert (await status_and_message(path, body, None))[0] == 401
            assert (await status_and_message(path, body, "guess"))[0] == 401
            for token in ("city-chengdu", "ops"):
                status, message = await status_and_message(path, body, token)
                assert status == 403, (path, token, message)
                assert "may only read" in message

        # A regulator voting for the other region, or for a region that is not a party: 403.
        assert await status_and_message(writes[1][0], position, "reg-50") == (
            403,
            "the regulator of region 50 acts only for region 50, not for 51",
        )
        status, message = await status_and_message(
            writes[1][0], {"party": "52", "position": "approve"}, "reg-52"
        )
        assert (status, message.startswith(f"region 52 is not a party of project {pid}")) == (403, True)
        status, message = await status_and_message(f"/projects/{pid}/drafting", None, "reg-52")
        assert (status, "only the regulators of the parties" in message) == (403, True)
        status, message = await status_and_message(
            "/projects", proposal_body(area="yrd", parties=["31", "32"]), "reg-50"
        )
        assert (status, "may propose only a project its region takes part in" in message) == (403, True)

        # Malformed or against the rules: 422.
        for path, body, expected in [
            ("/projects", proposal_body() | {"budget": 1}, "body.budget: Extra inputs are not permitted"),
            ("/projects", proposal_body(parties=["50"]), "needs at least 2 distinct parties"),
            ("/projects", proposal_body(title_zh="Asphalt"), "contains no Chinese characters"),
            ("/projects", proposal_body() | {"kind": "voluntary"}, "body.kind"),
            (writes[1][0], {"party": "51", "position": "object"}, "an objection needs a reason"),
            (writes[1][0], {"party": "51", "position": "maybe"}, "body.position"),
            (f"/projects/{pid}/ballots/third/positions", position, "path.stage"),
        ]:
            status, message = await status_and_message(
                path, body, "reg-51" if "position" in body else "reg-50"
            )
            assert (status, expected in message) == (422, True), (body, message)

        # Out of order: 409, saying where the project is. Unknown project: 404.
        status, message = await status_and_message(f"/projects/{pid}/drafting", None, "reg-50")
        assert status == 409
        assert "is awaiting project approval" in message
        assert "needs it to be approved as a project" in message
        status, _ = await status_and_message(
            f"/projects/{pid}/ballots/final_approval/positions", position, "reg-51"
        )
        assert status == 409
        status, message = await status_and_message("/projects/prj-none/drafting", None, "reg-50")
        assert (status, message) == (404, "no project prj-none")

        # Everyone authenticated reads, and sees nothing changed.
        listed = await client.get("/projects", headers=bearer("city-chengdu"))
        assert listed.status_code == 200
        assert [p["project_id"] for p in listed.json()["items"]] == [pid]
        shown = (await client.get(f"/projects/{pid}", headers=bearer("ops"))).json()
        assert shown["ballots"]["project_approval"]["positions"] == {}
        assert shown["milestones"] == []

    collection = service.projects.collection
    assert await collection.count_documents({}) == 1
    loaded = await service.projects.load(pid)
    assert loaded is not None
    assert loaded.version == 1, "no refused request stored anything"
    events = await scenario.events_of(pid)
    assert [e["type"] for e in events] == [
        "cn.regstd.intake.project.proposed.v1",
        "cn.regstd.intake.ballot.opened.v1",
    ]


async def test_two_instances_flag_an_overdue_ballot_exactly_once(scenario: Scenario) -> None:
    clock = MovableClock()
    first = await scenario.instance(clock, clock_scan_interval_s=0.05)
    second = await scenario.instance(clock, clock_scan_interval_s=0.05)
    async with scenario.client(first) as client:
        created = await client.post("/projects", json=proposal_body(), headers=bearer("reg-51"))
        assert created.status_code == 201, created.text
        pid = created.json()["project_id"]
        approved = await client.post(
            f"/projects/{pid}/ballots/project_approval/positions",
            json={"party": "51", "position": "approve"},
            headers=bearer("reg-51"),
        )
        assert approved.status_code == 200, approved.text

        clock.advance(days=31)  # past the end of the due date (30 days after opening, CST)

        async def flagged() -> bool:
            loaded = await first.projects.load(pid)
            return (
                loaded is not None and loaded.state["ballots"]["project_approval"]["overdue_at"] is not None
            )

        await eventually(flagged, what="a clock scheduler to flag the overdue ballot", within=60)
        # Both instances race a few more rounds by hand as well: nothing more is flagged.
        rounds = await asyncio.gather(*(s.clocks.tick() for s in (first, second, first, second)))
        assert sum(rounds) == 0

        # The late party still approves: the overdue ballot stayed open.
        late = await client.post(
            f"/projects/{pid}/ballots/project_approval/positions",
            json={"party": "50", "position": "approve"},
            headers=bearer("reg-50"),
        )
        assert late.json()["status"] == "project_approved"

    events = await scenario.events_of(pid)
    overdue = [e for e in events if e["type"] == BallotOverdue.event_type]
    assert len(overdue) == 1
    assert overdue[0]["data"]["waiting_for"] == ["50"]
    assert overdue[0]["data"]["stage"] == "project_approval"
    decided = [e for e in events if e["type"] == BallotDecided.event_type]
    assert len(decided) == 1
    assert events.index(decided[0]) > events.index(overdue[0])


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_concurrent_positions_on_two_instances_are_all_recorded_and_decide_the_ballot_once(
    scenario: Scenario,
) -> None:
    first, second = await scenario.instance(), await scenario.instance()
    yrd = proposal_body(
        area="yrd", parties=["31", "32", "33", "34"], title_zh="长三角区域 数据中心能效评价规范"
    )
    async with scenario.client(first) as one, scenario.client(second) as other:
        created = await one.post("/projects", json=yrd, headers=bearer("reg-33"))
        assert created.status_code == 201, created.text
        pid = created.json()["project_id"]
        path = f"/projects/{pid}/ballots/project_approval/positions"
        answers = await asyncio.gather(
            *(
                client.post(
                    path, json={"party": party, "position": "approve"}, headers=bearer(f"reg-{party}")
                )
                for client, party in ((one, "31"), (other, "32"), (one, "33"), (other, "34"))
            )
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        shown = (await other.get(f"/projects/{pid}", headers=bearer("reg-31"))).json()
    assert shown["status"] == "project_approved"
    assert sorted(shown["ballots"]["project_approval"]["positions"]) == ["31", "32", "33", "34"]

    events = await scenario.events_of(pid)
    assert [e["type"] for e in events].count("cn.regstd.intake.ballot.position-recorded.v1") == 4
    [decided] = [e for e in events if e["type"] == BallotDecided.event_type]
    assert decided["data"]["outcome"] == "passed"
