"""`regstd report` without servers: what it asks each service, and what it prints from answers the
services' own code produces (publication's `area_report` over standards built by its domain)."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from regstd.cli import report as report_module
from regstd.cli.client import ApiError
from regstd.cli.main import app
from regstd.contracts.common import TextReference
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.reference import load_reference
from regstd.publication.domain.life import LifePolicy, begin_life
from regstd.publication.domain.report import area_report
from regstd.publication.domain.standard import Standard, plan_joint_standard

TODAY = datetime(2026, 6, 30, 4, tzinfo=UTC)


def standard(i: int, published: datetime, cycle_days: int) -> Standard:
    approval = ProjectFinallyApproved.model_validate(
        {
            "project_id": f"p{i}",
            "area": "chengyu",
            "parties": ["50", "51"],
            "title_zh": f"标准{i}",
            "scope": "范围",
            "category": "transport",
            "kind": "recommended",
            "text": TextReference(location=f"https://t.example/{i}.pdf", sha256="ab" * 32),
            "project_approved_at": published - timedelta(days=cycle_days),
            "approved_at": published - timedelta(hours=1),
        }
    )
    numbered = Standard.numbered(
        plan_joint_standard(approval, load_reference()), 10001 + i, at=published, publication_delay_days=0
    )
    return begin_life(numbered.publish(published, 90), LifePolicy())


REPORT = area_report(
    load_reference().area("chengyu"),
    [standard(0, TODAY - timedelta(days=400), 300), standard(1, TODAY - timedelta(days=100), 700)],
    today=TODAY.date(),
    target_months=18,
    review_window_days=180,
    from_year=2025,
).model_dump(mode="json")
OVERDUE = [{"project_id": "prj-late", "area": "chengyu", "parties": ["50", "51"], "title_zh": "迟到的项目",
            "status": "drafting", "project_approved_on": "2024-01-02", "target_on": "2025-07-02",
            "days_overdue": 363}]  # fmt: skip
# The same project as intake's `GET /projects/overdue` answers it: with its cycle-time clock.
INTAKE_OVERDUE = [{"project_id": "prj-late", "area": "chengyu", "parties": ["50", "51"],
                   "title_zh": "迟到的项目", "status": "drafting",
                   "clock": {"name": "cycle_time", "starts_on": "2024-01-02", "period": "18 months",
                             "due_on": "2025-07-02", "problem": None, "state": "overdue", "met_on": None,
                             "days_overdue": 363}}]  # fmt: skip


class FakeApi:
    def __init__(self, intake_refuses: bool = False) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.intake_refuses = intake_refuses

    def publication(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls.append(("publication", path, kwargs.get("params", {})))
        return REPORT

    def text(self, service: str, path: str, **kwargs: Any) -> str:
        self.calls.append((service, path, kwargs.get("params", {})))
        return "period,published\n2025,1\n"

    def intake(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls.append(("intake", path, kwargs.get("params", {})))
        if self.intake_refuses:
            raise ApiError(503, {"message": "store down"})
        return {"as_of": "2026-06-30", "clock": "cycle_time", "area": "chengyu", "items": INTAKE_OVERDUE}

    def close(self) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(report_module, "open_api", lambda *_: fake)
    monkeypatch.setattr(report_module.console, "size", (220, 80))
    return fake


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["report", *args], terminal_width=220)


def test_the_table_combines_publications_report_and_intakes_overdue_projects(api: FakeApi) -> None:
    result = run("--area", "chengyu", "--from", "2025", "--to", "2026")
    assert result.exit_code == 0, result.output
    assert api.calls == [
        ("publication", "/reports/chengyu", {"granularity": "quarter", "from": 2025, "to": 2026}),
        ("intake", "/projects/overdue", {"area": "chengyu", "clock": "cycle_time"}),
    ]
    assert "Cycle time" in result.output
    assert "2025-Q2" in result.output
    assert "prj-late" in result.output
    missing = REPORT["missing_filings"]
    assert missing
    assert missing[0]["standard_id"] in result.output
    assert f"{REPORT['cycle_time']['mean_days']} d" in result.output


def test_json_is_the_report_with_the_overdue_projects(api: FakeApi) -> None:
    result = run("--area", "chengyu", "--format", "json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["overdue_projects"] == OVERDUE
    assert printed["cycle_time"] == REPORT["cycle_time"]


def test_csv_sections_come_from_publication_or_from_intakes_listing(api: FakeApi) -> None:
    result = run("--area", "chengyu", "--format", "csv", "--section", "filings", "--granularity", "month")
    assert result.exit_code == 0, result.output
    assert api.calls == [
        ("publication", "/reports/chengyu", {"granularity": "month", "format": "csv", "section": "filings"})
    ]
    assert result.output == "period,published\n2025,1\n"
    overdue = run("--area", "chengyu", "--format", "csv", "--section", "overdue_projects")
    rows = list(csv.DictReader(io.StringIO(overdue.output)))
    assert [(r["project_id"], r["parties"], r["days_overdue"]) for r in rows] == [
        ("prj-late", "50 51", "363")
    ]


def test_the_report_is_shown_when_intake_cannot_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeApi(intake_refuses=True)
    monkeypatch.setattr(report_module, "open_api", lambda *_: fake)
    result = run("--area", "chengyu")
    assert result.exit_code == 0, result.output
    assert "not available" in result.output
    assert "store down" in result.output
    assert "Cycle time" in result.output


def test_bad_options_are_refused_before_anything_is_sent(api: FakeApi) -> None:
    for args in (["--format", "xml"], ["--section", "everything"], ["--granularity", "week"]):
        result = run("--area", "chengyu", *args)
        assert result.exit_code == 2, args
    assert api.calls == []
