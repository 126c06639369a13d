"""The adoption routes: the registry of offered eco standards, members' decisions, who adopted
what, and the yearly summary. Any authenticated principal reads; a member's regulator decides only
for its own region."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.common import Actor
from regstd.contracts.harmonization import AdoptionDecision
from regstd.contracts.publication import PartyNumber
from regstd.harmonization.app.adoptions import Adoptions
from regstd.harmonization.domain.adoption import DecisionRequest, EcoStandard, SourceStatus
from regstd.harmonization.domain.registry import summary_markdown
from regstd.harmonization.http.responses import READ, WRITE
from regstd.runtime.http import Caller, Command, provide

Cases = Annotated[Adoptions, Depends(provide(Adoptions))]

router = APIRouter(tags=["adoption"])


class DecisionView(BaseModel):
    """A member's recorded decision."""

    model_config = ConfigDict(frozen=True)

    member: str
    decision: AdoptionDecision
    modifications: list[str]
    reason: str | None
    scope: str | None
    effective_date: date | None
    decided_by: Actor
    decided_at: datetime


class EcoStandardView(BaseModel):
    """An eco standard offered for adoption: its source, the members offered it, their decisions."""

    model_config = ConfigDict(frozen=True)

    standard_id: str
    numbers: list[PartyNumber]
    title_zh: str
    category: str
    sources: list[str] = Field(description="The parties that published it.")
    published_area: str
    adoption_area: str
    publication_date: date
    implementation_date: date
    offered_at: datetime
    offered_to: list[str]
    decisions: list[DecisionView]
    adopters: list[str]
    pending: list[str]
    source_status: SourceStatus

    @classmethod
    def of(cls, s: EcoStandard) -> "EcoStandardView":
        """The view of an offered eco standard, its decisions in the order of the members."""
        return cls(
            standard_id=s.id,
            numbers=list(s.numbers),
            title_zh=s.title_zh,
            category=s.category,
            sources=list(s.sources),
            published_area=s.published_area,
            adoption_area=s.area,
            publication_date=s.publication_date,
            implementation_date=s.implementation_date,
            offered_at=s.offered_at,
            offered_to=list(s.members),
            decisions=[
                DecisionView(
                    member=d.member,
                    decision=d.decision,
                    modifications=list(d.modifications),
                    reason=d.reason,
                    scope=d.scope,
                    effective_date=d.effective_date,
                    decided_by=d.by,
                    decided_at=d.at,
                )
                for m in s.members
                if (d := s.decisions.get(m)) is not None
            ],
            adopters=s.adopters,
            pending=s.pending,
            source_status=s.status,
        )


class RecordDecision(Command):
    """A member's decision on an offered eco standard."""

    member: str = Field(pattern=r"^[0-9]{2}$", description="Your region's code: you decide only for it.")
    decision: AdoptionDecision
    modifications: list[str] = Field(
        default_factory=list, max_length=100, description="The differences (adopt_with_modifications)."
    )
    reason: str | None = Field(default=None, max_length=2000, description="Why (required to decline).")
    scope: str | None = Field(
        default=None, max_length=2000, description="Where it applies in your region (required to adopt)."
    )
    effective_date: date | None = Field(default=None, description="From when it applies (required to adopt).")

    def request(self) -> DecisionRequest:
        """What the domain is asked to record."""
        return DecisionRequest(
            member=self.member,
            decision=self.decision,
            modifications=tuple(self.modifications),
            reason=self.reason,
            scope=self.scope,
            effective_date=self.effective_date,
        )


@router.get(
    "/adoptions/standards",
    summary="Eco standards offered for adoption",
    response_model=list[EcoStandardView],
    responses=READ,
)
async def offered(
    cases: Cases,
    _: Caller,
    member: Annotated[str | None, Query(description="Offered to this member.")] = None,
    source: Annotated[str | None, Query(description="Published by this member.")] = None,
) -> list[EcoStandardView]:
    """Every eco standard offered for adoption, with the members' decisions."""
    return [EcoStandardView.of(s) for s in await cases.offered(member=member, source=source)]


@router.get(
    "/adoptions/standards/{standard_id}",
    summary="One offered eco standard",
    response_model=EcoStandardView,
    responses=READ,
)
async def one(cases: Cases, _: Caller, standard_id: str) -> EcoStandardView:
    """An eco standard with its offers, decisions, adopters and pending members."""
    return EcoStandardView.of(await cases.get(standard_id))


@router.post(
    "/adoptions/standards/{standard_id}/decisions",
    summary="Record your region's decision",
    response_model=EcoStandardView,
    responses=WRITE,
)
async def decide(cases: Cases, standard_id: str, body: RecordDecision, caller: Caller) -> EcoStandardView:
    """Adopt as is, adopt with modifications (the differences) or decline (a reason), with scope and
    effective date. Only the member's own regulator decides for it (403 otherwise, nothing
    recorded). A member decides once: the identical decision again is answered with the record,
    a different one is refused (409)."""
    return EcoStandardView.of(await cases.decide(standard_id, body.request(), caller))


@router.get("/adoptions/registry", summary="Who adopted which standard", responses=READ)
async def registry(
    cases: Cases,
    _: Caller,
    member: Annotated[str | None, Query(description="Decisions of this member.")] = None,
    source: Annotated[str | None, Query(description="On standards published by this member.")] = None,
    decision: Annotated[list[AdoptionDecision] | None, Query(description="Only these decisions.")] = None,
) -> list[dict[str, Any]]:
    """Every recorded decision: who adopted (or declined) which standard, since when (effective
    date), where it applies (scope), and whether the source is still in force."""
    rows: list[dict[str, Any]] = jsonable_encoder(
        await cases.registry(member=member, source=source, decisions=decision)
    )
    return rows


@router.get(
    "/adoptions/adopted-elsewhere/{member}",
    summary="Which of a member's eco standards are adopted elsewhere",
    responses=READ,
)
async def adopted_elsewhere(cases: Cases, _: Caller, member: str) -> list[dict[str, Any]]:
    """The member's own eco standards with the members that adopted each, since when and where."""
    return [
        {
            "standard_id": found.standard.id,
            "numbers": [n.model_dump() for n in found.standard.numbers],
            "title_zh": found.standard.title_zh,
            "source_status": found.standard.status,
            "adopted_by": jsonable_encoder(found.adopted_by),
        }
        for found in await cases.adopted_elsewhere(member)
    ]


@router.get("/adoptions/summary/{year}", summary="Yearly summary for the white paper", responses=READ)
async def summary(
    cases: Cases,
    _: Caller,
    year: Annotated[int, Path(ge=1949, le=9999, description="The year summarised.")],
    format: Annotated[Literal["json", "markdown"], Query(description="json or a markdown table.")] = "json",
) -> Response:
    """Per member and per standard: offers, adoptions (as is, with modifications), declines, pending."""
    made = await cases.summary(year)
    if format == "markdown":
        return PlainTextResponse(summary_markdown(made), media_type="text/markdown; charset=utf-8")
    return JSONResponse(jsonable_encoder(made))
