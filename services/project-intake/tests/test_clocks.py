"""The clocks of a project with a clock the test sets: the cycle-time target per area, the end of
public comment (also in Chinese working days across the Spring Festival), rejection, and projects
stored before projects had clocks, started from their history by the scheduler's decision."""

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from regstd.contracts.common import TextReference
from regstd.contracts.envelope import EVENT_TYPES, EventModel
from regstd.contracts.intake import BallotOverdue, ProjectClockChanged, ProjectClockRescheduled, Stage
from regstd.contracts.reference import load_reference
from regstd.intake.app.intake import Policy
from regstd.intake.domain.clocks import ClockRules
from regstd.intake.domain.project import Project
from regstd.intake.settings import IntakeSettings
from regstd.kernel.calendar import WorkingDayCalendar
from regstd.kernel.clocks import NEXT_AT, OVERDUE, Period
from regstd.kernel.errors import Conflict
from regstd.kernel.time import start_of_china_day
from regstd.runtime.testing import invented_arrangement_2027

from .conftest import NOW, REGULATORS, SHA, proposal
from .memory import MemoryIntake

REFERENCE = load_reference()
R = REGULATORS
RULES = ClockRules(cycle_time_months_by_area={"yrd": 12})
TEXT = TextReference(location="https://texts.example/final.pdf", sha256=SHA)


def at(day: date, hour: int = 10) -> datetime:
    """A moment on a China Standard Time date."""
    return start_of_china_day(day) + timedelta(hours=hour)


def propose(now: datetime = NOW, rules: ClockRules = RULES, **overrides: Any) -> Project:
    by = R["31"] if overrides.get("area") == "yrd" else R["50"]
    project, _ = Project.propose(
        proposal(**overrides), project_id="prj-clocks", reference=REFERENCE, proposer=by, now=now, rules=rules
    )
    return project


def vote(
    project: Project, stage: Stage, now: datetime, position: str = "approve"
) -> tuple[Project, list[EventModel]]:
    events: list[EventModel] = []
    for party in project.parties:
        project, recorded = project.record_position(
            stage=stage,
            party=party,
            position=position,  # type: ignore[arg-type]
            reason=None,
            by=R[party],
            now=now,
            rules=RULES,
        )
        events += recorded
        if project.ballots[stage].outcome is not None:
            break
    return project, events


def changes(events: list[EventModel]) -> list[tuple[str, str | None, str]]:
    return [(e.clock, e.stage, e.happening) for e in events if isinstance(e, ProjectClockChanged)]


def stored(project: Project) -> Project:
    return Project.from_document(project.to_document())


def test_the_cycle_time_target_runs_from_project_approval_per_area_and_is_said_once_each() -> None:
    chengyu = propose()
    yrd = propose(area="yrd", parties=["31", "32"], title_zh="长三角 数据中心能效评价规范")
    approved_on = date(2026, 11, 23)
    chengyu, _ = vote(chengyu, "project_approval", at(approved_on))
    yrd, _ = vote(yrd, "project_approval", at(approved_on))
    assert chengyu.clock("cycle_time").due_on == date(2028, 5, 23)  # type: ignore[union-attr]
    assert yrd.clock("cycle_time").due_on == date(2027, 11, 23), "yrd's own target: 12 months"  # type: ignore[union-attr]

    yrd = stored(yrd)
    yrd, said = yrd.check_clocks(at(date(2027, 9, 23)), RULES)
    assert changes(said) == []
    yrd, said = yrd.check_clocks(at(date(2027, 9, 24)), RULES)
    assert changes(said) == [("cycle_time", None, "due_soon")]
    yrd, said = yrd.check_clocks(at(date(2027, 11, 23), hour=23), RULES)
    assert said == [], "the due date itself is on time"
    yrd, [overdue] = yrd.check_clocks(at(date(2027, 12, 3)), RULES)
    assert isinstance(overdue, ProjectClockChanged)
    assert (overdue.clock, overdue.happening, overdue.days_late, overdue.area) == (
        "cycle_time",
        "overdue",
        10,
        "yrd",
    )
    yrd = stored(yrd)
    yrd, said = yrd.check_clocks(at(date(2028, 3, 1)), RULES)
    assert said == [], "overdue is said once"
    assert yrd.to_document()[OVERDUE] == ["cycle_time"]
    assert yrd.to_document()[NEXT_AT] is None, "nothing left to check until it is met"


