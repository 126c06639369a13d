"""`regstd show` and `regstd overdue` without a server: the tables they print from views built by
the intake service's own models."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from regstd.cli import people as people_module
from regstd.cli.main import app
from regstd.contracts.common import TextReference
from regstd.contracts.reference import load_reference
from regstd.intake.domain.clocks import ClockRules
from regstd.intake.domain.project import Project
from regstd.intake.domain.proposal import Proposal
from regstd.intake.domain.publication import PublicationOutcome
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


def _finally_approved(publication: PublicationOutcome | None) -> dict[str, Any]:
    project = _project()
    text = TextReference(location="https://texts.example/final.pdf", sha256="ab" * 32)
    approved = project.model_copy(
        update={
            "status": "finally_approved",
            "text": text,
            "finally_approved_at": NOW,
            "publication": publication,
        }
    )
    return ProjectView.of(approved, date(2027, 3, 1)).model_dump(mode="json")


@pytest.mark.parametrize(
    ("publication", "said"),
    [
        (None, "finally_approved — publication: numbering and publishing it (or saying why not)"),
        (
            PublicationOutcome(
                outcome="published",
                at=NOW,
                standard_id="std-1",
                numbers=["DB50/T 10001—2026", "DB51/T 10001—2026"],
            ),
            "finally_approved — published as DB50/T 10001—2026 = DB51/T 10001—2026",
        ),
        (
            PublicationOutcome(
                outcome="refused", at=NOW, standard_id="std-1", rule="no_joint_block", reason="无联合编号段"
            ),
            "finally_approved — refused by publication: 无联合编号段",
        ),
    ],
)
def test_show_says_what_publication_did_with_a_finally_approved_project(
    answers: dict[str, Any], publication: PublicationOutcome | None, said: str
) -> None:
    # Issue 13: it said "finally_approved — nothing: the project is done" whatever publication did.
    answers["/projects/prj-show"] = _finally_approved(publication)
    result = CliRunner().invoke(app, ["show", "prj-show"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"status: {said}" in result.output
    assert "nothing: the project is done" not in result.output


def test_advance_amend_comment_posts_the_new_closing_date(
    answers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []

    def call(_: Any, service: str, method: str, path: str, **kw: Any) -> Any:
        calls.append((path, kw.get("json")))
        return answers["/projects/prj-show"]

    monkeypatch.setattr(people_module, "call_service", call)
    args = [
        "advance",
        "prj-show",
        "amend-comment",
        "--as",
        "51",
        "--closes-on",
        "2027-01-05",
        "--reason",
        "延长",
    ]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert calls == [
        ("/projects/prj-show/public-comment/close-date", {"closes_on": "2027-01-05", "reason": "延长"})
    ]
    missing = CliRunner().invoke(app, ["advance", "prj-show", "amend-comment", "--as", "51"])
    assert missing.exit_code == 2
    assert "needs --closes-on" in missing.output
