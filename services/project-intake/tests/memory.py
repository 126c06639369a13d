"""Project intake in memory, for unit tests of its use cases: the runtime's `MemoryAggregateStore`
under both units of work, and the ports' listings answered from what those stores hold."""

from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from regstd.contracts.reference import Reference, load_reference
from regstd.intake.adapters.documents import PROJECTS, STANDARDS
from regstd.intake.app.intake import Intake, Policy
from regstd.intake.app.ports import Filters
from regstd.intake.domain.overlap import Candidate
from regstd.intake.domain.overlap_index import Posting, Terms, postings_of
from regstd.intake.domain.project import Project
from regstd.intake.domain.proposal import ProjectId, new_project_id
from regstd.intake.domain.published import PublishedStandard
from regstd.kernel.clocks import OVERDUE
from regstd.kernel.time import utc_now
from regstd.runtime.testing import MemoryAggregateStore
from regstd.runtime.unit_of_work import UnitOfWork


class MemoryProjectQueries:
    """`ProjectQueries` over the projects of an in-memory store."""

    def __init__(self, store: MemoryAggregateStore) -> None:
        self.store = store

    def _all(self) -> list[Project]:
        return [PROJECTS.from_state(pid, state) for pid, state in self.store.states().items()]

    async def search(self, filters: Filters, *, limit: int, offset: int) -> tuple[list[Project], int]:
        found = [
            p
            for p in self._all()
            if (filters.status is None or p.status == filters.status)
            and (filters.area is None or p.area == filters.area)
            and (filters.party is None or filters.party in p.parties)
        ]
        found.sort(key=lambda p: p.project_id)
        found.sort(key=lambda p: p.proposed_at, reverse=True)
        return found[offset : offset + limit], len(found)

    async def with_overdue_clocks(self, names: Sequence[str], *, area: str | None) -> list[Project]:
        return [
            PROJECTS.from_state(pid, state)
            for pid, state in self.store.states().items()
            if set(state.get(OVERDUE) or ()) & set(names) and (area is None or state["area"] == area)
        ]

    async def overlap_candidates(self, project_ids: Collection[str]) -> list[tuple[Candidate, str | None]]:
        return [
            (
                Candidate(kind="project", ref=p.project_id, title_zh=p.title_zh, scope=p.scope),
                p.publication.standard_id
                if p.publication is not None and p.publication.outcome == "published"
                else None,
            )
            for p in self._all()
            if p.status != "rejected" and p.project_id in project_ids
        ]

    async def refused_by_publication(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self._all():
            if p.publication is not None and p.publication.outcome == "refused":
                counts[p.area] = counts.get(p.area, 0) + 1
        return counts


class MemoryStandardQueries:
    """`StandardQueries` over the published standards of an in-memory store."""

    def __init__(self, store: MemoryAggregateStore) -> None:
        self.store = store

    async def among(self, standard_ids: Collection[str]) -> list[PublishedStandard]:
        return [
            STANDARDS.from_state(sid, state)
            for sid, state in self.store.states().items()
            if sid in standard_ids
        ]


class MemoryOverlapIndex:
    """`OverlapIndex` in a dict: the postings by term."""

    def __init__(self) -> None:
        self.terms: dict[str, set[Posting]] = {}

    async def add(self, candidates: Sequence[Candidate]) -> None:
        for candidate in candidates:
            for term, posting in postings_of(candidate).items():
                self.terms.setdefault(term, set()).add(posting)

    async def postings(self, query: Terms) -> list[tuple[str, Posting]]:
        return [(term, p) for term in sorted(query.all) for p in self.terms.get(term, ())]


class MemoryIntake:
    """The use cases over in-memory stores, with the stores at hand."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utc_now,
        policy: Policy | None = None,
        reference: Reference | None = None,
        new_id: Callable[[], ProjectId] = new_project_id,
    ) -> None:
        self.project_store = MemoryAggregateStore()
        self.standard_store = MemoryAggregateStore()
        self.overlap_index = MemoryOverlapIndex()
        self.intake = Intake(
            UnitOfWork(self.project_store, PROJECTS, kind="project", clock=clock),
            UnitOfWork(self.standard_store, STANDARDS, kind="published standard", clock=clock),
            listing=MemoryProjectQueries(self.project_store),
            published=MemoryStandardQueries(self.standard_store),
            overlaps=self.overlap_index,
            reference=reference or load_reference(),
            policy=policy or Policy(),
            new_id=new_id,
        )
