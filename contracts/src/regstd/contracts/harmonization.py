"""Events of the harmonization service.

Adoption (采信) events travel on `regstd.harmonization.adoptions.v1`, keyed by the source standard's
id, so that every offer, decision and notice about one standard is in order on one partition.
Difference-analysis events travel on `regstd.harmonization.assessments.v1`, keyed by assessment id.
"""

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from regstd.contracts.common import Actor, RegionCode
from regstd.contracts.envelope import EventModel
from regstd.contracts.publication import PartyNumber
from regstd.contracts.topics import HARMONIZATION_ADOPTIONS, HARMONIZATION_ASSESSMENTS, Topic

AdoptionDecision = Literal["adopt", "adopt_with_modifications", "decline"]
"""采信: adopt as is, adopt with modifications (naming the differences), or decline (with a reason)."""

SourceChange = Literal["withdrawn", "superseded"]
"""What happened to an adopted source standard."""


class _AdoptionEvent(EventModel):
    topic: ClassVar[Topic] = HARMONIZATION_ADOPTIONS
    subject_field: ClassVar[str] = "standard_id"

    standard_id: str = Field(min_length=1, max_length=64, description="The source standard's id.")


class AdoptionOffered(_AdoptionEvent):
    """An eco-civilization standard of one member was offered to another member for adoption."""

    event_type: ClassVar[str] = "cn.regstd.harmonization.adoption.offered.v1"

    area: str = Field(min_length=1, max_length=32, description="The adoption area, e.g. yangtze.")
    member: RegionCode = Field(pattern=r"^[0-9]{2}$", description="The member the offer is made to.")
    sources: list[RegionCode] = Field(min_length=1, description="The parties that published it.")
    numbers: list[PartyNumber] = Field(min_length=1)
    title_zh: str = Field(min_length=1, max_length=500)
    category: str = Field(min_length=1, max_length=64)
    publication_date: date
    offered_at: AwareDatetime


class AdoptionDecided(_AdoptionEvent):
    """A member's regulator recorded its decision on an offered standard."""

    event_type: ClassVar[str] = "cn.regstd.harmonization.adoption.decided.v1"

    member: RegionCode = Field(pattern=r"^[0-9]{2}$")
    decision: AdoptionDecision
    modifications: list[str] = Field(
        default_factory=list, description="The differences, for an adoption with modifications."
    )
    reason: str | None = Field(default=None, max_length=2000, description="Why, for a decline.")
    scope: str | None = Field(
        default=None, max_length=2000, description="Where the adopted standard applies in the member."
    )
    effective_date: date | None = Field(
        default=None, description="From when it applies in the member (CST calendar date)."
    )
    numbers: list[PartyNumber] = Field(min_length=1, description="The source standard's numbers.")
    decided_by: Actor
    decided_at: AwareDatetime


class AdoptedSourceChanged(_AdoptionEvent):
    """A standard a member adopted was withdrawn or superseded at its source: the adopter is told."""

    event_type: ClassVar[str] = "cn.regstd.harmonization.adoption.source-changed.v1"

    member: RegionCode = Field(pattern=r"^[0-9]{2}$", description="The adopter that is told.")
    change: SourceChange
    numbers: list[PartyNumber] = Field(min_length=1)
    effective_date: date
    reason: str | None = Field(default=None, max_length=2000)
    superseded_by: str | None = Field(default=None, max_length=64)
    superseded_by_numbers: list[PartyNumber] = Field(default_factory=list)
    noticed_at: AwareDatetime


class AssessmentCompleted(EventModel):
    """A difference analysis (差异分析评估) of environmental limits across regions was completed."""

    event_type: ClassVar[str] = "cn.regstd.harmonization.assessment.completed.v1"
    topic: ClassVar[Topic] = HARMONIZATION_ASSESSMENTS
    subject_field: ClassVar[str] = "assessment_id"

    assessment_id: str = Field(min_length=1, max_length=64)
    regions: list[RegionCode] = Field(min_length=1)
    media: list[str] = Field(min_length=1)
    policy: str = Field(min_length=1, max_length=32, description="The policy proposing unified values.")
    imports: list[str] = Field(description="The limit imports assessed, by import id.")
    inputs_digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the inputs.")
    report_digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the report body.")
    parameters: int = Field(ge=0, description="How many aligned parameters were compared.")
    findings: int = Field(ge=0, description="How many limits are looser than the national baseline.")
    requested_by: Actor
    completed_at: AwareDatetime


__all__ = [
    "AdoptedSourceChanged",
    "AdoptionDecided",
    "AdoptionDecision",
    "AdoptionOffered",
    "AssessmentCompleted",
    "SourceChange",
]
