"""Issue 13's intake rules over HTTP: the real routes and refusals (`create_app`), the use cases over
the in-memory stores (the runtime is never started). Each refusal answers its status with a message
naming the rule and stores nothing; what publication did shows on `GET /projects/{id}`."""

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from regstd.contracts.intake import ProjectClockRescheduled, PublicCommentAmended
from regstd.intake.http import clocks, projects
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.http import create_app
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.testing import MovableClock, bearer, delivered

from .conftest import NOW, SHA, TOKENS, proposal_body
from .memory import MemoryIntake
from .test_register_rules import refusal, withdrawn
from .test_use_cases import published

TEXT = {"location": "https://texts.example/final.pdf", "sha256": SHA}


class Served:
    """The intake routes over the in-memory use cases, with a movable clock."""

    def __init__(self) -> None:
        self.clock = MovableClock(NOW)
        self.memory = MemoryIntake(clock=self.clock, new_id=lambda: "prj-h")
        runtime = Runtime(RuntimeSettings(service_name="intake-test", mongo_database="unused"))
        app = create_app(
            title="t",
            description="t",
            runtime=runtime,
            tokens=TOKENS,
            routers=[clocks.router, projects.router],
            uses=[self.memory.intake],
        )
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")

    async def post(self, path: str, token: str, body: Any = None, status: int = 200) -> dict[str, Any]:
        response = await self.client.post(path, json=body, headers=bearer(token))
        assert response.status_code == status, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def to(self, step: str) -> None:
        """Drive prj-h up to a step: commenting, review (passed by both) or approved."""
        await self.post("/projects", "reg-50", proposal_body(), status=201)
        for party in ("50", "51"):
            body = {"party": party, "position": "approve"}
            await self.post("/projects/prj-h/ballots/project_approval/positions", f"reg-{party}", body)
        await self.post("/projects/prj-h/drafting", "reg-50")
        await self.post("/projects/prj-h/public-comment", "reg-50")
        if step == "commenting":
            return
        self.clock.advance(days=30)
        await self.post("/projects/prj-h/public-comment/close", "reg-51")
        for party in ("50", "51"):
            body = {"party": party, "conclusion": "通过", "passed": True}
            await self.post("/projects/prj-h/review-conclusions", f"reg-{party}", body)
        if step == "review":
            return
        await self.post("/projects/prj-h/submission", "reg-50", {"text": TEXT})
        for party in ("50", "51"):
            body = {"party": party, "position": "approve"}
            await self.post("/projects/prj-h/ballots/final_approval/positions", f"reg-{party}", body)

    def stored(self) -> dict[str, Any]:
        return self.memory.project_store.states()["prj-h"]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    made = Served()
    async with made.client:
        yield made


async def test_a_yangtze_joint_project_is_refused_with_422_naming_the_rule(served: Served) -> None:
    refused = await served.post("/projects", "reg-50", proposal_body(area="yangtze"), status=422)
    assert refused["message"] == (
        "joint projects are only for areas with a joint number block (chengyu, yrd); yangtze "
        "(长江经济带) has none, so a joint standard of it could never be numbered"
    )
    assert served.memory.project_store.states() == {}


async def test_a_revision_of_an_abolished_standard_is_refused_with_409(served: Served) -> None:
    intake = served.memory.intake
    await intake.on_standard_published(
        delivered(published("std-8", "川渝地区 隧道照明设计规范"), event_id="e1", time=NOW)
    )
    await intake.on_standard_withdrawn(delivered(withdrawn("std-8"), event_id="e2", time=NOW))
    refused = await served.post("/projects", "reg-50", proposal_body(supersedes="std-8"), status=409)
    assert refused["message"].startswith("a revision may target only a published standard still current")
    assert "it was abolished (废止), effective 2026-03-01" in refused["message"]
    assert served.memory.project_store.states() == {}


