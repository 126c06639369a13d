"""The life commands without a server: what they send, and the tables they print from a view the
publication service's own model accepts."""

from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from regstd.cli import life as life_module
from regstd.cli.main import app
from regstd.cli.people import clocks_table
from regstd.publication.http.life import LifeView

VIEW: dict[str, Any] = {
    "standard_id": "std-prj-1",
    "status": "published",
    "numbers": [
        {"party": "50", "number": "DB50/T 10001—2026"},
        {"party": "51", "number": "DB51/T 10001—2026"},
    ],
    "supersedes": None,
    "clocks": [
        {"name": "filing:50", "starts_on": "2026-02-10", "period": "60 calendar days", "due_on": "2026-04-11",
         "problem": None, "state": "met", "met_on": "2026-03-01", "days_overdue": 0},
        {"name": "text_disclosure", "starts_on": "2026-12-20", "period": "20 working days", "due_on": None,
         "problem": "does not know 2027 yet", "state": "running", "met_on": None, "days_overdue": 0},
        {"name": "filing:51", "starts_on": "2026-02-10", "period": "60 calendar days", "due_on": "2026-04-11",
         "problem": None, "state": "overdue", "met_on": None, "days_overdue": 12},
    ],
    "filings": [{"party": "50", "authority": "national", "filing_number": "备 0001", "filed_on": "2026-03-01",
                 "recorded_by": {"kind": "regulator", "code": "50"}, "recorded_at": "2026-03-01T02:00:00Z"}],
    "disclosure": None,
    "reviews": [],
    "revision_pending": False,
    "ending": None,
}  # fmt: skip


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str, Any]]:
    calls: list[tuple[str, str, str, Any]] = []

    def fake_call(_: Any, service: str, method: str, path: str, **kwargs: Any) -> Any:
        calls.append((service, method, path, kwargs.get("json")))
        return VIEW

    monkeypatch.setattr(life_module, "call_service", fake_call)
    monkeypatch.setattr(life_module, "open_api", lambda *_: None)
    monkeypatch.setattr(life_module.console, "size", (200, 50))  # wide enough that no cell wraps
    return calls


def test_the_canned_view_is_what_the_service_answers() -> None:
    LifeView.model_validate(VIEW)


def test_file_sends_the_callers_region_and_shows_the_clocks(sent: list[Any]) -> None:
    result = CliRunner().invoke(
        app,
        ["file", "std-prj-1", "--as", "50", "--number", "备 0001", "--on", "2026-03-01"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert sent == [
        ("publication", "POST", "/standards/std-prj-1/filings",
         {"party": "50", "authority": "national", "filing_number": "备 0001", "filed_on": "2026-03-01"}),
    ]  # fmt: skip
    assert "filing:51" in result.output
    assert "overdue" in result.output
    assert "does not know 2027" in result.output


def test_review_refuses_an_unknown_outcome_before_sending(sent: list[Any]) -> None:
    bad = CliRunner().invoke(app, ["review", "std-prj-1", "--as", "51", "--outcome", "keep"])
    assert bad.exit_code == 2
    assert sent == []
    good = CliRunner().invoke(
        app, ["review", "std-prj-1", "--as", "51", "--outcome", "revise", "--reason", "更新"]
    )
    assert good.exit_code == 0, good.output
    assert sent == [
        (
            "publication",
            "POST",
            "/standards/std-prj-1/review-conclusions",
            {"outcome": "revise", "reason": "更新"},
        )
    ]


def test_a_malformed_date_is_refused_before_sending(sent: list[Any]) -> None:
    result = CliRunner().invoke(
        app, ["disclose", "std-prj-1", "--as", "50", "--location", "https://x", "--on", "3/1"]
    )
    assert result.exit_code == 2
    assert sent == []


def test_a_provisional_deadline_is_shown_as_such() -> None:
    clock = VIEW["clocks"][1] | {"due_on": "2027-01-19", "problem": None, "provisional": True}
    console = Console(width=200)
    with console.capture() as captured:
        console.print(clocks_table([clock]))
    assert "2027-01-19 (provisional)" in captured.get()