def test_a_rejected_project_stops_its_clocks() -> None:
    project = propose()
    project, events = vote(project, "project_approval", NOW, position="reject")
    assert changes(events) == [("ballot", "project_approval", "met")]
    assert project.status == "rejected"
    assert project.clock("cycle_time") is None, "never approved: no cycle time"

    # Rejected at final approval: the cycle-time clock stops without a happening.
    project = propose()
    project, _ = vote(project, "project_approval", NOW)
    project, _ = project.start_drafting(by=R["50"], now=NOW)
    project, _ = project.open_public_comment(by=R["50"], now=NOW, closes_on=None, rules=RULES)
    project, _ = project.close_public_comment(by=R["50"], now=NOW + timedelta(days=30))
    for party in project.parties:
        project, _ = project.record_review_conclusion(
            party=party, conclusion="通过", passed=True, by=R[party], now=NOW
        )
    project, _ = project.submit_for_final_approval(
        text=TEXT, by=R["50"], now=NOW + timedelta(days=31), rules=RULES
    )
    project, events = vote(project, "final_approval", NOW + timedelta(days=32), position="reject")
    assert changes(events) == [("ballot", "final_approval", "met")]
    assert {c.name: c.state for c in project.clocks} == {
        "ballot:project_approval": "met",
        "public_comment": "met",
        "cycle_time": "stopped",
        "ballot:final_approval": "met",
    }
    project, said = project.check_clocks(NOW + timedelta(days=900), RULES)
    assert said == []
    assert project.to_document()[NEXT_AT] is None


def test_public_comment_in_working_days_ends_after_the_spring_festival() -> None:
    rules = ClockRules(public_comment=Period(amount=10, unit="working_days"))
    project = propose(rules=rules)
    project, _ = vote(project, "project_approval", NOW)
    project, _ = project.start_drafting(by=R["50"], now=NOW)
    # Opened Thursday 12 February 2026: Fri 13, Sat 14 (调休) count, 15–23 February are the Spring
    # Festival, then 24–27, Sat 28 (调休), 2, 3 and 4 March: the tenth working day is 4 March.
    opened = at(date(2026, 2, 12))
    project, _ = project.open_public_comment(by=R["50"], now=opened, closes_on=None, rules=rules)
    assert project.public_comment is not None
    assert project.public_comment.closes_on == date(2026, 3, 4)
    comment = project.clock("public_comment")
    assert comment is not None
    assert (comment.due_on, str(comment.period)) == (date(2026, 3, 4), "10 working days")

    with pytest.raises(Conflict, match="cannot close public comment before 2026-03-04"):
        project.close_public_comment(by=R["51"], now=at(date(2026, 3, 3), hour=23))
    project, said = project.check_clocks(at(date(2026, 2, 27)), rules)
    assert changes(said) == [("public_comment", None, "due_soon")]
    project, closed = project.close_public_comment(by=R["51"], now=at(date(2026, 3, 4)))
    [met] = [e for e in closed if isinstance(e, ProjectClockChanged)]
    assert (met.happening, met.days_late) == ("met", 0)
    project, said = project.check_clocks(at(date(2026, 4, 1)), rules)
    assert said == []


def test_a_later_closing_date_is_the_period_its_clock_runs_and_an_open_period_goes_overdue() -> None:
    project = propose()
    project, _ = vote(project, "project_approval", NOW)
    project, _ = project.start_drafting(by=R["50"], now=NOW)
    project, _ = project.open_public_comment(by=R["50"], now=NOW, closes_on=date(2027, 1, 31), rules=RULES)
    comment = project.clock("public_comment")
    assert comment is not None
    assert (comment.due_on, str(comment.period)) == (date(2027, 1, 31), "70 calendar days")
    project, said = project.check_clocks(at(date(2027, 2, 1)), RULES)
    assert changes(said) == [("public_comment", None, "overdue")]


def test_a_working_day_deadline_in_a_year_no_calendar_source_knows_is_refused_and_changes_nothing() -> None:
    # Adapted (issue 13): 2099 is counted by rule now; only a year beyond the rule is refused.
    rules = ClockRules(ballot=Period(amount=30, unit="working_days"))
    with pytest.raises(Conflict, match=r"cannot count the deadline of the .* in 2101"):
        propose(now=at(date(2101, 3, 1)), rules=rules)


