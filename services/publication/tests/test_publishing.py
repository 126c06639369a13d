"""The use cases of numbering and publishing over storage in memory (the real unit of work):
numbering, publishing at once or when due, withdrawal."""

from datetime import UTC, date, datetime
from typing import Any

import pytest

from regstd.contracts.publication import ApprovalRefused, NumberNotIssued, StandardPublished
from regstd.kernel.errors import Conflict, Forbidden, NotFound
from regstd.publication.app.publishing import PublishingCases
from regstd.runtime.store import VersionConflict
from regstd.runtime.testing import MovableClock, delivered

from .conftest import PRINCIPALS, approval
from .memory import FakeAllocator, Memory, memory

NEW_YEARS_EVE = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)


def service(
    delay_days: int = 0, clock: MovableClock | None = None
) -> tuple[PublishingCases, Memory, FakeAllocator]:
    made = memory(clock or MovableClock(NEW_YEARS_EVE), delay_days=delay_days)
    return made.publishing, made, made.allocator


async def test_a_final_approval_is_numbered_and_published_at_once() -> None:
    _publishing, kept, allocator = service()
    await kept.approve(approval("p1", approved_at=NEW_YEARS_EVE))

    stored = kept.get("std-p1")
    assert stored is not None
    assert stored.status == "published"
    assert [n.number for n in stored.numbers] == ["DB50/T 10001—2027", "DB51/T 10001—2027"]
    assert stored.publication_date == date(2027, 1, 1)
    [event] = kept.events(StandardPublished)
    assert event.subject == "std-p1"
    assert event.data["numbers"][1] == {"party": "51", "number": "DB51/T 10001—2027"}
    assert [a.sequence for a in allocator.allocations.values()] == [10001]


async def test_a_redelivered_or_repeated_approval_has_no_second_effect() -> None:
    publishing, kept, allocator = service()
    await kept.seen(approval("p1"))
    first = delivered(approval("p1"))
    await publishing.on_final_approval(first)
    await publishing.on_final_approval(first)  # the same event again
    await kept.approve(approval("p1"))  # the same approval, a new event id
    await kept.approve(approval("p2"))

    assert len(kept.events(StandardPublished)) == 2
    assert sorted(a.sequence for a in allocator.allocations.values()) == [10001, 10002]


async def test_a_crash_after_allocating_reuses_the_number_on_redelivery() -> None:
    _publishing, kept, allocator = service()
    await allocator.allocate(
        area="chengyu", block_first=10001, project_id="p1", standard_id="std-p1", at=NEW_YEARS_EVE
    )  # ...and the instance died before storing the standard
    await kept.approve(approval("p1"))
    stored = kept.get("std-p1")
    assert stored is not None
    assert stored.sequence == 10001
    assert len(allocator.allocations) == 1


async def test_an_approval_in_an_area_without_a_block_is_refused_visibly_without_spending_a_number() -> None:
    # Issue 13: a yangtze "joint" project passed every ballot, then was dead-lettered silently.
    publishing, kept, allocator = service()
    yangtze = approval("p1", area="yangtze", parties=("50", "51"))
    await kept.approve(yangtze)
    await publishing.on_final_approval(delivered(yangtze))  # a redelivery: refused once only

    assert allocator.allocations == {}
    assert kept.store.documents == {}
    [refused] = kept.of(ApprovalRefused)
    assert refused["standard_id"] == "std-p1"
    assert (refused["project_id"], refused["area"], refused["rule"]) == ("p1", "yangtze", "no_joint_block")
    assert "no joint number block" in refused["reason"]
    assert kept.refused == ["no_joint_block"], "counted once in regstd_approvals_refused_total"
    stored = kept.refusal("std-p1")
    assert stored is not None
    assert stored.rule == "no_joint_block"


async def test_with_a_delay_the_standard_waits_numbered_and_is_published_on_its_day() -> None:
    clock = MovableClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    publishing, kept, _ = service(delay_days=2, clock=clock)
    await kept.approve(approval("p1"))
    stored = kept.get("std-p1")
    assert stored is not None
    assert (stored.status, stored.publish_due_on) == ("numbered", date(2026, 11, 24))

    assert await publishing.publish_due() == 0
    clock.advance(days=1, hours=21)  # 2026-11-23T23:00Z is 2026-11-24 07:00 in China
    assert await publishing.publish_due() == 1
    assert await publishing.publish_due() == 0
    stored = kept.get("std-p1")
    assert stored is not None
    assert stored.status == "published"
    assert stored.publication_date == date(2026, 11, 24)
    assert stored.implementation_date == date(2027, 2, 22)
    assert len(kept.events(StandardPublished)) == 1


