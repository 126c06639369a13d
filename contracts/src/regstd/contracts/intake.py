"""Events of the project-intake service, on `regstd.intake.projects.v1`, keyed by project id.

A joint project goes: proposed → project-approval ballot (立项) → drafting → public comment →
coordinated technical review → submitted for final approval → final-approval ballot (批准). A ballot
passes when every party approves and fails when any party rejects; an objection blocks it until the
objecting party records another position.
"""

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from regstd.contracts.common import Actor, ContractModel, Kind, RegionCode, TextReference
from regstd.contracts.envelope import EventModel
from regstd.contracts.topics import INTAKE_PROJECTS, Topic

Stage = Literal["project_approval", "final_approval"]
"""The two ballots of a project: 立项 and 批准."""

Position = Literal["approve", "reject", "object"]

ProjectClock = Literal["ballot", "public_comment", "cycle_time"]
"""The clocks of a project: each ballot's deadline, the end of public comment (征求意见), and the
cycle-time target (制定周期) from project approval."""

ClockHappening = Literal["due_soon", "overdue", "met"]

Milestone = Literal[
    "drafting_started",
    "public_comment_opened",
    "public_comment_closed",
    "review_conclusion_recorded",
    "submitted_for_final_approval",
]


class _ProjectEvent(EventModel):
    topic: ClassVar[Topic] = INTAKE_PROJECTS
    subject_field: ClassVar[str] = "project_id"

    project_id: str = Field(min_length=1, max_length=64)


class OverlapMatch(ContractModel):
    """An existing project or published standard whose title and scope resemble a proposal's."""

    kind: Literal["project", "standard"]
    ref: str = Field(description="The project id or standard id.")
    title_zh: str
    number: str | None = Field(default=None, description="The standard's number, for a standard.")
    score: float = Field(ge=0, le=1, description="Similarity, 1 for identical text.")


class ProjectProposed(_ProjectEvent):
    """A regulator proposed a joint standard project (立项申请) for an area."""

    event_type: ClassVar[str] = "cn.regstd.intake.project.proposed.v1"

    area: str
    parties: list[RegionCode] = Field(min_length=1)
    title_zh: str = Field(min_length=1, max_length=500)
    title_en: str | None = Field(default=None, max_length=500)
    scope: str = Field(min_length=1, max_length=5000)
    category: str = Field(min_length=1, max_length=64)
    kind: Kind
    eco_civilization: bool = False
    proposing_organisations: list[str] = Field(default_factory=list)
    proposed_by: Actor
    proposed_at: AwareDatetime
    overlap_matches: list[OverlapMatch] = Field(default_factory=list)
    supersedes: str | None = Field(
        default=None, max_length=64, description="For a revision project: the standard id it revises."
    )


class BallotOpened(_ProjectEvent):
    """A ballot opened: every party records a position before the deadline."""

    event_type: ClassVar[str] = "cn.regstd.intake.ballot.opened.v1"

    stage: Stage
    parties: list[RegionCode] = Field(min_length=1)
    opened_at: AwareDatetime
    deadline: AwareDatetime


class PositionRecorded(_ProjectEvent):
    """One party's regulator recorded or changed its position in an open ballot."""

    event_type: ClassVar[str] = "cn.regstd.intake.ballot.position-recorded.v1"

    stage: Stage
    party: RegionCode
    position: Position
    previous: Position | None = Field(default=None, description="The position it replaced, if any.")
    reason: str | None = Field(default=None, max_length=5000)
    recorded_by: Actor
    recorded_at: AwareDatetime


class PartyPosition(ContractModel):
    """A party's final position in a decided ballot."""

    party: RegionCode
    position: Position
    reason: str | None = None


class BallotDecided(_ProjectEvent):
    """A ballot passed (every party approved) or failed (a party rejected)."""

    event_type: ClassVar[str] = "cn.regstd.intake.ballot.decided.v1"

    stage: Stage
    outcome: Literal["passed", "failed"]
    positions: list[PartyPosition]
    decided_at: AwareDatetime


class BallotOverdue(_ProjectEvent):
    """A ballot passed its deadline undecided; emitted once per ballot."""

    event_type: ClassVar[str] = "cn.regstd.intake.ballot.overdue.v1"

    stage: Stage
    deadline: AwareDatetime
    waiting_for: list[RegionCode] = Field(description="Parties without an approving position.")
    detected_at: AwareDatetime


