"""HTTP routes of a published standard's life: its clocks, filings, text disclosure and review.

Any authenticated principal reads; a party's regulator records its own filing, the disclosure and
its own review conclusion (decision 8).
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.common import RegionCode
from regstd.contracts.publication import FilingAuthority, PartyNumber, ReviewOutcome
from regstd.kernel.clocks import ClockView
from regstd.publication.app.life import LifeCases
from regstd.publication.domain.life import Disclosure, Ending, Filing, Review
from regstd.publication.domain.standard import Standard, Status
from regstd.publication.http.shared import READ_REFUSALS, WRITE_REFUSALS, StandardId
from regstd.runtime.http import Caller, Command, provide

Life = Annotated[LifeCases, Depends(provide(LifeCases))]

router = APIRouter(tags=["life of a standard"])


class LifeView(BaseModel):
    """A standard's life after publication."""

    model_config = ConfigDict(frozen=True)

    standard_id: str
    status: Status
    numbers: list[PartyNumber]
    supersedes: str | None
    clocks: list[ClockView]
    filings: list[Filing]
    disclosure: Disclosure | None
    reviews: list[Review]
    revision_pending: bool
    ending: Ending | None

    @classmethod
    def of(cls, standard: Standard, today: date) -> "LifeView":
        """The view of a standard's life (empty before publication)."""
        life = standard.life
        return cls(
            standard_id=standard.id,
            status=standard.status,
            numbers=list(standard.numbers),
            supersedes=standard.supersedes,
            clocks=[ClockView.of(c, today) for c in life.clocks] if life else [],
            filings=list(life.filings) if life else [],
            disclosure=life.disclosure if life else None,
            reviews=list(life.reviews) if life else [],
            revision_pending=life.revision_pending if life else False,
            ending=life.ending if life else None,
        )


class RecordFiling(Command):
    """A party's filing (备案) of a published standard."""

    party: RegionCode = Field(pattern=r"^[0-9]{2}$", description="The filing party: the caller's region.")
    authority: FilingAuthority = Field(
        default="national",
        description="national, or ecology_environment for the second filing of a mandatory "
        "environmental standard.",
    )
    filing_number: str = Field(min_length=1, max_length=64, description="The number the authority gave.")
    filed_on: date = Field(description="Calendar date (CST) of the filing.")


class RecordDisclosure(Command):
    """Where and when the full text was made public."""

    location: str = Field(min_length=1, max_length=2048)
    disclosed_on: date


class RecordReviewConclusion(Command):
    """A party's review (复审) conclusion."""

    outcome: ReviewOutcome
    reason: str | None = Field(default=None, max_length=5000)


@router.get("/standards/{standard_id}/life", response_model=LifeView, responses=READ_REFUSALS)
async def life(life: Life, _: Caller, standard_id: StandardId) -> LifeView:
    """Clocks (filing, disclosure, review) with their deadlines and states, filings, disclosure,
    reviews and how the standard ended, if it did."""
    return LifeView.of(await life.get(standard_id), life.today())


@router.post("/standards/{standard_id}/filings", response_model=LifeView, responses=WRITE_REFUSALS)
async def filing(life: Life, standard_id: StandardId, body: RecordFiling, caller: Caller) -> LifeView:
    """The regulator of `party` records its filing; it meets that party's filing clock
    (`StandardFiled`, `StandardClockChanged` met)."""
    return LifeView.of(
        await life.record_filing(
            standard_id,
            party=body.party,
            authority=body.authority,
            filing_number=body.filing_number,
            filed_on=body.filed_on,
            caller=caller,
        ),
        life.today(),
    )


@router.post("/standards/{standard_id}/disclosure", response_model=LifeView, responses=WRITE_REFUSALS)
async def disclosure(life: Life, standard_id: StandardId, body: RecordDisclosure, caller: Caller) -> LifeView:
    """A party's regulator records the text disclosure (`StandardTextDisclosed`)."""
    return LifeView.of(
        await life.record_disclosure(
            standard_id, location=body.location, disclosed_on=body.disclosed_on, caller=caller
        ),
        life.today(),
    )


@router.post("/standards/{standard_id}/review-conclusions", response_model=LifeView, responses=WRITE_REFUSALS)
async def review(
    life: Life, standard_id: StandardId, body: RecordReviewConclusion, caller: Caller
) -> LifeView:
    """A party's regulator records its review conclusion. When every party concluded the same
    outcome, `StandardReviewConcluded` is published; `abolish` also publishes `StandardWithdrawn`,
    `revise` waits for a revision project (proposed with `supersedes`) to supersede the standard."""
    return LifeView.of(
        await life.record_review_conclusion(
            standard_id, outcome=body.outcome, reason=body.reason, caller=caller
        ),
        life.today(),
    )
