"""Events of the publication service, on `regstd.publication.standards.v1`, keyed by standard id."""

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from regstd.contracts.common import Actor, ContractModel, Kind, RegionCode, TextReference
from regstd.contracts.envelope import EventModel
from regstd.contracts.topics import PUBLICATION_STANDARDS, Topic


class PartyNumber(ContractModel):
    """The standard's number under one party's code, for example DB50/T 10001—2026."""

    party: RegionCode = Field(pattern=r"^[0-9]{2}$")
    number: str = Field(min_length=1, max_length=64)


class StandardPublished(EventModel):
    """A local standard, joint or single-region, was published under every party's number."""

    event_type: ClassVar[str] = "cn.regstd.publication.standard.published.v1"
    topic: ClassVar[Topic] = PUBLICATION_STANDARDS
    subject_field: ClassVar[str] = "standard_id"

    standard_id: str = Field(min_length=1, max_length=64)
    project_id: str | None = Field(
        default=None,
        description="The intake project that produced it; none for a standard submitted by one region.",
    )
    area: str = Field(min_length=1, max_length=32)
    parties: list[RegionCode] = Field(min_length=1)
    numbers: list[PartyNumber] = Field(min_length=1)
    sequence: int = Field(ge=1, description="The shared sequence number, the same under every party's code.")
    year: int = Field(ge=1949, le=9999)
    title_zh: str = Field(min_length=1, max_length=500)
    title_en: str | None = Field(default=None, max_length=500)
    category: str = Field(min_length=1, max_length=64)
    kind: Kind
    eco_civilization: bool = Field(
        default=False, description="An eco-civilization (生态文明) standard, open to adoption."
    )
    publication_date: date = Field(description="Calendar date in China Standard Time.")
    implementation_date: date = Field(description="Calendar date in China Standard Time.")
    text: TextReference
    published_at: AwareDatetime
    supersedes: str | None = Field(
        default=None,
        max_length=64,
        description="For a revision (修订): the standard id it replaces; it keeps that standard's "
        "sequence number with the year of the revision.",
    )


class NumberNotIssued(EventModel):
    """A joint standard's number was withdrawn before publication: it is recorded as not issued.

    The sequence number stays taken in its area's block (the block has no gap) and is never given to
    another standard; the standard itself is not published.
    """

    event_type: ClassVar[str] = "cn.regstd.publication.standard.number-not-issued.v1"
    topic: ClassVar[Topic] = PUBLICATION_STANDARDS
    subject_field: ClassVar[str] = "standard_id"

    standard_id: str = Field(min_length=1, max_length=64)
    project_id: str | None = Field(default=None, description="The intake project that was numbered.")
    area: str = Field(min_length=1, max_length=32)
    parties: list[RegionCode] = Field(min_length=1)
    sequence: int = Field(ge=1, description="The sequence number that is not issued and never reused.")
    numbers: list[PartyNumber] = Field(
        default_factory=list, description="The numbers the standard would have carried, for the record."
    )
    reason: str = Field(min_length=1, max_length=2000)
    withdrawn_by: Actor
    withdrawn_at: AwareDatetime


class StandardWithdrawn(EventModel):
    """A published standard was abolished (废止): it no longer applies from its effective date.

    Every subscriber and every adopter of the standard is told; the standard keeps its numbers in
    the catalogue with status `abolished` (`withdrawn` there means withdrawn before publication, its
    number not issued), and its numbers are never given to another standard.
    """

    event_type: ClassVar[str] = "cn.regstd.publication.standard.withdrawn.v1"
    topic: ClassVar[Topic] = PUBLICATION_STANDARDS
    subject_field: ClassVar[str] = "standard_id"

    standard_id: str = Field(min_length=1, max_length=64)
    area: str = Field(min_length=1, max_length=32)
    parties: list[RegionCode] = Field(min_length=1)
    numbers: list[PartyNumber] = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=2000)
    effective_date: date = Field(
        description="From this calendar date (China Standard Time) it no longer applies."
    )
    withdrawn_by: Actor | None = Field(
        default=None, description="Who withdrew it; none when a review outcome decided it."
    )
    withdrawn_at: AwareDatetime


class StandardSuperseded(EventModel):
    """A published standard was replaced by a newer one: a revision (修订) or an integration.

    A revision keeps the sequence number and takes the year of the revision (DB50/418—2012 is
    superseded by DB50/418—2016). A subscriber that follows the old standard follows the new one.
    """

    event_type: ClassVar[str] = "cn.regstd.publication.standard.superseded.v1"
    topic: ClassVar[Topic] = PUBLICATION_STANDARDS
    subject_field: ClassVar[str] = "standard_id"

    standard_id: str = Field(min_length=1, max_length=64)
    area: str = Field(min_length=1, max_length=32)
    parties: list[RegionCode] = Field(min_length=1)
    numbers: list[PartyNumber] = Field(min_length=1)
    superseded_by: str = Field(min_length=1, max_length=64, description="The standard id of the successor.")
    superseded_by_numbers: list[PartyNumber] = Field(min_length=1)
    effective_date: date = Field(
        description="The successor's implementation date (CST): the old one applies until then."
    )
    superseded_at: AwareDatetime


ClockName = Literal["filing", "eco_filing", "text_disclosure", "review"]
"""The statutory clocks of a published standard: filing (备案) with the national authority per party,
the second filing of a mandatory environmental standard with the ecology and environment authority
per party, text disclosure, and the periodic review (复审)."""

Happening = Literal["due_soon", "overdue", "met"]

ReviewOutcome = Literal["continue", "revise", "abolish", "convert", "integrate"]
"""复审结论: keep as is, revise (a revision project supersedes it), abolish (废止), convert (mandatory to
recommended), integrate (into another standard)."""

