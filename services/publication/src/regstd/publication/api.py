"""The publication service's HTTP API: the catalogue of standards, the number blocks, and the
withdrawal of a numbered standard before publication.

Every authenticated principal (a regulator, a partner city, an operator) may read; only the
regulator of one of a standard's parties may withdraw it.
"""

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.common import Actor, Kind
from regstd.contracts.publication import PartyNumber
from regstd.publication.catalogue import Block, BlockEntry, BlockStatus, Catalogue, Filters
from regstd.publication.domain import Standard, Status, Withdrawal
from regstd.publication.handlers import Publication
from regstd.runtime.http import Caller, Command, refusals

_READ_REFUSALS = refusals(
    {
        401: "No bearer token, or an unknown one.",
        404: "No such standard, number or block.",
        422: "A malformed request or number; the message says why.",
    }
)
_WRITE_REFUSALS = _READ_REFUSALS | refusals(
    {
        403: "Not a regulator of one of the standard's parties.",
        409: "The standard is already published or already withdrawn.",
    }
)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class TextView(_View):
    """Where the approved text lives and its SHA-256 digest."""

    location: str
    sha256: str


class WithdrawalView(_View):
    """Why, by whom and when a numbered standard was withdrawn before publication."""

    reason: str
    by: Actor
    at: datetime

    @classmethod
    def of(cls, withdrawal: Withdrawal | None) -> "WithdrawalView | None":
        return (
            None if withdrawal is None else cls(reason=withdrawal.reason, by=withdrawal.by, at=withdrawal.at)
        )


class StandardView(_View):
    """A local standard in the catalogue: joint (from a project) or single-region (submitted)."""

    standard_id: str
    project_id: str | None
    status: Status = Field(
        description="numbered (holds a number, not yet published), published, or withdrawn (withdrawn "
        "before publication: its number is not issued)."
    )
    area: str
    parties: list[str]
    numbers: list[PartyNumber] = Field(
        description="Its number under every party's code. Until publication the year is that of the "
        "planned publication date; publication fixes it."
    )
    sequence: int = Field(
        description="The shared sequence number from the area's block; a single-region standard's own."
    )
    year: int = Field(description="The year in the numbers: the year of publication.")
    kind: Kind
    category: str
    title_zh: str
    title_en: str | None
    scope: str
    eco_civilization: bool
    text: TextView
    approved_at: datetime | None = Field(description="When the final approval (批准) passed.")
    numbered_at: datetime
    publish_due_on: date = Field(description="Planned publication date (China Standard Time).")
    published_at: datetime | None
    publication_date: date | None = Field(description="Calendar date in China Standard Time.")
    implementation_date: date | None = Field(description="Calendar date in China Standard Time.")
    withdrawal: WithdrawalView | None

    @classmethod
    def of(cls, s: Standard) -> "StandardView":
        return cls(
            standard_id=s.id,
            project_id=s.project_id,
            status=s.status,
            area=s.area,
            parties=list(s.parties),
            numbers=list(s.numbers),
            sequence=s.sequence,
            year=s.year,
            kind=s.kind,
            category=s.category,
            title_zh=s.title_zh,
            title_en=s.title_en,
            scope=s.scope,
            eco_civilization=s.eco_civilization,
            text=TextView(location=s.text.location, sha256=s.text.sha256),
            approved_at=s.approved_at,
            numbered_at=s.numbered_at,
            publish_due_on=s.publish_due_on,
            published_at=s.published_at,
            publication_date=s.publication_date,
            implementation_date=s.implementation_date,
            withdrawal=WithdrawalView.of(s.withdrawal),
        )


class StandardPage(_View):
    """A page of the catalogue."""

    items: list[StandardView]
    total: int = Field(description="How many standards match the filters.")
    limit: int
    offset: int


class AllocationView(_View):
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


class BlockView(_View):
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


