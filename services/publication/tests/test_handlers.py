"""The use cases with fakes for storage: numbering, publishing at once or when due, withdrawal."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from regstd.contracts.publication import NumberNotIssued, StandardPublished
from regstd.contracts.reference import load_reference
from regstd.kernel.errors import Conflict, Forbidden, NotFound
from regstd.publication.domain import Standard, Withdrawal, allocation_id, next_sequence
from regstd.publication.handlers import Policy, Publication
from regstd.publication.numbering import Allocation
from regstd.publication.standards import Stored
from regstd.runtime.consumer import PermanentError
from regstd.runtime.events import PendingEvent
from regstd.runtime.store import Loaded

from .conftest import PRINCIPALS, MovableClock, approval, delivery


class FakeStandards:
    """Standards in memory, with the versioned semantics of the aggregate store."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[Standard, int, frozenset[str]]] = {}
        self.outbox: list[PendingEvent] = []
        self.recorded: set[str] = set()

    async def get(self, standard_id: str) -> Stored | None:
        if standard_id not in self.docs:
            return None
        standard, version, processed = self.docs[standard_id]
        return Stored(standard, Loaded(standard_id, version, standard.to_dict(), processed))

    async def add(self, standard: Standard, events: Sequence[PendingEvent], consumed: str | None) -> bool:
        if standard.id in self.docs:
            return False
        self.docs[standard.id] = (standard, 1, frozenset([consumed] if consumed else []))
        self.outbox += events
        return True

    async def replace(self, stored: Stored, standard: Standard, events: Sequence[PendingEvent]) -> bool:
        _, version, processed = self.docs[standard.id]
        if version != stored.loaded.version:
            return False
        self.docs[standard.id] = (standard, version + 1, processed)
        self.outbox += events
        return True

    async def due(self, now: datetime, limit: int) -> list[str]:
        return [i for i, (s, _, _) in self.docs.items() if s.is_due(now)][:limit]

    async def withdrawn_unrecorded(self, limit: int) -> list[Standard]:
        return [s for i, (s, _, _) in self.docs.items() if s.status == "withdrawn" and i not in self.recorded]

    async def allocation_recorded(self, standard_id: str) -> None:
        self.recorded.add(standard_id)

    def events(self, kind: type) -> list[PendingEvent]:
        return [e for e in self.outbox if e.type == kind.event_type]  # type: ignore[attr-defined]


class FakeAllocator:
    """Allocations in memory, with the same rules as the collection."""

    def __init__(self) -> None:
        self.allocations: dict[str, Allocation] = {}

    async def allocate(
        self, *, area: str, block_first: int, project_id: str, standard_id: str, at: datetime
    ) -> Allocation:
        for existing in self.allocations.values():
            if existing.project_id == project_id:
                return existing
        taken = [a.sequence for a in self.allocations.values() if a.area == area]
        sequence = next_sequence(max(taken, default=None), block_first)
        made = Allocation(area, sequence, project_id, standard_id, "assigned", at)
        self.allocations[allocation_id(area, sequence)] = made
        return made

    async def mark_not_issued(self, area: str, sequence: int, withdrawal: Withdrawal) -> bool:
        key = allocation_id(area, sequence)
        if self.allocations[key].status != "assigned":
            return False
        self.allocations[key] = replace(
            self.allocations[key],
            status="not_issued",
            reason=withdrawal.reason,
            by=withdrawal.by,
            not_issued_at=withdrawal.at,
        )
        return True


NEW_YEARS_EVE = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)


def service(
    delay_days: int = 0, clock: MovableClock | None = None
) -> tuple[Publication, FakeStandards, FakeAllocator]:
    standards, allocator = FakeStandards(), FakeAllocator()
    publication = Publication(
        standards,
        allocator,
        load_reference(),
        Policy(implementation_offset_days=90, publication_delay_days=delay_days),
        clock or MovableClock(NEW_YEARS_EVE),
    )
    return publication, standards, allocator


async def test_a_final_approval_is_numbered_and_published_at_once() -> None:
    publication, standards, allocator = service()
    await publication.on_final_approval(delivery(approval("p1", approved_at=NEW_YEARS_EVE)))

    stored = await standards.get("std-p1")
    assert stored is not None
    assert stored.standard.status == "published"
    assert [n.number for n in stored.standard.numbers] == ["DB50/T 10001—2027", "DB51/T 10001—2027"]
    assert stored.standard.publication_date == date(2027, 1, 1)
    [event] = standards.events(StandardPublished)
    assert event.subject == "std-p1"
    assert event.data["numbers"][1] == {"party": "51", "number": "DB51/T 10001—2027"}
    assert [a.sequence for a in allocator.allocations.values()] == [10001]


