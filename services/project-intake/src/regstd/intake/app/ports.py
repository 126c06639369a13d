"""What the use cases need from storage besides the unit of work: the listings and lookups that read
many projects or standards at once. The MongoDB implementations are in `regstd.intake.adapters`."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from regstd.contracts.common import RegionCode
from regstd.intake.domain.overlap import Candidate
from regstd.intake.domain.overlap_index import Posting, Terms
from regstd.intake.domain.project import Project, Status
from regstd.intake.domain.published import PublishedStandard


@dataclass(frozen=True)
class Filters:
    """What a project listing may be narrowed to."""

    status: Status | None = None
    area: str | None = None
    party: RegionCode | None = None


class ProjectQueries(Protocol):
    """Reads across projects."""

    async def search(self, filters: Filters, *, limit: int, offset: int) -> tuple[list[Project], int]:
        """Projects matching the filters, newest first, with how many match in all."""

    async def with_overdue_clocks(self, names: Sequence[str], *, area: str | None) -> list[Project]:
        """Projects (of the area, if one is named) with one of the named clocks overdue, as the clock
        scheduler last found."""

    async def overlap_candidates(self, project_ids: Collection[str]) -> list[tuple[Candidate, str | None]]:
        """The named projects not rejected, as something a proposal may overlap with, each with the
        id of the standard publication made of it, if any."""

    async def refused_by_publication(self) -> dict[str, int]:
        """How many finally approved projects publication refused to number, by area."""


class StandardQueries(Protocol):
    """Reads across the published standards intake remembers."""

    async def among(self, standard_ids: Collection[str]) -> list[PublishedStandard]:
        """The published standards heard of with one of these ids."""


class OverlapIndex(Protocol):
    """The overlap index (`regstd.intake.domain.overlap_index`): postings of candidates by term.

    Only ever added to, before the project or standard it names is saved: so the index names every
    candidate, and may name some that are gone or changed (the check reads the candidates
    themselves, and drops those)."""

    async def add(self, candidates: Sequence[Candidate]) -> None:
        """Index the candidates' terms (again: adding twice changes nothing)."""

    async def postings(self, query: Terms) -> list[tuple[str, Posting]]:
        """The postings of the query's terms, as (term, posting)."""
