"""The project aggregate with a fixed clock: ballots, the lifecycle between them, and refusals."""

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from regstd.contracts.common import TextReference
from regstd.contracts.envelope import EventModel
from regstd.contracts.intake import (
    BallotDecided,
    BallotOpened,
    BallotOverdue,
    MilestoneRecorded,
    PositionRecorded,
    ProjectClockChanged,
    ProjectFinallyApproved,
    ProjectProposed,
)
from regstd.contracts.reference import load_reference
from regstd.intake.domain.clocks import ClockRules
from regstd.intake.domain.project import Project
from regstd.intake.domain.proposal import Proposal
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.principals import Principal
from regstd.kernel.time import CHINA_STANDARD_TIME as CST

from .conftest import CITY, NOW, REGULATORS, SHA, proposal

REFERENCE = load_reference()
RULES = ClockRules()
R = REGULATORS
TEXT = TextReference(location="https://texts.example/final.pdf", sha256=SHA)


def propose(p: Proposal | None = None, *, by: Principal | None = None) -> tuple[Project, list[EventModel]]:
    return Project.propose(
        p or proposal(),
        project_id="prj-test",
        reference=REFERENCE,
        proposer=by or R["50"],
        now=NOW,
        rules=RULES,
    )


def stored(project: Project) -> Project:
    """The project as the store gives it back."""
    return Project.from_document(project.to_document())


def types(events: list[EventModel]) -> list[str]:
    return [type(e).__name__ for e in events]


def approve_all(project: Project, stage: Any, at_days: int = 1) -> tuple[Project, list[EventModel]]:
    events: list[EventModel] = []
    for party in project.parties:
        project, recorded = project.record_position(
            stage=stage,
            party=party,
            position="approve",
            reason=None,
            by=R[party],
            now=NOW + timedelta(days=at_days),
            rules=RULES,
        )
        events += recorded
    return project, events


def in_technical_review() -> Project:
    project, _ = propose()
    project, _ = approve_all(project, "project_approval")
    project, _ = project.start_drafting(by=R["50"], now=NOW + timedelta(days=2))
    project, _ = project.open_public_comment(
        by=R["50"], now=NOW + timedelta(days=3), closes_on=None, rules=RULES
    )
    project, _ = project.close_public_comment(by=R["51"], now=NOW + timedelta(days=33))
    return stored(project)


# ---------------------------------------------------------------------------------------------
# The whole way


