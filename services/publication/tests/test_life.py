"""The life of a published standard over storage in memory and a clock the test moves: clocks with
their day rules, filing per party, text disclosure, review outcomes, abolition and revision."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from regstd.contracts.publication import (
    ApprovalRefused,
    StandardClockChanged,
    StandardClockRescheduled,
    StandardFiled,
    StandardPublished,
    StandardReviewConcluded,
    StandardSuperseded,
    StandardTextDisclosed,
    StandardWithdrawn,
)
from regstd.kernel.calendar import WorkingDayCalendar
from regstd.kernel.clocks import ClockView
from regstd.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from regstd.publication.domain.life import LifePolicy
from regstd.publication.domain.standard import Standard
from regstd.runtime.testing import MovableClock, delivered, invented_arrangement_2027

from .conftest import PRINCIPALS, approval
from .memory import Memory, memory

# 10:00 on Tuesday 10 February 2026 in China, a few days before the Spring Festival.
BEFORE_SPRING_FESTIVAL = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)
REG50, REG51, CITY = PRINCIPALS["reg-50"], PRINCIPALS["reg-51"], PRINCIPALS["city-chengdu"]


def steward(clock: MovableClock, **life: object) -> Memory:
    return memory(clock, life=LifePolicy(**life))  # type: ignore[arg-type]


async def published(clock: MovableClock, project: str = "p1", **kw: object) -> tuple[Memory, Standard]:
    kept = steward(clock)
    await kept.approve(approval(project, **kw))  # type: ignore[arg-type]
    stored = kept.get(f"std-{project}")
    assert stored is not None
    return kept, stored


async def fire(kept: Memory, standard_id: str) -> bool:
    """One scheduler visit of one standard, as `ClockScheduler` does it."""
    outcome = await kept.standards.change_if_present(standard_id, kept.life.decide_clocks)
    return outcome is not None and outcome.stored


async def test_publication_starts_every_clock_with_its_own_day_rule() -> None:
    _, standard = await published(MovableClock(BEFORE_SPRING_FESTIVAL))
    assert standard.life is not None
    due = {c.name: c.due_on for c in standard.life.clocks}
    assert due == {
        "filing:50": date(2026, 4, 11),  # 60 calendar days after 10 February
        "filing:51": date(2026, 4, 11),
        # 20 working days: the Spring Festival (15–23 Feb) does not count, Saturdays 14 and 28 Feb do.
        "text_disclosure": date(2026, 3, 16),
        "review": date(2031, 5, 11),  # implementation date (90 days later) + 5 years
    }
    assert Standard.from_dict(standard.id, standard.to_dict()) == standard, "stored and read back unchanged"


async def test_a_mandatory_environmental_standard_has_a_second_filing_clock_per_party() -> None:
    _, standard = await published(
        MovableClock(BEFORE_SPRING_FESTIVAL), kind="mandatory", category="environment"
    )
    assert standard.life is not None
    assert sorted(c.name for c in standard.life.clocks if "filing" in c.name) == [
        "eco_filing:50", "eco_filing:51", "filing:50", "filing:51",
    ]  # fmt: skip


async def test_clocks_say_due_soon_and_overdue_once_each() -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    kept, standard = await published(clock)
    assert not await fire(kept, standard.id), "nothing is due on the day of publication"
    clock.advance(days=29)  # 11 March: five days before the disclosure deadline of 16 March
    assert await fire(kept, standard.id)
    assert not await fire(kept, standard.id), "a second visit finds nothing new"
    assert [(e["clock"], e["happening"]) for e in kept.of(StandardClockChanged)] == [
        ("text_disclosure", "due_soon")
    ]
    clock.advance(days=60)  # 10 May: disclosure and both filings are overdue; the filings skip due soon
    assert await fire(kept, standard.id)
    assert not await fire(kept, standard.id)
    happened = [
        (e["clock"], e["party"], e["happening"], e["days_late"]) for e in kept.of(StandardClockChanged)
    ]
    assert happened[1:] == [
        ("filing", "50", "overdue", 29),
        ("filing", "51", "overdue", 29),
        ("text_disclosure", None, "overdue", 55),
    ]


async def test_filing_per_party_meets_its_own_clock_and_refuses_strangers() -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    kept, standard = await published(clock)
    clock.advance(days=20)
    filing = {
        "party": "50",
        "authority": "national",
        "filing_number": "备 2026-0001",
        "filed_on": date(2026, 3, 1),
    }
    with pytest.raises(Forbidden):
        await kept.life.record_filing(standard.id, caller=REG51, **filing)  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        await kept.life.record_filing(standard.id, caller=CITY, **filing)  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="not a mandatory environmental"):
        await kept.life.record_filing(
            standard.id, caller=REG50, **{**filing, "authority": "ecology_environment"}
        )  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="future"):
        await kept.life.record_filing(standard.id, caller=REG50, **{**filing, "filed_on": date(2026, 3, 30)})  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await kept.life.record_filing("std-nope", caller=REG50, **filing)  # type: ignore[arg-type]
    assert kept.store.outbox[1:] == [], "refusals change nothing"

    after = await kept.life.record_filing(standard.id, caller=REG50, **filing)  # type: ignore[arg-type]
    assert after.life is not None
    states = {c.name: c.state for c in after.life.clocks}
    assert (states["filing:50"], states["filing:51"]) == ("met", "running")
    assert kept.of(StandardFiled) == [
        {
            **kept.of(StandardFiled)[0],
            "party": "50",
            "filing_number": "备 2026-0001",
            "filed_on": "2026-03-01",
        }
    ]
    assert [(e["clock"], e["happening"], e["days_late"]) for e in kept.of(StandardClockChanged)] == [
        ("filing", "met", -41)
    ]
    with pytest.raises(Conflict, match="already"):
        await kept.life.record_filing(standard.id, caller=REG50, **filing)  # type: ignore[arg-type]


async def test_text_disclosure_is_recorded_once() -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    kept, standard = await published(clock)
    clock.advance(days=3)
    with pytest.raises(Forbidden):
        await kept.life.record_disclosure(
            standard.id, location="https://x", disclosed_on=date(2026, 2, 12), caller=PRINCIPALS["reg-31"]
        )
    after = await kept.life.record_disclosure(
        standard.id, location="https://dbba.sacinfo.org.cn/x", disclosed_on=date(2026, 2, 12), caller=REG51
    )
    assert after.life is not None
    assert after.life.disclosure is not None
    assert len(kept.of(StandardTextDisclosed)) == 1
    with pytest.raises(Conflict):
        await kept.life.record_disclosure(
            standard.id, location="https://y", disclosed_on=date(2026, 2, 13), caller=REG50
        )


async def test_review_needs_every_party_to_agree_and_continue_starts_the_next_review() -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    kept, standard = await published(clock)
    clock.advance(days=365 * 5)
    await kept.life.record_review_conclusion(standard.id, outcome="continue", reason=None, caller=REG50)
    await kept.life.record_review_conclusion(standard.id, outcome="revise", reason="技术更新", caller=REG51)
    assert kept.of(StandardReviewConcluded) == [], "parties disagree: the review stays open"
    after = await kept.life.record_review_conclusion(
        standard.id, outcome="continue", reason="适用", caller=REG51
    )
    assert after.life is not None
    [concluded] = kept.of(StandardReviewConcluded)
    assert concluded["outcome"] == "continue"
    assert [c["party"] for c in concluded["conclusions"]] == ["50", "51"]  # type: ignore[union-attr]
    review = [c for c in after.life.clocks if c.name == "review"]
    assert len(review) == 1
    assert review[0].state == "running"
    assert review[0].starts_on == date(2031, 2, 9)
    assert concluded["next_review_due"] == "2036-02-09"
    assert (after.life.reviews[-1].outcome, after.status) == ("continue", "published")


async def test_review_abolish_withdraws_the_standard_and_stops_its_clocks() -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    kept, standard = await published(clock)
    clock.advance(days=400)
    for caller in (REG50, REG51):
        after = await kept.life.record_review_conclusion(
            standard.id, outcome="abolish", reason="已被国家标准替代", caller=caller
        )
    assert after.status == "abolished"
    assert after.life is not None
    assert {c.state for c in after.life.clocks} <= {"stopped", "met"}
    [withdrawn] = kept.of(StandardWithdrawn)
    assert withdrawn["effective_date"] == "2027-03-17"
    assert "已被国家标准替代" in str(withdrawn["reason"])
    clock.advance(days=3000)
    assert not await fire(kept, standard.id), "an abolished standard's clocks are silent"
    with pytest.raises(Conflict):
        await kept.life.record_filing(
            standard.id,
            party="50",
            authority="national",
            filing_number="x",
            filed_on=date(2026, 3, 1),
            caller=REG50,
        )


async def test_revise_then_the_revision_keeps_the_number_takes_the_new_year_and_supersedes() -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    kept, old = await published(clock)
    assert old.numbers[0].number == "DB50/T 10001—2026"
    clock.advance(days=365 * 4)
    for caller in (REG50, REG51):
        await kept.life.record_review_conclusion(old.id, outcome="revise", reason="修订", caller=caller)
    stored = kept.get(old.id)
    assert stored is not None
    assert stored.life is not None
    assert stored.life.revision_pending
    with pytest.raises(Conflict, match="revise"):
        await kept.life.record_review_conclusion(old.id, outcome="continue", reason=None, caller=REG50)

    clock.advance(days=300)  # the revision project is approved in 2030
    revision = approval("rev1", approved_at=clock()).model_copy(update={"supersedes": old.id})
    await kept.seen(revision)
    event = delivered(revision)
    await kept.publishing.on_final_approval(event)  # type: ignore[arg-type]
    await kept.publishing.on_final_approval(event)  # type: ignore[arg-type]  # a redelivery: no second effect
    new = kept.get("std-rev1")
    assert new is not None
    assert [n.number for n in new.numbers] == ["DB50/T 10001—2030", "DB51/T 10001—2030"]
    [announced] = kept.of(StandardPublished, standard_id="std-rev1")
    assert announced["supersedes"] == old.id
    [superseded] = kept.of(StandardSuperseded)
    assert superseded["standard_id"] == old.id
    assert superseded["superseded_by"] == "std-rev1"
    assert superseded["effective_date"] == str(new.implementation_date)
    gone = kept.get(old.id)
    assert gone is not None
    assert gone.status == "superseded"
    assert await kept.publishing.complete_supersessions() == 0


async def test_a_crash_between_publishing_the_revision_and_superseding_is_finished_later() -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    kept, old = await published(clock)
    clock.advance(days=800)
    original = kept.publishing.supersede_predecessor

    async def crash(_: Standard) -> int:
        raise RuntimeError("killed")

    kept.publishing.supersede_predecessor = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await kept.approve(approval("rev2").model_copy(update={"supersedes": old.id}))
    kept.publishing.supersede_predecessor = original  # type: ignore[method-assign]
    assert kept.of(StandardSuperseded) == []
    assert await kept.publishing.complete_supersessions() == 1
    assert len(kept.of(StandardSuperseded)) == 1
    assert kept.queries.done == {"std-rev2"}, "the repair round no longer looks at it"
    assert await kept.queries.published_revisions(10) == []


async def test_a_revision_with_other_parties_or_of_an_unknown_standard_is_refused() -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    kept, old = await published(clock)
    await kept.approve(
        approval("r3", area="yrd", parties=("31", "32")).model_copy(update={"supersedes": old.id})
    )
    await kept.approve(approval("r4").model_copy(update={"supersedes": "std-none"}))
    assert kept.get("std-r3") is None
    assert kept.get("std-r4") is None
    refused = {r["project_id"]: r for r in kept.of(ApprovalRefused)}
    assert refused["r3"]["rule"] == "revision_parties_differ"
    assert "same area" in refused["r3"]["reason"]
    assert refused["r4"]["rule"] == "revision_target_missing"
    assert "not a standard" in refused["r4"]["reason"]


async def test_a_published_standard_without_clocks_gets_them_from_the_scheduler() -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    kept, standard = await published(clock)
    bare = replace(standard, life=None)
    state = bare.to_dict()
    assert state["clocks_next_at"] == standard.published_at, "picked up at once"
    decided, _ = kept.life.decide_clocks(Standard.from_dict(bare.id, state), clock() + timedelta(minutes=1))
    assert decided.life == standard.life


# Deadlines counted by rule (issue 13): a standard published in December 2026 has its disclosure
# deadline in 2027, which chinesecalendar does not know.
DECEMBER_2026 = datetime(2026, 12, 21, 2, 0, tzinfo=UTC)  # 10:00 on Monday 21 December in China


async def test_a_deadline_into_2027_is_provisional_then_rescheduled_when_the_arrangement_is_loaded() -> None:
    calendar = WorkingDayCalendar()
    clock = MovableClock(DECEMBER_2026)
    kept = steward(clock, calendar=calendar)
    await kept.seen(approval("p1"))
    await kept.publishing.on_final_approval(delivered(approval("p1")))  # type: ignore[arg-type]
    standard = kept.get("std-p1")
    assert standard is not None
    assert standard.life is not None
    disclosure = standard.life.clock("text_disclosure")
    assert disclosure is not None
    # 20 working days: 22–31 December (8), New Year's Day off by rule, 4–19 January 2027.
    assert (disclosure.due_on, disclosure.provisional, disclosure.problem) == (date(2027, 1, 19), True, None)
    assert ClockView.of(disclosure, date(2026, 12, 21)).provisional
    assert not standard.life.clock("filing:50").provisional  # type: ignore[union-attr]

    clock.advance(days=1)
    await fire(kept, standard.id)
    assert kept.events(StandardClockRescheduled) == [], "the same provisional date: nothing said"

    calendar.announce([invented_arrangement_2027()])
    clock.advance(days=1)
    assert await fire(kept, standard.id)
    [rescheduled] = kept.of(StandardClockRescheduled)
    assert {k: rescheduled[k] for k in ("clock", "previous_due_on", "due_on", "provisional")} == {
        "clock": "text_disclosure",
        "previous_due_on": "2027-01-19",
        "due_on": "2027-01-19",
        "provisional": False,
    }
    stored = kept.get(standard.id)
    assert stored is not None
    assert stored.life is not None
    assert stored.life.clock("text_disclosure").provisional is False  # type: ignore[union-attr]

    clock.advance(days=22)  # 14 January: five days before the deadline
    assert await fire(kept, standard.id)
    [soon] = kept.of(StandardClockChanged, clock="text_disclosure")
    assert (soon["happening"], soon["provisional"]) == ("due_soon", False)


async def test_a_clock_stored_blank_for_2027_gets_a_provisional_date_and_says_so() -> None:
    clock = MovableClock(DECEMBER_2026)
    kept, standard = await published(clock)
    assert standard.life is not None
    # As stored before issue 13: the disclosure deadline unknown, retried daily.
    blank = standard.life.clock("text_disclosure")
    assert blank is not None
    blank = blank.model_copy(
        update={
            "due_on": None,
            "provisional": False,
            "problem": "does not know 2027",
            "retry_on": date(2026, 12, 22),
        }
    )
    life = standard.life.model_copy(
        update={"clocks": tuple(blank if c.name == blank.name else c for c in standard.life.clocks)}
    )
    await kept.standards.change(standard.id, lambda s, _: (replace(s, life=life), []))
    clock.advance(days=1)
    assert await fire(kept, standard.id)
    [rescheduled] = kept.of(StandardClockRescheduled)
    assert (rescheduled["previous_due_on"], rescheduled["due_on"], rescheduled["provisional"]) == (
        None, "2027-01-19", True,
    )  # fmt: skip
