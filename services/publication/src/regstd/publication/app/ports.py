"""What the use cases need besides the unit of work over standards: the block allocator, the queries
of the background rounds, and the catalogue's reads. MongoDB implements them in `adapters/`; the
tests have their own in memory."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from regstd.publication.domain.approval import Refusal
from regstd.publication.domain.numbering import Allocation, Withdrawal
from regstd.publication.domain.standard import Standard


class Allocator(Protocol):
    """Hands out block numbers, gap-free (`adapters.allocator.BlockAllocator`)."""

    async def allocate(
        self, *, area: str, block_first: int, project_id: str, standard_id: str, at: datetime
    ) -> Allocation:
        """The project's number: the one it already holds, or the next free one of the block."""

    async def mark_not_issued(self, area: str, sequence: int, withdrawal: Withdrawal) -> bool:
        """Record a number as not issued (idempotent); True when this call recorded it. Never for a
        number whose standard is stored and not withdrawn (a published number stays issued)."""

    async def for_project(self, project_id: str) -> Allocation | None:
        """The number given to a project, if any."""


class Designations(Protocol):
    """The designation registry (`adapters.designations.DesignationRegistry`): one entry per
    designation ever claimed, naming the one standard that holds it; never released (decision 0022)."""

    async def claim(self, designations: Sequence[str], standard_id: str) -> tuple[str, str] | None:
        """Claim every designation for the standard (idempotent for the same standard); None when
        it holds them all now, else a designation another standard holds and that standard's id
        (what this call claimed is released again)."""

    async def holder(self, designation: str) -> str | None:
        """The standard holding a designation, or None."""


class StandardQueries(Protocol):
    """The queries of the background rounds, and their markers (`adapters.standards.StandardQueries`)."""

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of numbered standards whose publication date has come."""

    async def withdrawn_unrecorded(self, limit: int) -> list[Standard]:
        """Withdrawn standards whose allocation may not say `not_issued` yet."""

    async def allocation_recorded(self, standard_id: str) -> None:
        """Note that a withdrawn standard's allocation says `not_issued`."""

    async def published_revisions(self, limit: int) -> list[Standard]:
        """Published revisions whose predecessor may still be in force."""

    async def predecessor_superseded(self, standard_id: str) -> None:
        """Note on a revision that the standard it revises is superseded."""


class NumberHolders(Protocol):
    """Who carries a number (`adapters.catalogue.Catalogue`)."""

    async def holder(self, number: str) -> str | None:
        """The id of the standard carrying this canonical number under any code, or None."""


class PublishedStandards(Protocol):
    """What reports and feeds read (`adapters.catalogue.Catalogue`)."""

    async def ever_published(self, areas: Sequence[str]) -> list[Standard]:
        """Every standard of these areas that was published (in force, superseded or abolished)."""


class RefusedApprovals(Protocol):
    """What the feeds read of refused approvals (`adapters.refusals.RefusalQueries`)."""

    async def refused(self, areas: Sequence[str]) -> list[Refusal]:
        """Every refused approval of projects of these areas."""
