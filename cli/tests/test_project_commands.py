"""`regstd show` and `regstd overdue` without a server: the tables they print from views built by
the intake service's own models."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from regstd.cli import people as people_module
from regstd.cli.main import app
from regstd.contracts.reference import load_reference
from regstd.intake.domain.clocks import ClockRules
from regstd.intake.domain.project import Project
from regstd.intake.domain.proposal import Proposal
from regstd.intake.http.clocks import OverdueProject, OverdueProjects
from regstd.intake.http.projects import ProjectView
from regstd.kernel.clocks import ClockView
from regstd.kernel.principals import Principal

NOW = datetime(2026, 11, 22, 2, tzinfo=UTC)
RULES = ClockRules()


def _project() -> Project:
    regulators = {code: Principal(kind="regulator", code=code, name=code) for code in ("50", "51")}
    proposal = Proposal(
        area="chengyu", parties=["50", "51"], title_zh="川渝地区公路沥青路面养护技术规范", scope="养护",
        category="transport", kind="recommended",
    )  # fmt: skip
    project, _ = Project.propose(
        proposal,
        project_id="prj-show",
        reference=load_reference(),
        proposer=regulators["50"],
        now=NOW,
        rules=RULES,
    )
    for code, by in regulators.items():
        project, _ = project.record_position(
            stage="project_approval", party=code, position="approve", reason=None, by=by, now=NOW, rules=RULES
        )
    project, _ = project.check_clocks(NOW + timedelta(days=600), RULES)
    return project


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    project = _project()
    today = date(2028, 7, 15)
    cycle = project.clock("cycle_time")
    assert cycle is not None
    replies: dict[str, Any] = {
        "/projects/prj-show": ProjectView.of(project, today).model_dump(mode="json"),
        "/projects/overdue": OverdueProjects(
            as_of=today,
            clock="cycle_time",
            area="chengyu",
            items=[
                OverdueProject(
                    project_id=project.project_id,
                    title_zh=project.title_zh,
                    area=project.area,
                    parties=project.parties,
                    status=project.status,
                    clock=ClockView.of(cycle, today),
                )
            ],
        ).model_dump(mode="json"),
    }
    monkeypatch.setattr(people_module, "call_service", lambda _, service, method, path, **kw: replies[path])
    monkeypatch.setattr(people_module, "open_api", lambda *_: None)
    monkeypatch.setattr(people_module.console, "size", (200, 50))
    return replies


def test_show_prints_the_project_s_clocks_with_days_overdue(answers: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["show", "prj-show"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "clocks (deadlines)" in result.output
    cycle = next(line for line in result.output.splitlines() if "cycle_time" in line)
    # Approved on 22 November 2026, due 22 May 2028, 54 days overdue on 15 July 2028.
    assert [cell.strip() for cell in cycle.split("│")[1:-1]] == [
        "cycle_time", "18 months", "2026-11-22", "2028-05-22", "overdue", "54", "",
    ]  # fmt: skip
    ballot = next(line for line in result.output.splitlines() if "ballot:project_approval" in line)
    assert "met" in ballot


def test_overdue_lists_the_projects_past_their_target(answers: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["overdue", "--area", "chengyu"], terminal_width=200)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "prj-show" in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [
        "prj-show", "川渝地区公路沥青路面养护技术规范", "chengyu", "project_approved", "cycle_time",
        "2028-05-22", "54",
    ]  # fmt: skip