def test_a_chengyu_project_goes_from_proposal_to_final_approval() -> None:
    project, events = propose()
    assert types(events) == ["ProjectProposed", "BallotOpened"]
    proposed, opened = events
    assert isinstance(proposed, ProjectProposed)
    assert proposed.parties == ["50", "51"]
    assert proposed.proposed_by == R["50"].actor()
    assert isinstance(opened, BallotOpened)
    # Opened 22 November (CST), due 30 calendar days later: the deadline is the end of 22 December.
    assert (opened.stage, opened.opened_at, opened.deadline) == (
        "project_approval",
        NOW,
        datetime(2026, 12, 23, tzinfo=CST),
    )
    assert project.status == "awaiting_project_approval"

    day = timedelta(days=1)
    project = stored(project)
    project, first = project.record_position(
        stage="project_approval",
        party="50",
        position="approve",
        reason=None,
        by=R["50"],
        now=NOW + day,
        rules=RULES,
    )
    assert types(first) == ["PositionRecorded"]
    assert project.status == "awaiting_project_approval"
    project, second = project.record_position(
        stage="project_approval",
        party="51",
        position="approve",
        reason="同意",
        by=R["51"],
        now=NOW + 2 * day,
        rules=RULES,
    )
    assert types(second) == ["PositionRecorded", "BallotDecided", "ProjectClockChanged"]
    decided = second[1]
    assert isinstance(decided, BallotDecided)
    assert decided.outcome == "passed"
    assert [(p.party, p.position) for p in decided.positions] == [("50", "approve"), ("51", "approve")]
    assert project.status == "project_approved"
    assert project.project_approved_at == NOW + 2 * day

    project = stored(project)
    project, [drafting] = project.start_drafting(by=R["51"], now=NOW + 3 * day)
    assert isinstance(drafting, MilestoneRecorded)
    assert (drafting.milestone, drafting.recorded_by, drafting.recorded_at) == (
        "drafting_started",
        R["51"].actor(),
        NOW + 3 * day,
    )

    project = stored(project)
    project, [opened_comment] = project.open_public_comment(
        by=R["50"], now=NOW + 100 * day, closes_on=None, rules=RULES
    )
    assert isinstance(opened_comment, MilestoneRecorded)
    assert opened_comment.comment_closes_on == date(2027, 4, 1)  # 2027-03-02 (CST) + 30 days
    assert project.status == "public_comment"

    project = stored(project)
    project, (closed, comment_met) = project.close_public_comment(by=R["50"], now=NOW + 130 * day)
    assert isinstance(closed, MilestoneRecorded)
    assert isinstance(comment_met, ProjectClockChanged)
    assert (comment_met.clock, comment_met.happening, comment_met.due_on) == (
        "public_comment",
        "met",
        date(2027, 4, 1),
    )
    assert closed.milestone == "public_comment_closed"
    assert project.status == "technical_review"

    project = stored(project)
    for party in ("51", "50"):
        project, [conclusion] = project.record_review_conclusion(
            party=party, conclusion="技术内容合理，同意通过", passed=True, by=R[party], now=NOW + 140 * day
        )
        assert isinstance(conclusion, MilestoneRecorded)
        assert (conclusion.party, conclusion.review_passed) == (party, True)

    project = stored(project)
    project, submitted = project.submit_for_final_approval(
        text=TEXT, by=R["51"], now=NOW + 150 * day, rules=RULES
    )
    assert types(submitted) == ["MilestoneRecorded", "BallotOpened"]
    assert submitted[1].stage == "final_approval"  # type: ignore[attr-defined]
    assert project.status == "awaiting_final_approval"

    project = stored(project)
    project, final = approve_all(project, "final_approval", at_days=160)
    assert types(final) == [
        "PositionRecorded",
        "PositionRecorded",
        "BallotDecided",
        "ProjectClockChanged",
        "ProjectFinallyApproved",
        "ProjectClockChanged",
    ]
    _, _, _, ballot_met, approved, cycle_met = final
    assert isinstance(ballot_met, ProjectClockChanged)
    assert (ballot_met.clock, ballot_met.stage, ballot_met.happening) == ("ballot", "final_approval", "met")
    # Approved as a project on 24 November 2026; 18 months later is 24 May 2028; met 160 days after NOW.
    assert isinstance(cycle_met, ProjectClockChanged)
    assert (cycle_met.clock, cycle_met.happening, cycle_met.due_on, cycle_met.on) == (
        "cycle_time",
        "met",
        date(2028, 5, 24),
        date(2027, 5, 1),
    )
    assert cycle_met.days_late < 0, "met early"
    assert isinstance(approved, ProjectFinallyApproved)
    assert approved.project_approved_at == NOW + 2 * day
    assert approved.approved_at == NOW + 160 * day
    assert approved.text == TEXT
    assert (approved.area, approved.parties, approved.title_zh, approved.kind) == (
        "chengyu",
        ["50", "51"],
        "川渝地区公路沥青路面养护技术规范",
        "recommended",
    )
    project = stored(project)
    assert project.status == "finally_approved"
    assert [m.milestone for m in project.milestones] == [
        "drafting_started",
        "public_comment_opened",
        "public_comment_closed",
        "review_conclusion_recorded",
        "review_conclusion_recorded",
        "submitted_for_final_approval",
    ]
    # Publication answers next (issue 13): the project no longer says it is done.
    assert project.describe_next_step() == "publication: numbering and publishing it (or saying why not)"


