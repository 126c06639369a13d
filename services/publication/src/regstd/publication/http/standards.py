"""HTTP routes of the catalogue of standards and of the withdrawal of a numbered standard before
publication.

Every authenticated principal (a regulator, a partner city, an operator) may read; only the
regulator of one of a standard's parties may withdraw it.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from regstd.contracts.common import Kind
from regstd.kernel.clocks import ClockState
from regstd.publication.adapters.catalogue import Filters
from regstd.publication.app.publishing import PublishingCases
from regstd.publication.domain.standard import Status
from regstd.publication.http.shared import (
    READ_REFUSALS,
    WRITE_REFUSALS,
    Reading,
    StandardView,
    View,
)
from regstd.runtime.http import Caller, Command, Limit, Offset, provide

Publishing = Annotated[PublishingCases, Depends(provide(PublishingCases))]

router = APIRouter()


class StandardPage(View):
    """A page of the catalogue."""

    items: list[StandardView]
    total: int = Field(description="How many standards match the filters.")
    limit: int
    offset: int


class WithdrawStandard(Command):
    """Withdraw a numbered standard before it is published."""

    reason: str = Field(min_length=1, max_length=2000, description="Why the standard is withdrawn.")


@router.get(
    "/standards",
    tags=["catalogue"],
    summary="List and filter the catalogue",
    response_model=StandardPage,
    responses={k: v for k, v in READ_REFUSALS.items() if k != 404},
)
async def list_standards(
    catalogue: Reading,
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
    clock_state: Annotated[
        list[ClockState] | None,
        Query(
            description="Only standards with a clock of their life (filing, text disclosure, review) "
            "in one of these states (repeat), e.g. `due_soon` and `overdue`: what awaits a regulator."
        ),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> StandardPage:
    """Standards ordered by area and sequence number. Any authenticated principal may read."""
    filters = Filters(area, party, category, year, status, kind, eco_civilization, tuple(clock_state or ()))
    found, total = await catalogue.search(filters, limit=limit, offset=offset)
    return StandardPage(
        items=[StandardView.of(s, catalogue.today()) for s in found], total=total, limit=limit, offset=offset
    )


@router.get(
    "/standards/by-number/{number:path}",
    tags=["catalogue"],
    summary="Find a standard by any of its numbers",
    response_model=StandardView,
    responses=READ_REFUSALS,
)
async def by_number(
    catalogue: Reading,
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
    return StandardView.of(await catalogue.by_number(number), catalogue.today())


@router.get(
    "/standards/{standard_id}",
    tags=["catalogue"],
    summary="One standard",
    response_model=StandardView,
    responses=READ_REFUSALS,
)
async def get_standard(catalogue: Reading, _: Caller, standard_id: str) -> StandardView:
    """One standard by its id (`std-<project id>`)."""
    return StandardView.of(await catalogue.get(standard_id), catalogue.today())


@router.post(
    "/standards/{standard_id}/withdrawal",
    tags=["numbering"],
    summary="Withdraw a numbered standard before publication",
    response_model=StandardView,
    responses=WRITE_REFUSALS,
)
async def withdraw(
    publishing: Publishing, standard_id: str, body: WithdrawStandard, caller: Caller
) -> StandardView:
    """Only the regulator of one of the standard's parties may withdraw it, and only while it is
    numbered and unpublished. Its number is recorded as not issued, with the reason and who
    withdrew it, and is never given to another standard; a `NumberNotIssued` event is published."""
    withdrawn = await publishing.withdraw(standard_id, body.reason, caller)
    return StandardView.of(withdrawn, publishing.today())