# ---------------------------------------------------------------------------------------------
# Projects stored before projects had clocks


def old_document(project: Project) -> dict[str, Any]:
    """The project as the service stored it before this change: no clocks, the old scanner's field."""
    document = project.to_document()
    for key in ("clocks", NEXT_AT, OVERDUE):
        document.pop(key)
    document["overdue_watch"] = None
    return document


async def decide(document: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[EventModel]] | None:
    """The scheduler's decision on a stored project, through the unit of work: the state and events
    stored, or None when nothing was."""
    memory = MemoryIntake(clock=lambda: now, policy=Policy(clocks=RULES))
    await memory.project_store.save("prj-clocks", document, loaded=None)
    outcome = await memory.intake.projects.change("prj-clocks", memory.intake.decide_clocks)
    if not outcome.stored:
        return None
    state = memory.project_store.states()["prj-clocks"]
    return dict(state), [EVENT_TYPES[p.type].model_validate(p.data) for p in memory.project_store.outbox]


async def test_an_old_project_with_an_unflagged_ballot_past_its_deadline_says_ballot_overdue_once() -> None:
    project = propose()
    project, _ = project.record_position(
        stage="project_approval",
        party="51",
        position="approve",
        reason=None,
        by=R["51"],
        now=NOW,
        rules=RULES,
    )
    change = await decide(old_document(project), NOW + timedelta(days=40))
    assert change is not None
    state, events = change
    assert [type(e).__name__ for e in events] == ["BallotOverdue", "ProjectClockChanged"]
    assert "overdue_watch" not in state or state["overdue_watch"] is None
    assert state[OVERDUE] == ["ballot:project_approval"]
    again = await decide(state, NOW + timedelta(days=41))
    assert again is None or again[1] == [], "said once"


async def test_an_old_project_already_flagged_or_done_starts_its_clocks_without_repeating_anything() -> None:
    flagged = propose()
    flagged.ballots["project_approval"].overdue_at = NOW + timedelta(days=31)
    change = await decide(old_document(flagged), NOW + timedelta(days=40))
    assert change is not None
    state, events = change
    assert events == [], "the old scanner already said BallotOverdue"
    assert state[OVERDUE] == ["ballot:project_approval"]

    done = propose()
    done, _ = vote(done, "project_approval", NOW + timedelta(days=1))
    done, _ = done.start_drafting(by=R["50"], now=NOW)
    done, _ = done.open_public_comment(by=R["50"], now=NOW + timedelta(days=2), closes_on=None, rules=RULES)
    done, _ = done.close_public_comment(by=R["50"], now=NOW + timedelta(days=40))
    change = await decide(old_document(done), NOW + timedelta(days=41))
    assert change is not None
    state, events = change
    assert events == []
    clocks = {c["name"]: c["state"] for c in state["clocks"]}
    assert clocks == {"ballot:project_approval": "met", "public_comment": "met", "cycle_time": "running"}
    assert state[NEXT_AT] == start_of_china_day(date(2028, 5, 23) - timedelta(days=60))


async def test_the_scheduler_s_decision_is_none_when_nothing_changed() -> None:
    project = propose()
    assert await decide(project.to_document(), NOW + timedelta(days=1)) is None
    change = await decide(project.to_document(), NOW + timedelta(days=40))
    assert change is not None
    assert [type(e) for e in change[1]] == [BallotOverdue, ProjectClockChanged]


def test_the_cycle_time_target_per_area_is_a_setting_that_names_known_areas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGSTD_CYCLE_TIME_TARGET_MONTHS_BY_AREA", '{"yrd": 12}')
    monkeypatch.setenv("REGSTD_PUBLIC_COMMENT_DAY_RULE", "working_days")
    rules = IntakeSettings().clock_rules(WorkingDayCalendar())
    assert (rules.cycle_time("yrd"), rules.cycle_time("chengyu")) == (
        Period(amount=12, unit="months"),
        Period(amount=18, unit="months"),
    )
    assert rules.public_comment == Period(amount=30, unit="working_days")
    monkeypatch.setenv("REGSTD_CYCLE_TIME_TARGET_MONTHS_BY_AREA", '{"pearl": 12}')
    with pytest.raises(ValidationError, match="unknown areas pearl"):
        IntakeSettings()


