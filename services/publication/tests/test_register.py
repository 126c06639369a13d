"""The register can be trusted (issue 13), over storage in memory: no designation twice, same-year
revisions wait for 1 January, withdrawal only of numbers not yet published, revisions only of
standards in force, every final approval published or refused (never lost), approvals honoured only
for projects seen proposed and finally approved, dates that can be true, web-only text locations."""

from datetime import UTC, date, datetime, timedelta

import pytest

from regstd.contracts.intake import BallotDecided, PartyPosition
from regstd.contracts.publication import (
    ApprovalRefused,
    NumberNotIssued,
    StandardPublished,
    StandardSuperseded,
)
from regstd.kernel.errors import Conflict, Invalid
from regstd.kernel.locations import is_web_location
from regstd.publication.app.submissions import SubmissionCases
from regstd.publication.domain.feed import atom_xml, newest_first, page_of
from regstd.publication.domain.numbering import Withdrawal
from regstd.publication.domain.standard import Standard, Text
from regstd.runtime.testing import MovableClock, approved_project, delivered

from .conftest import PRINCIPALS, approval, submission
from .memory import Memory, memory

SPRING = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 on 10 March 2026 in China
REG50, REG51 = PRINCIPALS["reg-50"], PRINCIPALS["reg-51"]


async def published(clock: MovableClock, project: str = "p1", **kw: object) -> tuple[Memory, Standard]:
    kept = memory(clock)
    await kept.approve(approval(project, approved_at=clock(), **kw))  # type: ignore[arg-type]
    stored = kept.get(f"std-{project}")
    assert stored is not None
    assert stored.status == "published"
    return kept, stored


def revision_of(old: Standard, project: str, at: datetime, **kw: object) -> object:
    return approval(project, approved_at=at, **kw).model_copy(update={"supersedes": old.id})  # type: ignore[arg-type]


def refusals(kept: Memory) -> dict[str, dict[str, object]]:
    return {str(r["project_id"]): r for r in kept.of(ApprovalRefused)}


# -- same-year revision and designations ------------------------------------------------------------


async def test_a_revision_approved_in_its_predecessors_year_waits_for_1_january() -> None:
    # Issue 13: it was published as a second DB50/T 10001—2026, "superseded by" itself.
    clock = MovableClock(SPRING)
    kept, old = await published(clock)
    clock.advance(days=200)  # 26 September 2026
    await kept.approve(revision_of(old, "rev", clock()))  # type: ignore[arg-type]

    waiting = kept.get("std-rev")
    assert waiting is not None
    assert (waiting.status, waiting.publish_due_on) == ("numbered", date(2027, 1, 1))
    assert [n.number for n in waiting.numbers] == ["DB50/T 10001—2027", "DB51/T 10001—2027"]
    assert kept.of(StandardPublished, standard_id="std-rev") == []
    assert kept.of(StandardSuperseded) == []
    assert await kept.publishing.publish_due() == 0

    clock.start = datetime(2026, 12, 31, 16, 0, 1, tzinfo=UTC)  # 00:00:01 on 1 January 2027 in China
    clock.shift = timedelta()
    assert await kept.publishing.publish_due() == 1
    assert await kept.publishing.complete_supersessions() == 1
    new = kept.get("std-rev")
    assert new is not None
    assert (new.status, new.publication_date) == ("published", date(2027, 1, 1))
    assert [n.number for n in new.numbers] == ["DB50/T 10001—2027", "DB51/T 10001—2027"]
    [superseded] = kept.of(StandardSuperseded)
    assert superseded["numbers"][0]["number"] == "DB50/T 10001—2026"
    assert superseded["superseded_by_numbers"][0]["number"] == "DB50/T 10001—2027"
    designations = [d for s in kept.all() for d in s.designations]
    assert len(designations) == len(set(designations)), "no designation on two standards"


async def test_a_second_revision_under_the_same_designation_is_refused() -> None:
    clock = MovableClock(SPRING)
    kept, old = await published(clock)
    clock.advance(days=400)  # 2027: a revision is published at once
    await kept.approve(revision_of(old, "rev-a", clock()))  # type: ignore[arg-type]
    await kept.approve(revision_of(old, "rev-b", clock()))  # type: ignore[arg-type]
    assert kept.get("std-rev-b") is None
    refused = refusals(kept)["rev-b"]
    # Its target is superseded by then; had both waited, the designation would have refused it.
    assert refused["rule"] in ("revision_target_not_in_force", "designation_taken")