async def test_a_redelivered_or_repeated_approval_has_no_second_effect() -> None:
    publication, standards, allocator = service()
    first = delivery(approval("p1"))
    await publication.on_final_approval(first)
    await publication.on_final_approval(first)  # the same event again
    await publication.on_final_approval(delivery(approval("p1")))  # the same approval, a new event id
    await publication.on_final_approval(delivery(approval("p2")))

    assert len(standards.events(StandardPublished)) == 2
    assert sorted(a.sequence for a in allocator.allocations.values()) == [10001, 10002]


async def test_a_crash_after_allocating_reuses_the_number_on_redelivery() -> None:
    publication, standards, allocator = service()
    await allocator.allocate(
        area="chengyu", block_first=10001, project_id="p1", standard_id="std-p1", at=NEW_YEARS_EVE
    )  # ...and the instance died before storing the standard
    await publication.on_final_approval(delivery(approval("p1")))
    stored = await standards.get("std-p1")
    assert stored is not None
    assert stored.standard.sequence == 10001
    assert len(allocator.allocations) == 1


async def test_an_approval_that_can_never_be_numbered_is_dead_lettered_without_spending_a_number() -> None:
    publication, standards, allocator = service()
    with pytest.raises(PermanentError, match="no joint number block"):
        await publication.on_final_approval(delivery(approval("p1", area="yangtze")))
    assert allocator.allocations == {}
    assert standards.docs == {}


async def test_with_a_delay_the_standard_waits_numbered_and_is_published_on_its_day() -> None:
    clock = MovableClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    publication, standards, _ = service(delay_days=2, clock=clock)
    await publication.on_final_approval(delivery(approval("p1")))
    stored = await standards.get("std-p1")
    assert stored is not None
    assert (stored.standard.status, stored.standard.publish_due_on) == ("numbered", date(2026, 11, 24))

    assert await publication.publish_due() == 0
    clock.advance(days=1, hours=21)  # 2026-11-23T23:00Z is 2026-11-24 07:00 in China
    assert await publication.publish_due() == 1
    assert await publication.publish_due() == 0
    stored = await standards.get("std-p1")
    assert stored is not None
    assert stored.standard.status == "published"
    assert stored.standard.publication_date == date(2026, 11, 24)
    assert stored.standard.implementation_date == date(2027, 2, 22)
    assert len(standards.events(StandardPublished)) == 1


async def test_a_partys_regulator_withdraws_a_numbered_standard_and_its_number_is_not_issued() -> None:
    publication, standards, allocator = service(delay_days=5)
    await publication.on_final_approval(delivery(approval("p1")))

    for who in ("city-chengdu", "ops", "reg-31"):
        with pytest.raises(Forbidden):
            await publication.withdraw("std-p1", "no", PRINCIPALS[who])
    with pytest.raises(NotFound):
        await publication.withdraw("std-nope", "no", PRINCIPALS["reg-50"])
    assert allocator.allocations["chengyu:10001"].status == "assigned"

    withdrawn = await publication.withdraw("std-p1", "merged into another project", PRINCIPALS["reg-51"])
    assert withdrawn.status == "withdrawn"
    allocation = allocator.allocations["chengyu:10001"]
    assert (allocation.status, allocation.reason) == ("not_issued", "merged into another project")
    assert allocation.by is not None
    assert allocation.by.code == "51"
    [event] = standards.events(NumberNotIssued)
    assert event.data["sequence"] == 10001

    with pytest.raises(Conflict, match="already withdrawn"):
        await publication.withdraw("std-p1", "again", PRINCIPALS["reg-50"])
    await publication.on_final_approval(delivery(approval("p2")))
    stored = await standards.get("std-p2")
    assert stored is not None
    assert stored.standard.sequence == 10002, "the withdrawn number is not reused"


async def test_a_withdrawal_interrupted_before_marking_the_allocation_is_finished_by_the_loop() -> None:
    publication, standards, allocator = service(delay_days=5)
    await publication.on_final_approval(delivery(approval("p1")))
    stored = await standards.get("std-p1")
    assert stored is not None
    withdrawn = stored.standard.withdraw("typo", PRINCIPALS["reg-50"].actor(), NEW_YEARS_EVE)
    await standards.replace(stored, withdrawn, [])  # the instance died right after this write
    assert allocator.allocations["chengyu:10001"].status == "assigned"

    assert await publication.record_withdrawals() == 1
    assert allocator.allocations["chengyu:10001"].status == "not_issued"
    assert await publication.record_withdrawals() == 0


async def test_a_published_standard_cannot_be_withdrawn() -> None:
    publication, standards, allocator = service()
    await publication.on_final_approval(delivery(approval("p1")))
    with pytest.raises(Conflict, match="only a numbered, unpublished standard"):
        await publication.withdraw("std-p1", "late", PRINCIPALS["reg-50"])
    assert allocator.allocations["chengyu:10001"].status == "assigned"
    assert standards.events(NumberNotIssued) == []
