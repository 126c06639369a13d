"""HTTP route of an area's joint number block: every number handed out, in order, gap-free."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import Field

from regstd.contracts.publication import PartyNumber
from regstd.publication.adapters.catalogue import Block, BlockEntry, BlockStatus
from regstd.publication.http.shared import READ_REFUSALS, Reading, View, WithdrawalView
from regstd.runtime.http import Caller, Limit, Offset

router = APIRouter()


class AllocationView(View):
    """One number of a block and what became of it."""

    sequence: int
    project_id: str
    standard_id: str
    status: BlockStatus = Field(
        description="assigned (allocated, the standard is being stored), numbered, published, or "
        "not_issued (withdrawn before publication; never reused)."
    )
    numbers: list[PartyNumber]
    assigned_at: datetime
    not_issued: WithdrawalView | None = Field(description="Why, by whom and when, for a number not issued.")

    @classmethod
    def of(cls, entry: BlockEntry) -> "AllocationView":
        """The view of one number of a block."""
        a = entry.allocation
        return cls(
            sequence=a.sequence,
            project_id=a.project_id,
            standard_id=a.standard_id,
            status=entry.status,
            numbers=list(entry.standard.numbers) if entry.standard else [],
            assigned_at=a.assigned_at,
            not_issued=WithdrawalView.of(entry.withdrawal),
        )


class BlockView(View):
    """An area's joint number block: every number handed out, in order, with no gaps."""

    area: str
    first: int = Field(description="The block's first sequence number.")
    highest: int | None = Field(description="The highest sequence number allocated so far.")
    allocated: int = Field(description="How many numbers were allocated.")
    gap_free: bool = Field(description="Whether the allocated numbers run from `first` to `highest`.")
    published: int
    not_issued: int
    allocations: list[AllocationView]
    limit: int
    offset: int

    @classmethod
    def of(cls, block: Block, limit: int, offset: int) -> "BlockView":
        """The view of a page of a block."""
        expected = 0 if block.highest is None else block.highest - block.first + 1
        return cls(
            area=block.area,
            first=block.first,
            highest=block.highest,
            allocated=block.allocated,
            gap_free=expected == block.allocated,
            published=block.published,
            not_issued=block.not_issued,
            allocations=[AllocationView.of(e) for e in block.entries],
            limit=limit,
            offset=offset,
        )


@router.get(
    "/blocks/{area}",
    tags=["numbering"],
    summary="An area's joint number block",
    response_model=BlockView,
    responses=READ_REFUSALS,
)
async def block(
    catalogue: Reading, _: Caller, area: str, limit: Limit = 100, offset: Offset = 0
) -> BlockView:
    """Every number handed out from the area's block, in order: which project holds it and whether
    it is numbered, published or not issued. `gap_free` says whether the numbers run without gaps
    from the block's first."""
    return BlockView.of(await catalogue.block(area, limit=limit, offset=offset), limit, offset)