async def test_two_revisions_waiting_for_the_same_new_year_the_second_is_refused_designation_taken() -> None:
    clock = MovableClock(SPRING)
    kept, old = await published(clock)
    clock.advance(days=100)
    await kept.approve(revision_of(old, "rev-a", clock()))  # type: ignore[arg-type]
    await kept.approve(revision_of(old, "rev-b", clock()))  # type: ignore[arg-type]
    assert kept.get("std-rev-b") is None
    refused = refusals(kept)["rev-b"]
    assert refused["rule"] == "designation_taken"
    assert "DB50/T 10001—2027 is already the designation of standard std-rev-a" in str(refused["reason"])


async def test_a_submission_with_a_designation_in_the_register_is_refused_naming_its_holder() -> None:
    kept = memory(MovableClock(SPRING))
    submissions = SubmissionCases(
        kept.standards, kept.queries, kept.reference, designations=kept.designations
    )
    kept.designations.holders["DB51/T 3125—2026"] = "std-elsewhere"  # claimed by another standard
    with pytest.raises(
        Conflict, match="DB51/T 3125—2026 is already the designation of standard std-elsewhere"
    ):
        await submissions.submit(submission("DB51/T 3125-2026"), REG51)  # the other dash form
    assert kept.store.documents == {}


# -- withdrawal ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["published", "superseded", "abolished"])
async def test_only_a_numbered_standard_is_withdrawn(ending: str) -> None:
    # Issue 13: a superseded or abolished standard was withdrawn and its published number un-issued.
    clock = MovableClock(SPRING)
    kept, old = await published(clock)
    if ending == "superseded":
        clock.advance(days=400)
        await kept.approve(revision_of(old, "rev", clock()))  # type: ignore[arg-type]
    if ending == "abolished":
        clock.advance(days=100)
        for regulator in (REG50, REG51):
            await kept.life.record_review_conclusion(
                old.id, outcome="abolish", reason="过时", caller=regulator
            )
    assert (stored := kept.get(old.id)) is not None
    assert stored.status == ending
    with pytest.raises(Conflict, match="only a numbered, unpublished standard can be withdrawn"):
        await kept.publishing.withdraw(old.id, "mistake", REG50)
    assert kept.events(NumberNotIssued) == []
    assert [a.status for a in kept.allocator.allocations.values()] == ["assigned"]
    # Defence in depth: the allocator itself refuses to mark a published number not issued.
    withdrawal = Withdrawal("mistake", REG50.actor(), clock())
    assert not await kept.allocator.mark_not_issued("chengyu", old.sequence, withdrawal)
    assert [a.status for a in kept.allocator.allocations.values()] == ["assigned"]


# -- revision targets -------------------------------------------------------------------------------


async def test_a_revision_of_an_abolished_or_superseded_standard_is_refused_at_approval() -> None:
    clock = MovableClock(SPRING)
    kept, old = await published(clock)
    clock.advance(days=100)
    for regulator in (REG50, REG51):
        await kept.life.record_review_conclusion(old.id, outcome="abolish", reason="过时", caller=regulator)
    await kept.approve(revision_of(old, "rev", clock()))  # type: ignore[arg-type]
    assert kept.get("std-rev") is None
    refused = refusals(kept)["rev"]
    assert refused["rule"] == "revision_target_not_in_force"
    assert "abolished" in str(refused["reason"])
    assert kept.refused == ["revision_target_not_in_force"]


# -- every approval published or refused -------------------------------------------------------------


async def test_an_approval_for_a_project_never_proposed_is_refused_not_numbered() -> None:
    # Issue 13: a well-formed approval for an unknown project id was published with a real number.
    kept = memory(MovableClock(SPRING))
    forged = approval("ghost")
    await kept.publishing.on_final_approval(delivered(forged))
    await kept.publishing.on_final_approval(delivered(forged))  # again, another event id
    assert kept.store.documents == {}
    assert kept.allocator.allocations == {}
    [refused] = kept.of(ApprovalRefused)
    assert (refused["rule"], refused["standard_id"]) == ("unknown_project", "std-ghost")
    assert kept.refused == ["unknown_project"]