def test_yrd_with_three_of_its_four_members_needs_exactly_those_three() -> None:
    yrd = proposal(
        area="yrd", parties=["33", "31", "32"], title_zh="长三角生态绿色一体化发展示范区 河湖管护规范"
    )
    project, events = propose(yrd, by=R["31"])
    assert project.parties == ["31", "32", "33"]  # in the area's order
    assert events[1].parties == ["31", "32", "33"]  # type: ignore[attr-defined]

    with pytest.raises(Forbidden, match="region 34 is not a party"):
        project.record_position(
            stage="project_approval",
            party="34",
            position="approve",
            reason=None,
            by=R["34"],
            now=NOW,
            rules=RULES,
        )
    project, _ = project.record_position(
        stage="project_approval",
        party="31",
        position="approve",
        reason=None,
        by=R["31"],
        now=NOW,
        rules=RULES,
    )
    project, _ = project.record_position(
        stage="project_approval",
        party="33",
        position="approve",
        reason=None,
        by=R["33"],
        now=NOW,
        rules=RULES,
    )
    assert project.status == "awaiting_project_approval"
    assert project.ballots["project_approval"].waiting_for() == ["32"]
    project, events = project.record_position(
        stage="project_approval",
        party="32",
        position="approve",
        reason=None,
        by=R["32"],
        now=NOW,
        rules=RULES,
    )
    assert types(events) == ["PositionRecorded", "BallotDecided", "ProjectClockChanged"]
    assert project.status == "project_approved"


# ---------------------------------------------------------------------------------------------
# Ballots


def test_one_rejection_fails_the_ballot_and_ends_the_project() -> None:
    project, _ = propose()
    project, _ = project.record_position(
        stage="project_approval",
        party="50",
        position="approve",
        reason=None,
        by=R["50"],
        now=NOW,
        rules=RULES,
    )
    project, events = project.record_position(
        stage="project_approval",
        party="51",
        position="reject",
        reason="与现行标准重复",
        by=R["51"],
        now=NOW,
        rules=RULES,
    )
    assert types(events) == ["PositionRecorded", "BallotDecided", "ProjectClockChanged"]
    assert events[1].outcome == "failed"  # type: ignore[attr-defined]
    assert project.status == "rejected"
    assert project.rejected_at == NOW

    project = stored(project)
    with pytest.raises(Conflict, match=r"project-approval ballot \(立项\) was decided \(failed\)"):
        project.record_position(
            stage="project_approval",
            party="51",
            position="approve",
            reason=None,
            by=R["51"],
            now=NOW,
            rules=RULES,
        )
    with pytest.raises(Conflict, match="is rejected"):
        project.start_drafting(by=R["50"], now=NOW)


def test_an_objection_holds_the_ballot_until_the_objecting_party_records_another_position() -> None:
    project, _ = propose()
    with pytest.raises(Invalid, match="an objection needs a reason"):
        project.record_position(
            stage="project_approval",
            party="51",
            position="object",
            reason="  ",
            by=R["51"],
            now=NOW,
            rules=RULES,
        )
    project, _ = project.record_position(
        stage="project_approval",
        party="51",
        position="object",
        reason="范围需收窄",
        by=R["51"],
        now=NOW,
        rules=RULES,
    )
    project, _ = project.record_position(
        stage="project_approval",
        party="50",
        position="approve",
        reason=None,
        by=R["50"],
        now=NOW,
        rules=RULES,
    )
    assert project.status == "awaiting_project_approval"
    assert "objection by 51 holds it" in project.describe_next_step()

    with pytest.raises(Forbidden, match="acts only for region 50, not for 51"):
        project.record_position(
            stage="project_approval",
            party="51",
            position="approve",
            reason=None,
            by=R["50"],
            now=NOW,
            rules=RULES,
        )
    project, events = project.record_position(
        stage="project_approval",
        party="51",
        position="approve",
        reason=None,
        by=R["51"],
        now=NOW,
        rules=RULES,
    )
    assert types(events) == ["PositionRecorded", "BallotDecided", "ProjectClockChanged"]
    recorded = events[0]
    assert isinstance(recorded, PositionRecorded)
    assert recorded.previous == "object"
    assert project.status == "project_approved"


