"""Publication's use cases over storage in memory: the runtime's `MemoryAggregateStore` under the real
unit of work and codec, with thin fakes of the ports (the rounds' queries, the block allocator, who
holds a number) reading the same documents."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from regstd.contracts.envelope import EventModel
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.reference import Reference, load_reference
from regstd.kernel.time import Now
from regstd.publication.adapters.approvals import PROJECTS, REFUSALS
from regstd.publication.adapters.standards import CODEC, standard_of
from regstd.publication.app.life import LifeCases
from regstd.publication.app.projects import ProjectRecords
from regstd.publication.app.publishing import PublishingCases
from regstd.publication.domain.approval import ProjectRecord, Refusal
from regstd.publication.domain.life import LifePolicy
from regstd.publication.domain.numbering import Allocation, Withdrawal, allocation_id, next_sequence
from regstd.publication.domain.standard import Policy, Standard
from regstd.runtime.events import PendingEvent
from regstd.runtime.testing import MemoryAggregateStore, approved_project
from regstd.runtime.unit_of_work import UnitOfWork

from .conftest import hand_over


class MemoryQueries:
    """The queries of the background rounds over the documents in memory, and their markers."""

    def __init__(self, store: MemoryAggregateStore) -> None:
        self.store = store
        self.recorded: set[str] = set()  # allocation_recorded
        self.done: set[str] = set()  # predecessor_superseded

    def all(self) -> list[Standard]:
        return [standard_of(i, state) for i, state in self.store.states().items()]

    async def due(self, now: datetime, limit: int) -> list[str]:
        return [s.id for s in self.all() if s.is_due(now)][:limit]

    async def withdrawn_unrecorded(self, limit: int) -> list[Standard]:
        return [s for s in self.all() if s.status == "withdrawn" and s.id not in self.recorded][:limit]

    async def allocation_recorded(self, standard_id: str) -> None:
        self.recorded.add(standard_id)

    async def published_revisions(self, limit: int) -> list[Standard]:
        return [s for s in self.all() if s.status == "published" and s.supersedes and s.id not in self.done][
            :limit
        ]

    async def predecessor_superseded(self, standard_id: str) -> None:
        self.done.add(standard_id)

    async def holder(self, number: str) -> str | None:
        """The id of the standard carrying a number, as the catalogue answers."""
        return next((s.id for s in self.all() if number in {n.number for n in s.numbers}), None)


class FakeAllocator:
    """Allocations in memory, with the same rules as the collection (and, given the standards'
    store, the same refusal to mark a number not issued whose standard is not withdrawn)."""

    def __init__(self, standards: MemoryAggregateStore | None = None) -> None:
        self.allocations: dict[str, Allocation] = {}
        self.standards = standards

    async def for_project(self, project_id: str) -> Allocation | None:
        return next((a for a in self.allocations.values() if a.project_id == project_id), None)

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
        if self.standards is not None:
            state = self.standards.states().get(self.allocations[key].standard_id)
            if state is not None and state["status"] != "withdrawn":
                return False
        self.allocations[key] = replace(
            self.allocations[key],
            status="not_issued",
            reason=withdrawal.reason,
            by=withdrawal.by,
            not_issued_at=withdrawal.at,
        )
        return True


class MemoryDesignations:
    """The designation registry in memory: one holder per designation, claimed once."""

    def __init__(self) -> None:
        self.holders: dict[str, str] = {}

    async def claim(self, designations: Sequence[str], standard_id: str) -> tuple[str, str] | None:
        taken = next(
            ((d, self.holders[d]) for d in designations if self.holders.get(d, standard_id) != standard_id),
            None,
        )
        if taken is None:
            self.holders.update(dict.fromkeys(designations, standard_id))
        return taken

    async def holder(self, designation: str) -> str | None:
        return self.holders.get(designation)


@dataclass
class Memory:
    """The service's use cases and what they stored."""

    clock: Now
    policy: Policy = field(default_factory=Policy)
    reference: Reference = field(default_factory=load_reference)
    store: MemoryAggregateStore = field(default_factory=MemoryAggregateStore)
    projects_store: MemoryAggregateStore = field(default_factory=MemoryAggregateStore)
    refusals_store: MemoryAggregateStore = field(default_factory=MemoryAggregateStore)
    designations: MemoryDesignations = field(default_factory=MemoryDesignations)

    def __post_init__(self) -> None:
        self.allocator = FakeAllocator(self.store)
        self.standards = UnitOfWork[Standard](self.store, CODEC, kind="standard", clock=self.clock)
        self.queries = MemoryQueries(self.store)
        self.projects = ProjectRecords(
            UnitOfWork[ProjectRecord](self.projects_store, PROJECTS, kind="project", clock=self.clock)
        )
        self.refusals = UnitOfWork[Refusal](self.refusals_store, REFUSALS, kind="refusal", clock=self.clock)
        self.refused: list[str] = []  # the metric: one rule per refusal counted
        self.publishing = PublishingCases(
            self.standards,
            self.queries,
            self.allocator,
            self.reference,
            self.policy,
            projects=self.projects.projects,
            refusals=self.refusals,
            designations=self.designations,
            holders=self.queries,
            on_refused=self.refused.append,
        )
        self.life = LifeCases(self.standards, self.policy.life)

    async def intake_sent(self, *events: EventModel) -> None:
        """Intake's events as publication's consumer hands them over, in order."""
        await hand_over(self.publishing, self.projects, *events)

    async def seen(self, *approvals: ProjectFinallyApproved) -> None:
        """Each project's proposal and passed ballots, not its approval yet."""
        for approval in approvals:
            await self.intake_sent(*approved_project(approval)[:-1])

    async def approve(self, *approvals: ProjectFinallyApproved) -> None:
        """Each project's proposal, passed ballots and final approval, as intake sends them."""
        for approval in approvals:
            await self.intake_sent(*approved_project(approval))

    def refusal(self, standard_id: str) -> Refusal | None:
        """The stored refusal, or None."""
        state = self.refusals_store.states().get(standard_id)
        return None if state is None else Refusal.from_dict(standard_id, state)

    def get(self, standard_id: str) -> Standard | None:
        """The standard as stored, or None."""
        state = self.store.states().get(standard_id)
        return None if state is None else standard_of(standard_id, state)

    def all(self) -> list[Standard]:
        """Every standard as stored."""
        return self.queries.all()

    def events(self, kind: type) -> list[PendingEvent]:
        """The events of one type in the outbox, in order."""
        kind_type = kind.event_type  # type: ignore[attr-defined]
        return self.store.events_of(kind_type) + self.refusals_store.events_of(kind_type)

    def of(self, kind: type, **where: object) -> list[dict[str, object]]:
        """The data of the events of one type whose fields have these values."""
        return [e.data for e in self.events(kind) if all(e.data.get(k) == v for k, v in where.items())]


def memory(clock: Now, *, delay_days: int = 0, life: LifePolicy | None = None) -> Memory:
    """Publication in memory with the default policy (implementation 90 days after publication)."""
    policy = Policy(
        implementation_offset_days=90, publication_delay_days=delay_days, life=life or LifePolicy()
    )
    return Memory(clock, policy)