async def test_the_closing_date_is_bounded_and_any_party_amends_it(served: Served) -> None:
    await served.to("commenting")
    path = "/projects/prj-h/public-comment/close-date"
    refused = await served.post(path, "reg-51", {"closes_on": "9999-12-31"}, status=422)
    assert "closes between 2026-12-22 and 2027-02-20" in refused["message"]
    outsider = await served.post(path, "reg-31", {"closes_on": "2027-01-05"}, status=403)
    assert "only the regulators of the parties (50, 51)" in outsider["message"]
    assert served.stored()["public_comment"]["closes_on"] == "2026-12-22"
    served.clock.advance(days=2)
    project = await served.post(path, "reg-51", {"closes_on": "2027-01-05", "reason": "延长"})
    assert project["public_comment"]["closes_on"] == "2027-01-05"
    [amendment] = project["public_comment"]["amendments"]
    assert (amendment["previous_closes_on"], amendment["amended_by"]["code"]) == ("2026-12-22", "51")
    comment_clock = next(d for d in project["deadlines"] if d["name"] == "public_comment")
    assert comment_clock["due_on"] == "2027-01-05"
    assert project["next_step"] == "close public comment on or after 2027-01-05"
    assert served.stored()["public_comment"]["closes_on"] == "2027-01-05"
    assert [p.type for p in served.memory.project_store.outbox[-2:]] == [
        PublicCommentAmended.event_type,
        ProjectClockRescheduled.event_type,
    ]
    served.clock.advance(days=45)  # 2027-01-08: past 2027-01-05
    closed = await served.post("/projects/prj-h/public-comment/close", "reg-50")
    assert closed["status"] == "technical_review"
    late = await served.post(path, "reg-50", {"closes_on": "2027-02-01"}, status=409)
    assert "cannot amend the public comment closing date" in late["message"]


async def test_opening_with_a_closing_date_beyond_the_maximum_is_refused_with_422(served: Served) -> None:
    await served.post("/projects", "reg-50", proposal_body(), status=201)
    for party in ("50", "51"):
        body = {"party": party, "position": "approve"}
        await served.post("/projects/prj-h/ballots/project_approval/positions", f"reg-{party}", body)
    await served.post("/projects/prj-h/drafting", "reg-50")
    refused = await served.post(
        "/projects/prj-h/public-comment", "reg-51", {"closes_on": "9999-12-31"}, status=422
    )
    assert refused["message"].endswith(
        "at least 30 calendar days and at most 90 calendar days, so it closes between 2026-12-22 and "
        "2027-02-20"
    )
    assert served.stored()["status"] == "drafting"


async def test_a_javascript_text_location_is_refused_with_422_naming_the_field(served: Served) -> None:
    await served.to("review")
    body = {"text": {"location": "javascript:alert(document.domain)", "sha256": SHA}}
    refused = await served.post("/projects/prj-h/submission", "reg-50", body, status=422)
    assert refused["message"] == (
        "text.location must be an https: or http: URL; 'javascript:alert(document.domain)' has the "
        "scheme javascript:"
    )
    assert (served.stored()["status"], served.stored()["text"]) == ("technical_review", None)


async def test_the_project_shows_what_publication_did(served: Served) -> None:
    await served.to("approved")
    shown = (await served.client.get("/projects/prj-h", headers=bearer("city-chengdu"))).json()
    assert (shown["status"], shown["publication"]) == ("finally_approved", None)
    assert shown["next_step"] == "publication: numbering and publishing it (or saying why not)"
    await served.memory.intake.on_approval_refused(
        delivered(refusal("prj-h", at=NOW + timedelta(days=31)), event_id="r1", time=NOW)
    )
    shown = (await served.client.get("/projects/prj-h", headers=bearer("city-chengdu"))).json()
    assert shown["publication"] == {
        "outcome": "refused",
        "at": "2026-12-23T02:00:00Z",
        "standard_id": "std-prj-h",
        "numbers": [],
        "rule": "no_joint_block",
        "reason": "chengyu 的联合编号段已用尽",
    }
    assert shown["next_step"] == "refused by publication: chengyu 的联合编号段已用尽"
    standard = published("std-prj-h", "川渝地区公路沥青路面养护技术规范", project_id="prj-h")
    await served.memory.intake.on_standard_published(delivered(standard, event_id="p1", time=NOW))
    shown = (await served.client.get("/projects/prj-h", headers=bearer("reg-51"))).json()
    assert (shown["publication"]["outcome"], shown["publication"]["numbers"]) == (
        "published",
        ["DB50/T 10003—2025", "DB51/T 10003—2025"],
    )
    assert shown["next_step"] == "published as DB50/T 10003—2025 = DB51/T 10003—2025"
    assert date.fromisoformat(shown["public_comment"]["closes_on"]) == date(2026, 12, 22)