class WithdrawStandard(Command):
    """Withdraw a numbered standard before it is published."""

    reason: str = Field(min_length=1, max_length=2000, description="Why the standard is withdrawn.")


Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Offset = Annotated[int, Query(ge=0, description="How many to skip.")]


def router(catalogue: Catalogue, publication: Publication) -> APIRouter:
    """The routes of the publication service."""
    api = APIRouter()

    @api.get(
        "/standards",
        tags=["catalogue"],
        summary="List and filter the catalogue",
        response_model=StandardPage,
        responses={k: v for k, v in _READ_REFUSALS.items() if k != 404},
    )
    async def list_standards(
        _: Caller,
        area: Annotated[str | None, Query(description="Cooperation area id, e.g. chengyu.")] = None,
        party: Annotated[
            str | None, Query(pattern=r"^[0-9]{2}$", description="A party's region code, e.g. 50.")
        ] = None,
        category: Annotated[str | None, Query(max_length=64)] = None,
        year: Annotated[int | None, Query(ge=1949, le=9999, description="Year in the number.")] = None,
        status: Annotated[Status | None, Query(description="numbered, published or withdrawn.")] = None,
        kind: Annotated[Kind | None, Query(description="recommended or mandatory.")] = None,
        eco_civilization: Annotated[bool | None, Query()] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> StandardPage:
        """Standards ordered by area and sequence number. Any authenticated principal may read."""
        filters = Filters(area, party, category, year, status, kind, eco_civilization)
        found, total = await catalogue.search(filters, limit=limit, offset=offset)
        return StandardPage(
            items=[StandardView.of(s) for s in found], total=total, limit=limit, offset=offset
        )

    @api.get(
        "/standards/by-number/{number:path}",
        tags=["catalogue"],
        summary="Find a standard by any of its numbers",
        response_model=StandardView,
        responses=_READ_REFUSALS,
    )
    async def by_number(
        _: Caller,
        number: Annotated[
            str,
            Path(
                description="Any of its numbers, URL-encoded: `DB50%2FT%2010001%E2%80%942026`. The dash "
                "may be an em dash, a hyphen, an en dash or a full-width hyphen; spaces and letter case "
                "do not matter; `DB50/10001—2026` is read as the mandatory `DB50 10001—2026`.",
                max_length=100,
            ),
        ],
    ) -> StandardView:
        """The standard with this number under any of its parties' codes."""
        return StandardView.of(await catalogue.by_number(number))

    @api.get(
        "/standards/{standard_id}",
        tags=["catalogue"],
        summary="One standard",
        response_model=StandardView,
        responses=_READ_REFUSALS,
    )
    async def get_standard(_: Caller, standard_id: str) -> StandardView:
        """One standard by its id (`std-<project id>`)."""
        return StandardView.of(await catalogue.get(standard_id))

    @api.post(
        "/standards/{standard_id}/withdrawal",
        tags=["numbering"],
        summary="Withdraw a numbered standard before publication",
        response_model=StandardView,
        responses=_WRITE_REFUSALS,
    )
    async def withdraw(standard_id: str, body: WithdrawStandard, caller: Caller) -> StandardView:
        """Only the regulator of one of the standard's parties may withdraw it, and only while it is
        numbered and unpublished. Its number is recorded as not issued, with the reason and who
        withdrew it, and is never given to another standard; a `NumberNotIssued` event is published."""
        return StandardView.of(await publication.withdraw(standard_id, body.reason, caller))

    @api.get(
        "/blocks/{area}",
        tags=["numbering"],
        summary="An area's joint number block",
        response_model=BlockView,
        responses=_READ_REFUSALS,
    )
    async def block(_: Caller, area: str, limit: Limit = 100, offset: Offset = 0) -> BlockView:
        """Every number handed out from the area's block, in order: which project holds it and whether
        it is numbered, published or not issued. `gap_free` says whether the numbers run without gaps
        from the block's first."""
        return BlockView.of(await catalogue.block(area, limit=limit, offset=offset), limit, offset)

    return api
