"""Issue 13, the rules of the register that intake enforces: joint projects only where a joint block
numbers them, revisions only of a standard still current, a bounded comment window any party may
amend, the final text only at a web address, and what publication did with an approval shown on the
project. Each bug of the issue has its own test here (the domain without fakes, the use cases over
the in-memory stores)."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from regstd.contracts.common import TextReference
from regstd.contracts.intake import ProjectClockChanged, ProjectClockRescheduled, PublicCommentAmended
from regstd.contracts.publication import (
    ApprovalRefused,
    NumberNotIssued,
    PartyNumber,
    StandardSuperseded,
    StandardWithdrawn,
)
from regstd.intake.app.intake import Policy
from regstd.intake.domain.clocks import ClockRules
from regstd.intake.domain.project import Project
from regstd.intake.settings import IntakeSettings
from regstd.kernel.calendar import WorkingDayCalendar
from regstd.kernel.clocks import Period
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.locations import web_location
from regstd.runtime.testing import MovableClock, delivered

from .conftest import CITY, NOW, REGULATORS, SHA, proposal
from .memory import MemoryIntake
from .test_domain import approve_all, in_technical_review, propose, stored
from .test_use_cases import published

R = REGULATORS
RULES = ClockRules()
TEXT = TextReference(location="https://texts.example/final.pdf", sha256=SHA)


def at(day: date, hour: int = 10) -> datetime:
    """A moment on a CST day (10:00 CST by default)."""
    return datetime(day.year, day.month, day.day, hour - 8, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# 1. Joint projects only in areas with a joint number block (the domain test is in test_domain)


async def test_a_revision_of_a_yangtze_standard_is_refused_like_any_yangtze_joint_project() -> None:
    memory = MemoryIntake(clock=lambda: NOW)
    yangtze = published("std-y", "长江经济带 湿地修复技术规范", area="yangtze", parties=["50", "51"])
    await memory.intake.on_standard_published(delivered(yangtze, event_id="e1", time=NOW))
    with pytest.raises(Invalid, match=r"only for areas with a joint number block \(chengyu, yrd\)"):
        await memory.intake.propose(proposal(area="yangtze", supersedes="std-y"), R["50"])
    assert memory.project_store.states() == {}


# ---------------------------------------------------------------------------------------------
# 2. A revision targets only a standard still current


def withdrawn(standard_id: str) -> StandardWithdrawn:
    return StandardWithdrawn(
        standard_id=standard_id,
        area="chengyu",
        parties=["50", "51"],
        numbers=[PartyNumber(party="50", number="DB50/T 10003—2025")],
        reason="复审结论：废止",
        effective_date=date(2026, 3, 1),
        withdrawn_at=NOW,
    )


def superseded(standard_id: str) -> StandardSuperseded:
    return StandardSuperseded(
        standard_id=standard_id,
        area="chengyu",
        parties=["50", "51"],
        numbers=[PartyNumber(party="50", number="DB50/T 10003—2025")],
        superseded_by="std-new",
        superseded_by_numbers=[
            PartyNumber(party="50", number="DB50/T 10003—2026"),
            PartyNumber(party="51", number="DB51/T 10003—2026"),
        ],
        effective_date=date(2026, 9, 1),
        superseded_at=NOW,
    )


def not_issued(standard_id: str) -> NumberNotIssued:
    return NumberNotIssued(
        standard_id=standard_id,
        area="chengyu",
        parties=["50", "51"],
        sequence=10003,
        reason="撤回",
        withdrawn_by=R["50"].actor(),
        withdrawn_at=NOW,
    )


@pytest.mark.parametrize(
    ("ending", "handler", "why"),
    [
        (
            withdrawn,
            "on_standard_withdrawn",
            "it was abolished (废止), effective 2026-03-01: 复审结论：废止",
        ),
        (
            superseded,
            "on_standard_superseded",
            "it is superseded by std-new (DB50/T 10003—2026 = DB51/T 10003—2026); revise the "
            "standard now current instead",
        ),
        (not_issued, "on_number_not_issued", "it was withdrawn and its number not issued: 撤回"),
    ],
)
async def test_a_revision_of_a_standard_no_longer_current_is_refused(
    ending: Any, handler: str, why: str
) -> None:
    memory = MemoryIntake(clock=lambda: NOW)
    intake = memory.intake
    await intake.on_standard_published(
        delivered(published("std-8", "川渝地区 隧道照明设计规范"), event_id="e1", time=NOW)
    )
    await getattr(intake, handler)(delivered(ending("std-8"), event_id="e2", time=NOW))
    # A later (re)publication of the same standard does not bring it back.
    again = published("std-8", "川渝地区 隧道照明设计规范", published_at=datetime(2026, 1, 1, tzinfo=UTC))
    await intake.on_standard_published(delivered(again, event_id="e3", time=NOW))
    with pytest.raises(Conflict) as refused:
        await intake.propose(proposal(supersedes="std-8"), R["50"])
    assert str(refused.value) == (
        "a revision may target only a published standard still current; std-8 (DB50/T 10003—2025 = "
        f"DB51/T 10003—2025) is not: {why}"
    )
    assert memory.project_store.states() == {}
    # The overlap check still compares proposals with it, as before.
    assert [m.ref for m in (await intake.propose(proposal(), R["50"])).overlap_matches] == ["std-8"]


async def test_an_ending_applies_once_and_the_first_ending_stands() -> None:
    memory = MemoryIntake(clock=lambda: NOW)
    intake = memory.intake
    await intake.on_standard_withdrawn(delivered(withdrawn("std-unknown"), event_id="e0", time=NOW))
    assert memory.standard_store.states() == {}, "an ending of a standard never heard of is not a standard"
    await intake.on_standard_published(
        delivered(published("std-8", "川渝地区 隧道照明设计规范"), event_id="e1", time=NOW)
    )
    await intake.on_standard_withdrawn(delivered(withdrawn("std-8"), event_id="e2", time=NOW))
    await intake.on_standard_withdrawn(delivered(withdrawn("std-8"), event_id="e2", time=NOW))
    assert memory.standard_store.documents["std-8"].version == 2
    await intake.on_standard_superseded(delivered(superseded("std-8"), event_id="e3", time=NOW))
    row = memory.standard_store.states()["std-8"]
    assert (row["status"], row["status_since"], row["superseded_by"]) == ("abolished", date(2026, 3, 1), None)


# ---------------------------------------------------------------------------------------------
# 3. The public comment window, and its amendment by any party


def drafting() -> Project:
    project, _ = propose()
    project, _ = approve_all(project, "project_approval", at_days=0)
    project, _ = project.start_drafting(by=R["50"], now=NOW)
    return project


def commenting(closes_on: date | None = None) -> Project:
    project, _ = drafting().open_public_comment(by=R["50"], now=NOW, closes_on=closes_on, rules=RULES)
    return stored(project)


def test_a_closing_date_beyond_the_maximum_is_refused_naming_both_bounds() -> None:
    # Issue 13: one party set 9999-12-31 and froze the joint project.
    project = drafting()
    with pytest.raises(Invalid) as refused:
        project.open_public_comment(by=R["50"], now=NOW, closes_on=date(9999, 12, 31), rules=RULES)
    assert str(refused.value) == (
        "public comment opened on 2026-11-22 cannot close on 9999-12-31: the comment period runs at "
        "least 30 calendar days and at most 90 calendar days, so it closes between 2026-12-22 and "
        "2027-02-20"
    )
    assert project.status == "drafting"
    opened, _ = project.open_public_comment(by=R["50"], now=NOW, closes_on=date(2027, 2, 20), rules=RULES)
    assert opened.public_comment is not None
    assert opened.public_comment.closes_on == date(2027, 2, 20)


def test_the_window_is_a_setting_counted_by_the_comment_day_rule() -> None:
    settings = IntakeSettings(public_comment_min_days=10, public_comment_max_days=20)
    rules = settings.clock_rules(WorkingDayCalendar())
    assert rules.public_comment_max == Period(amount=20, unit="calendar_days")
    with pytest.raises(Invalid, match="closes between 2026-12-02 and 2026-12-12"):
        drafting().open_public_comment(by=R["50"], now=NOW, closes_on=date(2026, 12, 13), rules=rules)
    with pytest.raises(
        ValueError, match=r"public_comment_max_days \(5\) is shorter than public_comment_min_days"
    ):
        IntakeSettings(public_comment_min_days=10, public_comment_max_days=5)
    assert IntakeSettings().public_comment_max_days == 90


def test_any_party_moves_the_closing_date_and_the_clock_follows() -> None:
    project = commenting()  # opened 2026-11-22, closes 2026-12-22
    moved, events = project.amend_public_comment(
        by=R["51"],
        now=NOW + timedelta(days=5),
        closes_on=date(2027, 1, 20),
        reason="延长以收集企业意见",
        rules=RULES,
    )
    amended, rescheduled = events
    assert isinstance(amended, PublicCommentAmended)
    assert (amended.opened_on, amended.previous_closes_on, amended.closes_on) == (
        date(2026, 11, 22),
        date(2026, 12, 22),
        date(2027, 1, 20),
    )
    assert (amended.amended_by.code, amended.reason) == ("51", "延长以收集企业意见")
    assert isinstance(rescheduled, ProjectClockRescheduled)
    assert (rescheduled.clock, rescheduled.previous_due_on, rescheduled.due_on) == (
        "public_comment",
        date(2026, 12, 22),
        date(2027, 1, 20),
    )
    moved = stored(moved)
    assert moved.public_comment is not None
    assert moved.public_comment.closes_on == date(2027, 1, 20)
    assert [a.amended_by.code for a in moved.public_comment.amendments] == ["51"]
    clock = moved.clock("public_comment")
    assert clock is not None
    assert (clock.due_on, clock.state) == (date(2027, 1, 20), "running")
    assert moved.describe_next_step() == "close public comment on or after 2027-01-20"
    with pytest.raises(Conflict, match="cannot close public comment before 2027-01-20"):
        moved.close_public_comment(by=R["50"], now=at(date(2026, 12, 23)))
    # Shortened again by the other party, back to the minimum; the same date again changes nothing.
    back, events = moved.amend_public_comment(
        by=R["50"], now=NOW + timedelta(days=6), closes_on=date(2026, 12, 22), reason=None, rules=RULES
    )
    assert [type(e).__name__ for e in events] == ["PublicCommentAmended", "ProjectClockRescheduled"]
    same, nothing = back.amend_public_comment(
        by=R["51"], now=NOW + timedelta(days=6), closes_on=date(2026, 12, 22), reason=None, rules=RULES
    )
    assert nothing == []
    assert same == back


@pytest.mark.parametrize(
    ("today", "closes_on", "bounds"),
    [
        (date(2026, 11, 25), date(2026, 12, 21), "closes between 2026-12-22 and 2027-02-20"),
        (date(2026, 11, 25), date(2027, 2, 21), "closes between 2026-12-22 and 2027-02-20"),
        (date(2027, 1, 10), date(2027, 1, 9), "closes between 2027-01-10 and 2027-02-20"),
        (date(2027, 1, 10), date(9999, 12, 31), "closes between 2027-01-10 and 2027-02-20"),
    ],
)
def test_an_amended_closing_date_outside_the_window_or_in_the_past_is_refused(
    today: date, closes_on: date, bounds: str
) -> None:
    project = commenting(date(2027, 2, 1))
    with pytest.raises(Invalid) as refused:
        project.amend_public_comment(by=R["51"], now=at(today), closes_on=closes_on, reason=None, rules=RULES)
    assert bounds in str(refused.value)
    assert "at least 30 calendar days and at most 90 calendar days from its opening" in str(refused.value)


def test_only_a_party_s_regulator_amends_and_only_while_the_period_is_open() -> None:
    project = commenting()
    for who, refusal in ((R["31"], "only the regulators of the parties"), (CITY, "may only read")):
        with pytest.raises(Forbidden, match=refusal):
            project.amend_public_comment(
                by=who, now=NOW, closes_on=date(2027, 1, 5), reason=None, rules=RULES
            )
    closed, _ = project.close_public_comment(by=R["50"], now=at(date(2026, 12, 22)))
    with pytest.raises(
        Conflict, match="cannot amend the public comment closing date: project prj-test is in"
    ):
        closed.amend_public_comment(
            by=R["50"], now=at(date(2026, 12, 22)), closes_on=date(2027, 1, 5), reason=None, rules=RULES
        )


def test_a_period_frozen_before_the_window_existed_can_be_brought_to_today_and_closed() -> None:
    # Stored before the maximum existed: opened 2026-11-22, closing 9999-12-31.
    project = commenting()
    assert project.public_comment is not None
    project.public_comment.closes_on = date(9999, 12, 31)
    today = date(2027, 6, 1)  # the window (to 2027-02-20) is long past: today is the date left
    with pytest.raises(Invalid, match="closes between 2027-06-01 and 2027-06-01"):
        project.amend_public_comment(
            by=R["51"], now=at(today), closes_on=date(2027, 6, 2), reason=None, rules=RULES
        )
    moved, _ = project.amend_public_comment(
        by=R["51"], now=at(today), closes_on=today, reason="解冻", rules=RULES
    )
    closed, _ = moved.close_public_comment(by=R["50"], now=at(today))
    assert closed.status == "technical_review"


def test_a_due_soon_already_said_is_not_said_again_and_an_overdue_clock_runs_again() -> None:
    project = commenting()  # closes 2026-12-22, due soon from 2026-12-17
    project, said = project.check_clocks(at(date(2026, 12, 18)), RULES)
    assert [e.happening for e in said if isinstance(e, ProjectClockChanged)] == ["due_soon"]
    moved, events = project.amend_public_comment(
        by=R["51"], now=at(date(2026, 12, 18)), closes_on=date(2026, 12, 23), reason=None, rules=RULES
    )
    assert [type(e).__name__ for e in events] == ["PublicCommentAmended", "ProjectClockRescheduled"]
    clock = moved.clock("public_comment")
    assert clock is not None
    assert (clock.state, clock.due_on) == ("due_soon", date(2026, 12, 23))

    late, said = project.check_clocks(at(date(2026, 12, 23)), RULES)
    assert [e.happening for e in said if isinstance(e, ProjectClockChanged)] == ["overdue"]
    moved, events = late.amend_public_comment(
        by=R["51"], now=at(date(2026, 12, 23)), closes_on=date(2027, 1, 30), reason=None, rules=RULES
    )
    clock = moved.clock("public_comment")
    assert clock is not None
    assert (clock.state, clock.due_on) == ("running", date(2027, 1, 30))
    moved, said = moved.check_clocks(at(date(2027, 1, 31)), RULES)
    assert [e.happening for e in said if isinstance(e, ProjectClockChanged)] == ["overdue"]


async def test_the_amendment_use_case_stores_the_date_and_its_events() -> None:
    clock = MovableClock(NOW)
    memory = MemoryIntake(clock=clock, new_id=lambda: "prj-a", policy=Policy(clocks=RULES))
    intake = memory.intake
    await intake.propose(proposal(), R["50"])
    for party in ("50", "51"):
        await intake.record_position(
            "prj-a", stage="project_approval", party=party, position="approve", reason=None, by=R[party]
        )
    await intake.start_drafting("prj-a", by=R["50"])
    await intake.open_public_comment("prj-a", closes_on=None, by=R["50"])
    before = len(memory.project_store.outbox)
    clock.advance(days=3)
    with pytest.raises(Invalid):
        await intake.amend_public_comment("prj-a", closes_on=date(9999, 12, 31), reason=None, by=R["51"])
    assert len(memory.project_store.outbox) == before, "a refused amendment stores nothing"
    project = await intake.amend_public_comment(
        "prj-a", closes_on=date(2027, 1, 5), reason="延长", by=R["51"]
    )
    assert project.public_comment is not None
    assert project.public_comment.closes_on == date(2027, 1, 5)
    assert memory.project_store.states()["prj-a"]["public_comment"]["closes_on"] == "2027-01-05"
    assert [p.type for p in memory.project_store.outbox[before:]] == [
        PublicCommentAmended.event_type,
        ProjectClockRescheduled.event_type,
    ]


# ---------------------------------------------------------------------------------------------
# 4. What publication did with a finally approved project


def finally_approved() -> Project:
    project, _ = in_technical_review().record_review_conclusion(
        party="50", conclusion="通过", passed=True, by=R["50"], now=NOW + timedelta(days=40)
    )
    project, _ = project.record_review_conclusion(
        party="51", conclusion="通过", passed=True, by=R["51"], now=NOW + timedelta(days=40)
    )
    project, _ = project.submit_for_final_approval(
        text=TEXT, by=R["50"], now=NOW + timedelta(days=41), rules=RULES
    )
    project, _ = approve_all(project, "final_approval", at_days=42)
    assert project.status == "finally_approved"
    return stored(project)


def refusal(
    project_id: str = "prj-test", *, reason: str = "chengyu 的联合编号段已用尽", at: datetime = NOW
) -> ApprovalRefused:
    return ApprovalRefused(
        standard_id=f"std-{project_id}",
        project_id=project_id,
        area="chengyu",
        parties=["50", "51"],
        rule="no_joint_block",
        reason=reason,
        approval_id="ev-approval",
        refused_at=at,
    )


async def memory_with_a_finally_approved_project() -> MemoryIntake:
    memory = MemoryIntake(clock=lambda: NOW)
    project = finally_approved()
    await memory.project_store.save(project.project_id, project.to_document(), loaded=None, events=[])
    return memory


async def test_a_refusal_by_publication_is_shown_on_the_project_once_and_counted() -> None:
    # Issue 13: `regstd show` said "finally_approved — nothing: the project is done"; no one was told.
    memory = await memory_with_a_finally_approved_project()
    intake = memory.intake
    assert await intake.refused_by_publication() == {"chengyu": 0, "yrd": 0, "yangtze": 0}
    await intake.on_approval_refused(delivered(refusal(), event_id="r1", time=NOW))
    await intake.on_approval_refused(delivered(refusal(), event_id="r1", time=NOW))
    assert memory.project_store.documents["prj-test"].version == 2, "the redelivery had no effect"
    project = await intake.project("prj-test")
    assert project.publication is not None
    assert project.publication.model_dump(exclude_none=True, exclude={"numbers"}) == {
        "outcome": "refused",
        "at": NOW,
        "standard_id": "std-prj-test",
        "rule": "no_joint_block",
        "reason": "chengyu 的联合编号段已用尽",
    }
    assert project.describe_next_step() == "refused by publication: chengyu 的联合编号段已用尽"
    assert project.status == "finally_approved"
    assert await intake.refused_by_publication() == {"chengyu": 1, "yrd": 0, "yangtze": 0}


async def test_a_publication_is_shown_on_the_project_and_a_later_refusal_does_not_undo_it() -> None:
    memory = await memory_with_a_finally_approved_project()
    intake = memory.intake
    await intake.on_approval_refused(delivered(refusal(), event_id="r1", time=NOW))
    standard = published("std-prj-test", "川渝地区公路沥青路面养护技术规范", project_id="prj-test")
    await intake.on_standard_published(delivered(standard, event_id="p1", time=NOW))
    project = await intake.project("prj-test")
    assert project.publication is not None
    assert (project.publication.outcome, project.publication.numbers) == (
        "published",
        ["DB50/T 10003—2025", "DB51/T 10003—2025"],
    )
    assert project.describe_next_step() == "published as DB50/T 10003—2025 = DB51/T 10003—2025"
    await intake.on_approval_refused(delivered(refusal(at=NOW + timedelta(days=1)), event_id="r2", time=NOW))
    assert (await intake.project("prj-test")).publication == project.publication
    assert await intake.refused_by_publication() == {"chengyu": 0, "yrd": 0, "yangtze": 0}


async def test_a_later_refusal_replaces_an_earlier_one() -> None:
    memory = await memory_with_a_finally_approved_project()
    await memory.intake.on_approval_refused(delivered(refusal(reason="甲"), event_id="r1", time=NOW))
    await memory.intake.on_approval_refused(
        delivered(refusal(reason="乙", at=NOW + timedelta(hours=1)), event_id="r2", time=NOW)
    )
    await memory.intake.on_approval_refused(
        delivered(refusal(reason="丙", at=NOW - timedelta(hours=1)), event_id="r3", time=NOW)
    )
    assert (await memory.intake.project("prj-test")).describe_next_step() == "refused by publication: 乙"


async def test_an_answer_about_a_project_not_here_or_not_finally_approved_changes_nothing() -> None:
    memory = MemoryIntake(clock=lambda: NOW, new_id=lambda: "prj-open")
    intake = memory.intake
    await intake.on_approval_refused(delivered(refusal("prj-never"), event_id="r1", time=NOW))
    assert memory.project_store.states() == {}, "no project is made up from a refusal"
    await intake.propose(proposal(), R["50"])
    await intake.on_approval_refused(delivered(refusal("prj-open"), event_id="r2", time=NOW))
    await intake.on_standard_published(
        delivered(
            published("std-x", "川渝地区 隧道照明设计规范", project_id="prj-open"), event_id="p1", time=NOW
        )
    )
    project = await intake.project("prj-open")
    assert (project.publication, project.status) == (None, "awaiting_project_approval")


# ---------------------------------------------------------------------------------------------
# 5. The final text only at an https: or http: address


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("javascript:alert(document.cookie)", "has the scheme javascript:"),
        ("JavaScript:alert(1)", "has the scheme javascript:"),
        ("data:text/html;base64,PHNjcmlwdD4=", "has the scheme data:"),
        ("file:///etc/passwd", "has the scheme file:"),
        ("ftp://texts.example/t.pdf", "has the scheme ftp:"),
        ("/texts/t.pdf", "has no scheme"),
        (" javascript:alert(1)", "without spaces or control characters"),
        ("java\tscript:alert(1)", "without spaces or control characters"),
        ("https:///t.pdf", "with a host"),
    ],
)
def test_a_final_text_not_at_a_web_address_is_refused_naming_the_field(location: str, problem: str) -> None:
    project = in_technical_review()
    for party in ("50", "51"):
        project, _ = project.record_review_conclusion(
            party=party, conclusion="通过", passed=True, by=R[party], now=NOW + timedelta(days=40)
        )
    text = TextReference(location=location, sha256=SHA)
    with pytest.raises(Invalid) as refused:
        project.submit_for_final_approval(text=text, by=R["50"], now=NOW + timedelta(days=41), rules=RULES)
    assert str(refused.value).startswith("text.location must be an https: or http: URL")
    assert problem in str(refused.value)
    assert project.status == "technical_review"


def test_https_and_http_addresses_are_texts_locations() -> None:
    for location in ("https://texts.example/final.pdf", "HTTP://texts.example:8080/a?b=c#d"):
        web_location(location, "text.location")


async def test_a_standard_of_a_project_intake_has_adds_no_postings_and_one_of_no_project_does() -> None:
    """The project's own postings stand for its standard (the check reads a project that became a
    standard as the standard); a standard intake has no project of is indexed under its own id."""
    memory = await memory_with_a_finally_approved_project()
    intake = memory.intake
    ours = published("std-prj-test", "川渝地区公路沥青路面养护技术规范", project_id="prj-test")
    theirs = published("std-imported", "川渝地区隧道照明技术规范")
    await intake.on_standard_published(delivered(ours, event_id="p1", time=NOW))
    await intake.on_standard_published(delivered(ours, event_id="p1", time=NOW))  # delivered again
    await intake.on_standard_published(delivered(theirs, event_id="p2", time=NOW))

    refs = {posting.ref for postings in memory.overlap_index.terms.values() for posting in postings}
    assert refs == {"std-imported"}
    project = await intake.project("prj-test")
    assert project.publication is not None
    assert project.publication.standard_id == "std-prj-test"
    for standard_id in ("std-prj-test", "std-imported"):
        assert await intake.standards.find(standard_id) is not None, "remembered for revisions"