class ProjectClockChanged(_ProjectEvent):
    """A clock of a project became due soon, went overdue, or was met; each once per clock.

    `ballot`: a ballot's deadline, met when the ballot is decided (its overdue transition also emits
    `BallotOverdue`). `public_comment`: the end of the comment period, met when it is closed.
    `cycle_time`: the target from project approval (立项), met at final approval (批准), the last step
    intake sees (publication follows it).
    """

    event_type: ClassVar[str] = "cn.regstd.intake.project.clock-changed.v1"

    area: str
    clock: ProjectClock
    stage: Stage | None = Field(default=None, description="For a ballot clock: which ballot.")
    happening: ClockHappening
    due_on: date = Field(description="The deadline, a calendar date in China Standard Time.")
    on: date = Field(description="When it happened, a calendar date in China Standard Time.")
    days_late: int = Field(description="Days past the deadline on that date; negative when early.")
    detected_at: AwareDatetime
    provisional: bool = Field(
        default=False,
        description="The deadline was counted from the statutory holidays by rule, before the State "
        "Council announced that year's arrangement; it is recomputed once the arrangement is known.",
    )


class ProjectClockRescheduled(_ProjectEvent):
    """A deadline counted provisionally was recomputed from the announced holiday arrangement (or a
    deadline that could not be counted now can): its due date moved, or it is no longer provisional."""

    event_type: ClassVar[str] = "cn.regstd.intake.project.clock-rescheduled.v1"

    area: str
    clock: ProjectClock
    stage: Stage | None = Field(default=None, description="For a ballot clock: which ballot.")
    previous_due_on: date | None = Field(description="The deadline before; none when it was unknown.")
    due_on: date = Field(description="The deadline now, a calendar date in China Standard Time.")
    provisional: bool = Field(description="Whether the new deadline is still counted by rule only.")
    detected_at: AwareDatetime


class MilestoneRecorded(_ProjectEvent):
    """A lifecycle step between the ballots, with who did it and when."""

    event_type: ClassVar[str] = "cn.regstd.intake.project.milestone-recorded.v1"

    milestone: Milestone
    recorded_by: Actor
    recorded_at: AwareDatetime
    party: RegionCode | None = Field(default=None, description="For a review conclusion: whose.")
    conclusion: str | None = Field(default=None, max_length=5000)
    review_passed: bool | None = Field(
        default=None, description="For a review conclusion: whether the party's review passed."
    )
    comment_closes_on: date | None = Field(
        default=None, description="For public comment: the earliest closing date (China Standard Time)."
    )
    text: TextReference | None = Field(default=None, description="For submission: the final text.")


class ProjectFinallyApproved(_ProjectEvent):
    """Every party approved the final text (批准): publication numbers and publishes it."""

    event_type: ClassVar[str] = "cn.regstd.intake.project.finally-approved.v1"

    area: str
    parties: list[RegionCode] = Field(min_length=1)
    title_zh: str = Field(min_length=1, max_length=500)
    title_en: str | None = Field(default=None, max_length=500)
    scope: str = Field(min_length=1, max_length=5000)
    category: str = Field(min_length=1, max_length=64)
    kind: Kind
    eco_civilization: bool = False
    text: TextReference
    project_approved_at: AwareDatetime = Field(
        description="When the 立项 ballot passed: cycle time starts here."
    )
    approved_at: AwareDatetime
    supersedes: str | None = Field(
        default=None,
        max_length=64,
        description="For a revision project: the standard id it revises; publication keeps that "
        "standard's sequence number, takes the new year and supersedes it.",
    )


class PublicCommentAmended(_ProjectEvent):
    """A party's regulator moved the closing date of an open public comment period (征求意见).

    The new date stays within the window counted from the opening (at least the minimum period, at
    most the maximum) and is not in the past; the public-comment clock follows it
    (`ProjectClockRescheduled`).
    """

    event_type: ClassVar[str] = "cn.regstd.intake.project.public-comment-amended.v1"

    opened_on: date = Field(description="When the period opened, China Standard Time.")
    previous_closes_on: date = Field(description="The closing date before, China Standard Time.")
    closes_on: date = Field(description="The closing date now, China Standard Time.")
    reason: str | None = Field(default=None, max_length=2000)
    amended_by: Actor
    amended_at: AwareDatetime