def test_a_party_changes_its_position_while_the_ballot_is_open() -> None:
    project, _ = propose()
    later = NOW + timedelta(hours=1)
    project, _ = project.record_position(
        stage="project_approval",
        party="50",
        position="approve",
        reason=None,
        by=R["50"],
        now=NOW,
        rules=RULES,
    )
    project, [changed] = project.record_position(
        stage="project_approval",
        party="50",
        position="object",
        reason="需补充调研",
        by=R["50"],
        now=later,
        rules=RULES,
    )
    assert isinstance(changed, PositionRecorded)
    assert (changed.previous, changed.position, changed.reason) == ("approve", "object", "需补充调研")
    ballot = project.ballots["project_approval"]
    assert ballot.positions["50"].position == "object"
    assert [h.position for h in ballot.history] == ["approve", "object"]

    project, again = project.record_position(
        stage="project_approval",
        party="50",
        position="object",
        reason="需补充调研",
        by=R["50"],
        now=later,
        rules=RULES,
    )
    assert again == [], "the same position again changes nothing"
    assert len(project.ballots["project_approval"].history) == 2


def test_a_ballot_past_its_deadline_is_flagged_overdue_once() -> None:
    project, _ = propose()
    project, _ = project.record_position(
        stage="project_approval",
        party="51",
        position="approve",
        reason=None,
        by=R["51"],
        now=NOW,
        rules=RULES,
    )
    deadline = datetime(2026, 12, 23, tzinfo=CST)  # opened 22 November CST, due 22 December
    project, said = project.check_clocks(deadline - timedelta(days=6, seconds=1), RULES)
    assert said == []
    project, [soon] = project.check_clocks(deadline - timedelta(days=6), RULES)  # 17 December: 5 days before
    assert isinstance(soon, ProjectClockChanged)
    assert (soon.clock, soon.stage, soon.happening, soon.due_on) == (
        "ballot",
        "project_approval",
        "due_soon",
        date(2026, 12, 22),
    )
    project, said = project.check_clocks(deadline - timedelta(seconds=1), RULES)
    assert said == []

    project, (overdue, changed) = project.check_clocks(deadline + timedelta(minutes=5), RULES)
    assert isinstance(overdue, BallotOverdue)
    assert (overdue.stage, overdue.deadline, overdue.waiting_for) == ("project_approval", deadline, ["50"])
    assert isinstance(changed, ProjectClockChanged)
    assert (changed.happening, changed.days_late) == ("overdue", 1)
    project = stored(project)
    assert project.ballots["project_approval"].overdue_at == deadline + timedelta(minutes=5)
    project, said = project.check_clocks(deadline + timedelta(days=1), RULES)
    assert said == []

    # An overdue ballot stays open: the missing party may still approve, and the clock is met late.
    project, events = project.record_position(
        stage="project_approval",
        party="50",
        position="approve",
        reason=None,
        by=R["50"],
        now=deadline + timedelta(days=2),
        rules=RULES,
    )
    assert types(events) == ["PositionRecorded", "BallotDecided", "ProjectClockChanged"]
    assert (events[2].happening, events[2].days_late) == ("met", 3)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Refusals


def test_a_command_returns_the_changed_project_and_leaves_the_one_it_was_called_on_as_it_was() -> None:
    project, _ = propose()
    before = project.to_document()
    approved, _ = approve_all(project, "project_approval")
    drafting, _ = approved.start_drafting(by=R["50"], now=NOW + timedelta(days=2))
    assert project.to_document() == before
    assert (project.status, approved.status, drafting.status) == (
        "awaiting_project_approval",
        "project_approved",
        "drafting",
    )
    assert project.ballots["project_approval"].positions == {}
    assert project.clock("cycle_time") is None