async def test_a_partys_regulator_withdraws_a_numbered_standard_and_its_number_is_not_issued() -> None:
    publishing, kept, allocator = service(delay_days=5)
    await kept.approve(approval("p1"))

    for who in ("city-chengdu", "ops", "reg-31"):
        with pytest.raises(Forbidden):
            await publishing.withdraw("std-p1", "no", PRINCIPALS[who])
    with pytest.raises(NotFound):
        await publishing.withdraw("std-nope", "no", PRINCIPALS["reg-50"])
    assert allocator.allocations["chengyu:10001"].status == "assigned"

    withdrawn = await publishing.withdraw("std-p1", "merged into another project", PRINCIPALS["reg-51"])
    assert withdrawn.status == "withdrawn"
    allocation = allocator.allocations["chengyu:10001"]
    assert (allocation.status, allocation.reason) == ("not_issued", "merged into another project")
    assert allocation.by is not None
    assert allocation.by.code == "51"
    [event] = kept.events(NumberNotIssued)
    assert event.data["sequence"] == 10001

    with pytest.raises(Conflict, match="already withdrawn"):
        await publishing.withdraw("std-p1", "again", PRINCIPALS["reg-50"])
    await kept.approve(approval("p2"))
    stored = kept.get("std-p2")
    assert stored is not None
    assert stored.sequence == 10002, "the withdrawn number is not reused"


async def test_a_withdrawal_interrupted_before_marking_the_allocation_is_finished_by_the_loop() -> None:
    publishing, kept, allocator = service(delay_days=5)
    await kept.approve(approval("p1"))
    actor = PRINCIPALS["reg-50"].actor()
    # the instance died right after this write
    await kept.standards.change("std-p1", lambda s, _: (s.withdraw("typo", actor, NEW_YEARS_EVE), []))
    assert allocator.allocations["chengyu:10001"].status == "assigned"

    assert await publishing.record_withdrawals() == 1
    assert allocator.allocations["chengyu:10001"].status == "not_issued"
    assert await publishing.record_withdrawals() == 0


async def test_a_published_standard_cannot_be_withdrawn() -> None:
    publishing, kept, allocator = service()
    await kept.approve(approval("p1"))
    with pytest.raises(Conflict, match="only a numbered, unpublished standard"):
        await publishing.withdraw("std-p1", "late", PRINCIPALS["reg-50"])
    assert allocator.allocations["chengyu:10001"].status == "assigned"
    assert kept.events(NumberNotIssued) == []


async def test_a_withdrawal_racing_a_publication_is_decided_again_on_what_was_stored() -> None:
    publishing, kept, allocator = service(delay_days=5)
    await kept.approve(approval("p1"))
    save = kept.store.save

    async def published_meanwhile(aggregate_id: str, state: Any, **kw: Any) -> int:
        kept.store.save = save  # type: ignore[method-assign]
        # another instance publishes the standard between this load and this save
        await kept.standards.change(aggregate_id, lambda s, now: (s.publish(now, 90), []))
        return await save(aggregate_id, state, **kw)

    kept.store.save = published_meanwhile  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="only a numbered, unpublished standard"):
        await publishing.withdraw("std-p1", "late", PRINCIPALS["reg-50"])
    stored = kept.get("std-p1")
    assert stored is not None
    assert stored.status == "published"
    assert allocator.allocations["chengyu:10001"].status == "assigned"
    assert kept.events(NumberNotIssued) == []


async def test_a_standard_that_keeps_changing_is_refused_with_a_conflict_after_the_attempts() -> None:
    publishing, kept, _ = service(delay_days=5)
    await kept.approve(approval("p1"))

    async def always_stale(aggregate_id: str, state: Any, **kw: Any) -> int:
        raise VersionConflict(f"aggregate {aggregate_id} changed")

    kept.store.save = always_stale  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="kept changing"):
        await publishing.withdraw("std-p1", "typo", PRINCIPALS["reg-50"])
