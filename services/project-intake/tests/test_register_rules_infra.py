"""Issue 13 on the real Kafka and FerretDB: a yangtze joint project is refused, the comment closing
date is bounded and amended by the other party (its events on the intake topic), a `javascript:` text
is refused, and publication's `ApprovalRefused`, delivered twice, shows once on the project and in
`/metrics`."""

import asyncio
from datetime import timedelta
from typing import Any

from regstd.contracts.publication import ApprovalRefused
from regstd.runtime.events import new_event, to_kafka
from regstd.runtime.testing import MovableClock, bearer, eventually

from .conftest import SHA, Scenario, proposal_body

GAUGE = 'regstd_projects_refused_by_publication{area="chengyu"}'


async def test_the_register_s_intake_rules_hold_on_the_real_stack(scenario: Scenario) -> None:
    clock = MovableClock()
    service = await scenario.instance(clock, clock_scan_interval_s=3600)

    async with scenario.client() as client:

        async def post(path: str, token: str, body: Any = None, status: int = 200) -> dict[str, Any]:
            response = await client.post(path, json=body, headers=bearer(token))
            assert response.status_code == status, response.text
            answer: dict[str, Any] = response.json()
            return answer

        refused = await post("/projects", "reg-50", proposal_body(area="yangtze"), status=422)
        assert "only for areas with a joint number block (chengyu, yrd)" in refused["message"]

        pid = (await post("/projects", "reg-50", proposal_body(), status=201))["project_id"]
        for party in ("50", "51"):
            body = {"party": party, "position": "approve"}
            await post(f"/projects/{pid}/ballots/project_approval/positions", f"reg-{party}", body)
        await post(f"/projects/{pid}/drafting", "reg-50")
        too_late = await post(f"/projects/{pid}/public-comment", "reg-50", {"closes_on": "9999-12-31"}, 422)
        assert "at most 90 calendar days" in too_late["message"]
        opened = await post(f"/projects/{pid}/public-comment", "reg-50")
        first = opened["public_comment"]["closes_on"]
        moved_to = (clock() + timedelta(days=40)).date().isoformat()
        amended = await post(f"/projects/{pid}/public-comment/close-date", "reg-51", {"closes_on": moved_to})
        assert (amended["public_comment"]["closes_on"], first) != (first, moved_to)
        assert next(d for d in amended["deadlines"] if d["name"] == "public_comment")["due_on"] == moved_to

        clock.advance(days=41)
        await post(f"/projects/{pid}/public-comment/close", "reg-50")
        for party in ("50", "51"):
            body = {"party": party, "conclusion": "通过", "passed": True}
            await post(f"/projects/{pid}/review-conclusions", f"reg-{party}", body)
        script = {"text": {"location": "javascript:alert(1)", "sha256": SHA}}
        bad = await post(f"/projects/{pid}/submission", "reg-50", script, status=422)
        assert bad["message"].startswith("text.location must be an https: or http: URL")
        text = {"text": {"location": "https://texts.example/final.pdf", "sha256": SHA}}
        await post(f"/projects/{pid}/submission", "reg-50", text)
        for party in ("50", "51"):
            body = {"party": party, "position": "approve"}
            project = await post(f"/projects/{pid}/ballots/final_approval/positions", f"reg-{party}", body)
        assert project["status"] == "finally_approved"

        refusal = ApprovalRefused(
            standard_id=f"std-{pid}",
            project_id=pid,
            area="chengyu",
            parties=["50", "51"],
            rule="designation_taken",
            reason="DB50/T 10003—2026 已在册",
            approval_id="ev-approval",
            refused_at=clock(),
        )
        record = to_kafka(new_event(refusal))
        for _ in range(2):
            await asyncio.gather(await service.runtime.send(record))

        async def shown() -> dict[str, Any] | None:
            answer: dict[str, Any] = (
                await client.get(f"/projects/{pid}", headers=bearer("city-chengdu"))
            ).json()
            return answer if answer.get("publication") else None

        project = await eventually(shown, what="intake to show publication's refusal", within=60)
        assert project["publication"]["outcome"] == "refused"
        assert project["publication"]["rule"] == "designation_taken"
        assert project["next_step"] == "refused by publication: DB50/T 10003—2026 已在册"

        async def counted() -> str | None:
            text = (await client.get("/metrics")).text
            return text if f"{GAUGE} 1.0" in text else None

        await eventually(counted, what="the refusal counted once in /metrics", within=30)

    row = await service.projects.load(pid)
    assert row is not None
    assert len(row.processed) == 1, "the redelivered refusal had no second effect"
    types = [e["type"].split(".", 3)[3] for e in await scenario.events_of(pid)]
    assert types[types.index("project.public-comment-amended.v1") + 1] == "project.clock-rescheduled.v1"