FilingAuthority = Literal["national", "ecology_environment"]


class _StandardFact(EventModel):
    topic: ClassVar[Topic] = PUBLICATION_STANDARDS
    subject_field: ClassVar[str] = "standard_id"

    standard_id: str = Field(min_length=1, max_length=64)
    area: str = Field(min_length=1, max_length=32)
    parties: list[RegionCode] = Field(min_length=1)
    numbers: list[PartyNumber] = Field(min_length=1)


class StandardClockChanged(_StandardFact):
    """A statutory clock of a published standard became due soon, went overdue, or was met."""

    event_type: ClassVar[str] = "cn.regstd.publication.standard.clock-changed.v1"

    clock: ClockName
    party: RegionCode | None = Field(default=None, description="For a filing clock: whose filing.")
    happening: Happening
    due_on: date = Field(description="The deadline, a calendar date in China Standard Time.")
    on: date = Field(description="When it happened, a calendar date in China Standard Time.")
    days_late: int = Field(description="Days past the deadline on that date; negative when early.")
    detected_at: AwareDatetime
    provisional: bool = Field(
        default=False,
        description="The deadline was counted from the statutory holidays by rule, before the State "
        "Council announced that year's arrangement; it is recomputed once the arrangement is known.",
    )


class StandardClockRescheduled(_StandardFact):
    """A deadline counted provisionally was recomputed from the announced holiday arrangement (or a
    deadline that could not be counted now can): its due date moved, or it is no longer provisional."""

    event_type: ClassVar[str] = "cn.regstd.publication.standard.clock-rescheduled.v1"

    clock: ClockName
    party: RegionCode | None = Field(default=None, description="For a filing clock: whose filing.")
    previous_due_on: date | None = Field(description="The deadline before; none when it was unknown.")
    due_on: date = Field(description="The deadline now, a calendar date in China Standard Time.")
    provisional: bool = Field(description="Whether the new deadline is still counted by rule only.")
    detected_at: AwareDatetime


RefusalRule = Literal[
    "no_joint_block",
    "unknown_project",
    "not_finally_approved",
    "revision_target_missing",
    "revision_target_not_in_force",
    "revision_parties_differ",
    "designation_taken",
    "number_not_issued",
    "invalid_approval",
]
"""Why publication refused a final approval (see `ApprovalRefused`)."""


class ApprovalRefused(EventModel):
    """Publication will not number and publish a finally approved project, and says why.

    Every `ProjectFinallyApproved` ends in exactly one of `StandardPublished` (or a standard numbered
    for later publication) and this event. Keyed by the id the standard would have had, so that it is
    ordered with anything else publication says about that project's standard; intake shows the
    refusal on the project.
    """

    event_type: ClassVar[str] = "cn.regstd.publication.approval.refused.v1"
    topic: ClassVar[Topic] = PUBLICATION_STANDARDS
    subject_field: ClassVar[str] = "standard_id"

    standard_id: str = Field(min_length=1, max_length=64)
    project_id: str = Field(min_length=1, max_length=64)
    area: str = Field(min_length=1, max_length=32)
    parties: list[RegionCode] = Field(min_length=1)
    rule: RefusalRule = Field(description="The rule the approval breaks, as a stable code.")
    reason: str = Field(min_length=1, max_length=2000, description="The refusal in plain words.")
    approval_id: str = Field(min_length=1, max_length=64, description="The CloudEvents id of the approval.")
    refused_at: AwareDatetime


class StandardFiled(_StandardFact):
    """One party filed (备案) the published standard with an authority."""

    event_type: ClassVar[str] = "cn.regstd.publication.standard.filed.v1"

    party: RegionCode
    authority: FilingAuthority
    filing_number: str = Field(min_length=1, max_length=64)
    filed_on: date = Field(description="Calendar date in China Standard Time.")
    recorded_by: Actor
    recorded_at: AwareDatetime


class StandardTextDisclosed(_StandardFact):
    """The full text of the published standard was made public."""

    event_type: ClassVar[str] = "cn.regstd.publication.standard.text-disclosed.v1"

    location: str = Field(min_length=1, max_length=2048, description="Where the public reads the text.")
    disclosed_on: date = Field(description="Calendar date in China Standard Time.")
    recorded_by: Actor
    recorded_at: AwareDatetime


class ReviewConclusion(ContractModel):
    """One party's review (复审) conclusion."""

    party: RegionCode
    outcome: ReviewOutcome
    reason: str | None = Field(default=None, max_length=5000)


class StandardReviewConcluded(_StandardFact):
    """Every party concluded the review (复审) of a standard with the same outcome."""

    event_type: ClassVar[str] = "cn.regstd.publication.standard.review-concluded.v1"

    outcome: ReviewOutcome
    conclusions: list[ReviewConclusion] = Field(min_length=1)
    concluded_on: date = Field(description="Calendar date in China Standard Time.")
    next_review_due: date | None = Field(
        default=None, description="For continue or convert: when the next review is due."
    )
    concluded_at: AwareDatetime


__all__ = [
    "ApprovalRefused",
    "ClockName",
    "FilingAuthority",
    "Happening",
    "NumberNotIssued",
    "PartyNumber",
    "RefusalRule",
    "ReviewConclusion",
    "ReviewOutcome",
    "StandardClockChanged",
    "StandardClockRescheduled",
    "StandardFiled",
    "StandardPublished",
    "StandardReviewConcluded",
    "StandardSuperseded",
    "StandardTextDisclosed",
    "StandardWithdrawn",
    "TextReference",
]