def test_steps_out_of_order_are_refused_and_say_what_is_expected() -> None:
    project, _ = propose()
    before = project.to_document()
    with pytest.raises(Conflict) as refused:
        project.start_drafting(by=R["50"], now=NOW)
    assert str(refused.value) == (
        "cannot start drafting: project prj-test is awaiting project approval (the 立项 ballot is open); "
        "this step needs it to be approved as a project (立项 passed) and not yet drafting"
    )
    with pytest.raises(Conflict, match=r"this step needs it to be in drafting \(起草\)"):
        project.open_public_comment(by=R["50"], now=NOW, closes_on=None, rules=RULES)
    with pytest.raises(Conflict, match="cannot close public comment"):
        project.close_public_comment(by=R["50"], now=NOW)
    with pytest.raises(Conflict, match="cannot record a review conclusion"):
        project.record_review_conclusion(party="50", conclusion="通过", passed=True, by=R["50"], now=NOW)
    with pytest.raises(Conflict, match="cannot submit for final approval"):
        project.submit_for_final_approval(text=TEXT, by=R["50"], now=NOW, rules=RULES)
    with pytest.raises(Conflict, match=r"the final-approval ballot \(批准\) has not opened"):
        project.record_position(
            stage="final_approval",
            party="50",
            position="approve",
            reason=None,
            by=R["50"],
            now=NOW,
            rules=RULES,
        )
    assert project.to_document() == before, "a refused step changes nothing"

    project, _ = approve_all(project, "project_approval")
    project, _ = project.start_drafting(by=R["50"], now=NOW)
    with pytest.raises(Conflict, match="is in drafting"):
        project.start_drafting(by=R["50"], now=NOW)


def test_submission_needs_every_party_s_passing_conclusion() -> None:
    project = in_technical_review()
    project, _ = project.record_review_conclusion(
        party="50", conclusion="通过", passed=True, by=R["50"], now=NOW
    )
    with pytest.raises(Conflict, match="waiting for the review conclusion of 51"):
        project.submit_for_final_approval(text=TEXT, by=R["50"], now=NOW, rules=RULES)
    project, _ = project.record_review_conclusion(
        party="51", conclusion="限值需复核", passed=False, by=R["51"], now=NOW
    )
    with pytest.raises(Conflict, match="the review of 51 did not pass"):
        project.submit_for_final_approval(text=TEXT, by=R["50"], now=NOW, rules=RULES)
    assert project.status == "technical_review"
    assert project.text is None

    project, _ = project.record_review_conclusion(
        party="51", conclusion="复核后通过", passed=True, by=R["51"], now=NOW
    )
    project, events = project.submit_for_final_approval(text=TEXT, by=R["50"], now=NOW, rules=RULES)
    assert types(events) == ["MilestoneRecorded", "BallotOpened"]
    assert project.text == TEXT


def test_a_regulator_acts_only_for_its_own_region_and_only_in_its_projects() -> None:
    project, _ = propose()
    with pytest.raises(Forbidden, match="the regulator of region 50 acts only for region 50, not for 51"):
        project.record_position(
            stage="project_approval",
            party="51",
            position="approve",
            reason=None,
            by=R["50"],
            now=NOW,
            rules=RULES,
        )
    with pytest.raises(Forbidden, match="may only read"):
        project.record_position(
            stage="project_approval",
            party="51",
            position="approve",
            reason=None,
            by=CITY,
            now=NOW,
            rules=RULES,
        )
    with pytest.raises(Forbidden, match="region 52 is not a party"):
        project.record_position(
            stage="project_approval",
            party="52",
            position="approve",
            reason=None,
            by=R["52"],
            now=NOW,
            rules=RULES,
        )
    project, _ = approve_all(project, "project_approval")
    with pytest.raises(Forbidden, match="only the regulators of the parties"):
        project.start_drafting(by=R["52"], now=NOW)
    with pytest.raises(Forbidden, match="may only read"):
        project.start_drafting(by=CITY, now=NOW)
    assert project.status == "project_approved"

    review = in_technical_review()
    with pytest.raises(Forbidden, match="acts only for region 51, not for 50"):
        review.record_review_conclusion(party="50", conclusion="通过", passed=True, by=R["51"], now=NOW)
    assert review.review_conclusions == {}