async def test_an_approval_whose_final_ballot_was_not_seen_to_pass_is_refused() -> None:
    kept = memory(MovableClock(SPRING))
    a = approval("p1")
    proposed, approved_ballot, _, _ = approved_project(a)
    failed = BallotDecided(
        project_id="p1",
        stage="final_approval",
        outcome="failed",
        positions=[PartyPosition(party="50", position="reject")],
        decided_at=a.approved_at,
    )
    await kept.intake_sent(proposed, approved_ballot, failed, a)
    assert kept.store.documents == {}
    assert refusals(kept)["p1"]["rule"] == "not_finally_approved"


async def test_an_approval_that_contradicts_its_proposal_or_links_no_web_text_is_refused() -> None:
    kept = memory(MovableClock(SPRING))
    a = approval("p1")
    await kept.seen(a)
    await kept.publishing.on_final_approval(delivered(a.model_copy(update={"kind": "mandatory"})))
    b = approval("p2")
    b = b.model_copy(update={"text": b.text.model_copy(update={"location": "javascript:alert(1)"})})
    await kept.approve(b)
    assert kept.store.documents == {}
    refused = refusals(kept)
    assert refused["p1"]["rule"] == refused["p2"]["rule"] == "invalid_approval"
    assert "does not match its proposal: kind" in str(refused["p1"]["reason"])
    assert "javascript:" in str(refused["p2"]["reason"])


async def test_refusals_show_in_the_areas_atom_feed() -> None:
    kept = memory(MovableClock(SPRING))
    await kept.approve(approval("p1", area="yangtze", parties=("50", "51")))
    refusal = kept.refusal("std-p1")
    assert refusal is not None
    entries = newest_first([], [refusal])
    page = page_of(entries, feed_key="area/yangtze", title="t", subtitle="s", page=1, limit=10, now=SPRING)
    xml = atom_xml(
        page,
        self_url="https://p/feeds/yangtze.atom",
        page_url=lambda n: f"https://p/feeds/yangtze.atom?page={n}",
        alternate_url="https://p/standards?area=yangtze",
        standard_url=lambda i: f"https://p/standards/{i}",
    ).decode()
    assert "Approval refused: project p1" in xml
    assert "no_joint_block" in xml
    assert "<content" in xml


# -- dates and locations -----------------------------------------------------------------------------


async def test_a_standard_is_in_force_only_from_its_implementation_date() -> None:
    # Issue 13: a standard whose implementation date was months away was labelled in force.
    clock = MovableClock(SPRING)
    _, standard = await published(clock)
    assert standard.implementation_date == date(2026, 6, 8)
    assert standard.standing(date(2026, 6, 7)) == "not_yet_in_force"
    assert not standard.in_force_on(date(2026, 6, 7))
    assert standard.standing(date(2026, 6, 8)) == "in_force"


async def test_a_review_concludes_only_on_a_standard_in_force() -> None:
    clock = MovableClock(SPRING)
    kept, standard = await published(clock)
    with pytest.raises(Conflict, match="not in force until 2026-06-08"):
        await kept.life.record_review_conclusion(standard.id, outcome="continue", reason=None, caller=REG50)


async def test_a_disclosure_location_must_be_a_web_url() -> None:
    clock = MovableClock(SPRING)
    kept, standard = await published(clock)
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "data:text/html,x", "https://", "ftp://x/y"):
        with pytest.raises(Invalid, match="location must be an https: or http: URL"):
            await kept.life.record_disclosure(
                standard.id, location=bad, disclosed_on=date(2026, 3, 10), caller=REG50
            )
    assert is_web_location("https://std.example/a b") is False
    assert is_web_location("HTTP://std.example/a")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"publication_date": date(2026, 3, 11)}, "publication_date 2026-03-11 lies in the future"),
        ({"implementation_date": date(2028, 3, 2)}, "more than 730 days after"),
        ({"text": Text("javascript:alert(1)", "ab" * 32)}, "text.location must be an https: or http: URL"),
    ],
)
async def test_submissions_with_dates_or_locations_that_cannot_be_true_are_refused(
    changes: dict[str, object], message: str
) -> None:
    # Issue 13: a submission "already published" on a future date was accepted.
    kept = memory(MovableClock(SPRING))
    submissions = SubmissionCases(
        kept.standards, kept.queries, kept.reference, designations=kept.designations
    )
    with pytest.raises(Invalid, match=message):
        await submissions.submit(submission(**changes), REG51)
    assert kept.store.documents == {}
    assert kept.designations.holders == {}
