"""Projects past their cycle-time target: a seeded set of projects in every state, the expectation
computed from the plan; the endpoint's refusals without infrastructure."""

import calendar
import random
from datetime import date, timedelta

import httpx
import pytest

from regstd.contracts.reference import load_reference
from regstd.intake.domain import Project, china_date
from regstd.intake.main import IntakeService
from regstd.intake.reports import CycleTimeTargets, overdue_projects
from regstd.intake.settings import IntakeSettings

from .conftest import NOW, REGULATORS, TOKENS, bearer, proposal

STATES = (
    "awaiting_project_approval", "project_approved", "drafting", "public_comment", "technical_review",
    "awaiting_final_approval", "finally_approved", "rejected",
)  # fmt: skip


def months_later(day: date, months: int) -> date:
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def projects(seed: int, count: int) -> list[Project]:
    rng = random.Random(seed)
    made = []
    for i in range(count):
        approved_at = NOW - timedelta(days=rng.randint(0, 1400), hours=rng.randint(0, 23))
        project, _ = Project.propose(
            proposal(),
            project_id=f"prj-{i:04d}",
            reference=load_reference(),
            proposer=REGULATORS["50"],
            now=approved_at - timedelta(days=5),
            ballot_deadline_days=30,
        )
        state = rng.choice(STATES)
        approved = None if state == "awaiting_project_approval" else approved_at
        made.append(project.model_copy(update={"status": state, "project_approved_at": approved}))
    return made


@pytest.mark.parametrize("target", [18, 12, 24])
def test_overdue_projects_are_those_under_way_past_the_target(target: int) -> None:
    made = projects(7, 120)
    today = china_date(NOW)
    expected = sorted(
        (
            ((today - months_later(china_date(p.project_approved_at), target)).days, p.project_id)
            for p in made
            if p.project_approved_at is not None
            and p.status not in ("finally_approved", "rejected", "awaiting_project_approval")
            and today > months_later(china_date(p.project_approved_at), target)
        ),
        key=lambda e: (-e[0], e[1]),
    )
    found = overdue_projects(made, today, target)
    assert [(o.days_overdue, o.project_id) for o in found] == expected
    assert len(expected) > 5
    assert all(o.target_on == months_later(o.project_approved_on, target) for o in found)


def test_a_project_on_its_target_day_is_not_overdue() -> None:
    [p] = projects(1, 1)
    p = p.model_copy(update={"status": "drafting", "project_approved_at": NOW})
    target_on = months_later(china_date(NOW), 18)
    assert overdue_projects([p], target_on, 18) == []
    [late] = overdue_projects([p], target_on + timedelta(days=1), 18)
    assert late.days_overdue == 1


def test_targets_per_area_replace_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGSTD_CYCLE_TIME_TARGET_MONTHS_BY_AREA", '{"yrd": 12}')
    targets = CycleTimeTargets()
    assert (targets.of("yrd"), targets.of("chengyu")) == (12, 18)


async def test_the_listing_needs_a_token_and_a_known_area() -> None:
    service = IntakeService(
        IntakeSettings(mongo_url="mongodb://127.0.0.1:9/", mongo_database="unused"), TOKENS
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://intake")
    assert (await client.get("/reports/chengyu/overdue-projects")).status_code == 401
    unknown = await client.get("/reports/atlantis/overdue-projects", headers=bearer("city-chengdu"))
    assert unknown.status_code == 404
    assert "known: chengyu" in unknown.json()["message"]