# ---------------------------------------------------------------------------------------------
# Deadlines counted by rule (issue 13): provisional, then rescheduled once the arrangement is known


async def test_a_provisional_comment_deadline_is_rescheduled_once_the_year_s_arrangement_is_loaded() -> None:
    calendar = WorkingDayCalendar()
    rules = ClockRules(public_comment=Period(amount=10, unit="working_days"), calendar=calendar)
    project = propose(now=at(date(2027, 1, 20)))
    project, _ = vote(project, "project_approval", at(date(2027, 1, 21)))
    project, _ = project.start_drafting(by=R["50"], now=at(date(2027, 1, 22)))
    # Opened Thursday 28 January 2027, before 2027's arrangement is announced: 10 working days by
    # rule (5–10 February off) end on 17 February, provisionally.
    project, _ = project.open_public_comment(
        by=R["50"], now=at(date(2027, 1, 28)), closes_on=None, rules=rules
    )
    assert project.public_comment is not None
    assert project.public_comment.closes_on == date(2027, 2, 17)
    comment = project.clock("public_comment")
    assert comment is not None
    assert (comment.due_on, comment.provisional, comment.problem) == (date(2027, 2, 17), True, None)

    day = {"now": at(date(2027, 1, 29), hour=0)}
    memory = MemoryIntake(clock=lambda: day["now"], policy=Policy(clocks=rules))
    await memory.project_store.save("prj-clocks", project.to_document(), loaded=None)
    await memory.intake.projects.change("prj-clocks", memory.intake.decide_clocks)
    assert memory.project_store.outbox == [], "still provisional, still the same date: nothing said"
    stored = memory.project_store.states()["prj-clocks"]
    assert stored[NEXT_AT] == start_of_china_day(date(2027, 1, 30)), "looked at again the next day"

    calendar.announce([invented_arrangement_2027()])  # what the runtime does when the file changes
    day["now"] = at(date(2027, 1, 30), hour=0)
    await memory.intake.projects.change("prj-clocks", memory.intake.decide_clocks)
    [rescheduled] = [EVENT_TYPES[p.type].model_validate(p.data) for p in memory.project_store.outbox]
    assert isinstance(rescheduled, ProjectClockRescheduled)
    assert (rescheduled.clock, rescheduled.previous_due_on, rescheduled.due_on, rescheduled.provisional) == (
        "public_comment", date(2027, 2, 17), date(2027, 2, 18), False
    )  # fmt: skip
    project = await memory.intake.projects.get("prj-clocks")
    assert project.public_comment is not None
    assert project.public_comment.closes_on == date(2027, 2, 18), "the closing date is the clock's"
    stored = memory.project_store.states()["prj-clocks"]
    assert stored[NEXT_AT] == start_of_china_day(date(2027, 2, 13)), "no daily look any more"
    with pytest.raises(Conflict, match="cannot close public comment before 2027-02-18"):
        project.close_public_comment(by=R["51"], now=at(date(2027, 2, 17)))
    project, said = project.check_clocks(at(date(2027, 2, 13)), rules)
    [soon] = [e for e in said if isinstance(e, ProjectClockChanged)]
    assert (soon.happening, soon.due_on, soon.provisional) == ("due_soon", date(2027, 2, 18), False)


def test_a_ballot_counted_in_working_days_into_2027_has_a_provisional_deadline_not_a_refusal() -> None:
    # Before issue 13 this was refused: chinesecalendar does not know 2027.
    rules = ClockRules(ballot=Period(amount=10, unit="working_days"))
    project = propose(now=at(date(2026, 12, 28)), rules=rules)
    clock = project.clock("ballot:project_approval")
    assert clock is not None
    assert (clock.due_on, clock.provisional) == (date(2027, 1, 12), True)
    assert project.ballots["project_approval"].deadline == start_of_china_day(date(2027, 1, 13))
    project, said = project.check_clocks(at(date(2027, 1, 8)), rules)
    [soon] = [e for e in said if isinstance(e, ProjectClockChanged)]
    assert (soon.happening, soon.provisional) == ("due_soon", True)
