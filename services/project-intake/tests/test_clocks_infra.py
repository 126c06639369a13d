"""Project clocks on the real Kafka and FerretDB, with a clock the test moves: two instances fire
every clock once, an instance started long after the deadlines (a restart) fires each once too, a
project stored before projects had clocks gets them on the first round, `/metrics` counts what is
overdue, and `/projects/overdue` lists the project past its cycle-time target. Events are counted
on the topic by their CloudEvents id."""

import asyncio
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from pymongo import AsyncMongoClient

from regstd.contracts.intake import BallotOverdue, ProjectClockChanged
from regstd.contracts.reference import load_reference
from regstd.intake.domain.clocks import ClockRules
from regstd.intake.domain.project import Project
from regstd.intake.main import IntakeService
from regstd.kernel.clocks import NEXT_AT, OVERDUE
from regstd.kernel.time import china_date
from regstd.runtime.store import AggregateStore
from regstd.runtime.testing import MovableClock, bearer

from .conftest import REGULATORS, Scenario, proposal, proposal_body

START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 10:00 CST


async def _rounds(*services: IntakeService, times: int = 3) -> None:
    """Scheduler rounds of every instance at once, as their background loops would run them."""
    for _ in range(times):
        await asyncio.gather(*(s.clocks.tick() for s in services))


async def _overdue_gauge(scenario: Scenario, service: IntakeService, kind: str) -> float:
    async with scenario.client(service) as client:
        text = (await client.get("/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith(f'regstd_overdue{{kind="{kind}"}}'))
    return float(line.split()[-1])


async def test_two_instances_and_a_late_restart_fire_each_project_clock_once(scenario: Scenario) -> None:
    clock = MovableClock(START)
    # A project stored by the service before projects had clocks: its 立项 ballot opened today.
    old, _ = Project.propose(
        proposal(title_zh="川渝地区 旧项目 农村公路养护规范"),
        project_id="prj-oldclocks01",
        reference=load_reference(),
        proposer=REGULATORS["50"],
        now=START,
        rules=ClockRules(),
    )
    document = old.to_document()
    for key in ("clocks", NEXT_AT, OVERDUE):
        document.pop(key)
    document["overdue_watch"] = old.ballots["project_approval"].deadline
    client: AsyncMongoClient[Any] = AsyncMongoClient(scenario.stack.mongo_url, tz_aware=True)
    await AggregateStore(client[scenario.database]["projects"]).save(old.project_id, document, loaded=None)
    await client.close()

    # The upgraded service starts; its background loops are slowed down so the test drives the rounds.
    first = await scenario.instance(clock, clock_scan_interval_s=3600)
    second = await scenario.instance(clock, clock_scan_interval_s=3600)

    async with scenario.client(first) as client:

        async def post(path: str, token: str, body: dict[str, object] | None = None) -> dict[str, object]:
            response = await client.post(path, json=body, headers=bearer(token))
            assert response.status_code in (200, 201), response.text
            answer: dict[str, object] = response.json()
            return answer

        # In comment: approved as a project (cycle time starts), drafting, comment open for 30 days.
        commenting = str((await post("/projects", "reg-50", proposal_body()))["project_id"])
        for party in ("50", "51"):
            await post(
                f"/projects/{commenting}/ballots/project_approval/positions",
                f"reg-{party}",
                {"party": party, "position": "approve"},
            )
        await post(f"/projects/{commenting}/drafting", "reg-50")
        await post(f"/projects/{commenting}/public-comment", "reg-50")
        # Waiting: only 51 approved its 立项 ballot.
        waiting = str(
            (await post("/projects", "reg-51", proposal_body(title_zh="川渝地区 隧道照明设计规范")))[
                "project_id"
            ]
        )
        await post(
            f"/projects/{waiting}/ballots/project_approval/positions",
            "reg-51",
            {"party": "51", "position": "approve"},
        )

        await _rounds(first, second)  # the old project gets its clocks; nothing is due yet
        stored = await first.projects.load(old.project_id)
        assert stored is not None
        assert [c["name"] for c in stored.state["clocks"]] == ["ballot:project_approval"]
        assert "overdue_watch" not in stored.state

        clock.advance(days=26)  # 18 December CST: every deadline of 22 December is near
        await _rounds(first, second)

        # One more instance starts on 21 January, long after those deadlines (a late restart), and
        # races the second; the first does no more rounds.
        clock.advance(days=34)
        restarted = await scenario.instance(clock, clock_scan_interval_s=3600)
        await _rounds(restarted, second)
        assert await _overdue_gauge(scenario, restarted, "ballot") == 2
        assert await _overdue_gauge(scenario, restarted, "public_comment") == 1
        assert await _overdue_gauge(scenario, restarted, "cycle_time") == 0

        await post(f"/projects/{commenting}/public-comment/close", "reg-51")
        # 19 months after project approval: the cycle-time target (18 months) has passed.
        clock.advance(days=600 - 60)
        await _rounds(restarted, second)
        assert await _overdue_gauge(scenario, second, "cycle_time") == 1
        assert await _overdue_gauge(scenario, second, "public_comment") == 0

        listing = await client.get(
            "/projects/overdue", params={"area": "chengyu"}, headers=bearer("city-chengdu")
        )
        assert listing.status_code == 200, listing.text
        [item] = listing.json()["items"]
        assert item["project_id"] == commenting
        assert (item["clock"]["name"], item["clock"]["due_on"]) == ("cycle_time", "2028-05-22")
        assert item["clock"]["days_overdue"] == (china_date(clock()) - date(2028, 5, 22)).days > 0
        shown = (await client.get(f"/projects/{commenting}", headers=bearer("ops"))).json()
        assert {d["name"]: d["state"] for d in shown["deadlines"]} == {
            "ballot:project_approval": "met",
            "public_comment": "met",
            "cycle_time": "overdue",
        }
        empty = await client.get("/projects/overdue", params={"area": "yrd"}, headers=bearer("ops"))
        assert empty.json()["items"] == []

    expected = {
        (commenting, "ballot", "met"),
        (commenting, "public_comment", "due_soon"),
        (commenting, "public_comment", "overdue"),
        (commenting, "public_comment", "met"),
        (commenting, "cycle_time", "overdue"),
        (waiting, "ballot", "due_soon"),
        (waiting, "ballot", "overdue"),
        (old.project_id, "ballot", "due_soon"),
        (old.project_id, "ballot", "overdue"),
    }
    seen: Counter[tuple[str, str, str]] = Counter()
    ballot_overdue: Counter[str] = Counter()
    for project_id in (commenting, waiting, old.project_id):
        events = await scenario.events_of(project_id)
        assert len({e["id"] for e in events}) == len(events), "each event once on the topic"
        for e in events:
            if e["type"] == ProjectClockChanged.event_type:
                seen[(project_id, e["data"]["clock"], e["data"]["happening"])] += 1
            elif e["type"] == BallotOverdue.event_type:
                ballot_overdue[project_id] += 1
    assert set(seen) == expected
    assert all(n == 1 for n in seen.values()), f"a clock fired more than once: {seen}"
    assert ballot_overdue == {waiting: 1, old.project_id: 1}, "BallotOverdue once per overdue ballot"