def test_a_comment_period_shorter_than_the_minimum_is_refused() -> None:
    project, _ = propose()
    project, _ = approve_all(project, "project_approval")
    project, _ = project.start_drafting(by=R["50"], now=NOW)
    with pytest.raises(Invalid) as refused:
        project.open_public_comment(by=R["50"], now=NOW, closes_on=date(2026, 12, 21), rules=RULES)
    assert str(refused.value) == (
        "public comment opened on 2026-11-22 cannot close on 2026-12-21: the comment period runs at "
        "least 30 calendar days and at most 90 calendar days, so it closes between 2026-12-22 and "
        "2027-02-20"
    )
    assert project.status == "drafting"
    assert project.public_comment is None

    project, _ = project.open_public_comment(by=R["50"], now=NOW, closes_on=date(2027, 1, 5), rules=RULES)
    assert project.public_comment is not None
    assert project.public_comment.closes_on == date(2027, 1, 5)


def test_public_comment_closes_only_on_or_after_its_closing_date_in_china_standard_time() -> None:
    project, _ = propose()
    project, _ = approve_all(project, "project_approval")
    project, _ = project.start_drafting(by=R["50"], now=NOW)
    project, _ = project.open_public_comment(by=R["50"], now=NOW, closes_on=None, rules=RULES)
    # 2026-12-21 23:59 CST is 15:59 UTC: still a day early.
    with pytest.raises(Conflict) as refused:
        project.close_public_comment(by=R["51"], now=NOW + timedelta(days=29, hours=13, minutes=59))
    assert str(refused.value).startswith(
        "cannot close public comment before 2026-12-22: the comment period opened on 2026-11-22"
    )
    assert project.status == "public_comment"
    # 2026-12-22 00:00 CST is 2026-12-21 16:00 UTC: the closing date has come.
    project, _ = project.close_public_comment(by=R["51"], now=NOW + timedelta(days=29, hours=14))
    assert project.status == "technical_review"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"parties": ["50"]}, "needs at least 2 distinct parties"),
        ({"parties": ["50", "50"]}, "named more than once: 50"),
        ({"parties": ["50", "31"]}, "31 is not a member of chengyu"),
        ({"area": "pearl"}, "unknown area 'pearl'"),
        ({"title_zh": "Asphalt pavement"}, "contains no Chinese characters"),
        ({"category": "Transport"}, "must be a lowercase slug"),
    ],
)
def test_a_proposal_that_breaks_the_rules_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        propose(proposal(**overrides))


def test_a_regulator_proposes_only_with_its_region_among_the_parties() -> None:
    with pytest.raises(Forbidden, match="the regulator of region 33 may propose only a project its region"):
        propose(proposal(area="yrd", parties=["31", "32"]), by=R["33"])
    with pytest.raises(Forbidden, match="may only read"):
        propose(by=CITY)


def test_a_joint_project_of_an_area_without_a_joint_number_block_is_refused() -> None:
    # Issue 13: a yangtze "joint" project passed every ballot and was then dead-lettered by
    # publication (no block to number it from). It was accepted here before (this test said so).
    with pytest.raises(Invalid) as refused:
        propose(proposal(area="yangtze", parties=["53", "31"], eco_civilization=True), by=R["31"])
    assert str(refused.value) == (
        "joint projects are only for areas with a joint number block (chengyu, yrd); yangtze "
        "(长江经济带) has none, so a joint standard of it could never be numbered"
    )
    project, _ = propose(proposal(area="yrd", parties=["34", "31"]), by=R["31"])
    assert project.parties == ["31", "34"]
