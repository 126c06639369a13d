"""The HTTP API of project intake: propose joint projects, vote in their ballots, and move them
through drafting, public comment and technical review to final approval.

Any authenticated principal may read. Only regulators write: a regulator records positions and
review conclusions for its own region only, and proposes or advances only projects its region takes
part in.
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from regstd.contracts.common import RegionCode, TextReference
from regstd.contracts.intake import OverlapMatch, Position, Stage
from regstd.intake.app.intake import Intake
from regstd.intake.app.ports import Filters
from regstd.intake.domain.project import Project, Status
from regstd.intake.domain.proposal import Proposal
from regstd.intake.http import Cases
from regstd.kernel.clocks import ClockView
from regstd.runtime.http import Caller, Command, Limit, Offset, Responses, refusals

_REFUSALS = refusals(
    {
        401: "No bearer token, or an unknown one.",
        403: "The caller may not do this: not a regulator, or not for this region or project.",
        404: "No such project.",
        409: "The step does not fit the project's state; the message says which state it is in.",
        422: "The request is malformed or contradicts the rules; the message says why.",
    }
)
_READ_REFUSALS: Responses = {k: v for k, v in _REFUSALS.items() if k in (401, 404, 422)}


ProjectIdPath = Annotated[
    str, Path(min_length=1, max_length=64, description="The project id, e.g. prj-3f2a9c1d0b7e.")
]
Party = Annotated[RegionCode, Field(pattern=r"^[0-9]{2}$", description="A party's region code, e.g. 50.")]


# ---------------------------------------------------------------------------------------------
# Bodies


class ProposeProject(Proposal, Command):
    """A proposal (立项申请). The project-approval ballot (立项) opens at once."""


class PreviewOverlaps(Proposal, Command):
    """A proposal as it would be sent, to see its overlap matches before proposing it."""


class OverlapPreview(BaseModel):
    """The overlap matches a proposal would get now, best first; nothing was stored."""

    matches: list[OverlapMatch] = Field(
        description="Projects and published standards scoring at least the threshold, best first."
    )


class RecordPosition(Command):
    """A party's position in an open ballot; a party may change it while the ballot is open."""

    party: Party
    position: Position = Field(
        description="approve, reject (the ballot fails at once) or object (holds the ballot until this "
        "party records another position; needs a reason)."
    )
    reason: str | None = Field(default=None, max_length=5000, description="Why; required to object.")


class OpenPublicComment(Command):
    """Open the public comment period (征求意见)."""

    closes_on: date | None = Field(
        default=None,
        description="Earliest closing date (China Standard Time); at least the minimum period "
        "(30 days by default) and at most the maximum (90 days by default) after today; default: "
        "the minimum.",
    )


class AmendPublicComment(Command):
    """Move the closing date of the open public comment period."""

    closes_on: date = Field(
        description="The new closing date (China Standard Time): at least the minimum period and at "
        "most the maximum after the opening, and not before today."
    )
    reason: str | None = Field(default=None, max_length=2000, description="Why it moves, optional.")


class RecordReviewConclusion(Command):
    """A party's conclusion of the coordinated technical review (协同审查)."""

    party: Party
    conclusion: str = Field(min_length=1, max_length=5000, description="The review conclusion (审查结论).")
    passed: bool = Field(description="Whether the party's review passed.")


class SubmitForFinalApproval(Command):
    """The final text, for the final-approval ballot (批准)."""

    text: TextReference = Field(description="Where the final text lives and its SHA-256 digest.")


class ProjectView(Project):
    """A joint project with its ballots, positions, milestones, overlap matches, clocks and, once
    finally approved, what publication did with it (`publication`)."""

    next_step: str = Field(description="What the project waits for, in words.")
    deadlines: list[ClockView] = Field(
        description="The project's clocks as of today (CST): each deadline, its state and days overdue."
    )

    @classmethod
    def of(cls, project: Project, today: date) -> "ProjectView":
        """The view of a project on a given date."""
        return cls(
            **dict(project),
            next_step=project.describe_next_step(),
            deadlines=[ClockView.of(c, today) for c in project.clocks],
        )


class ProjectPage(BaseModel):
    """A page of projects, newest first."""

    items: list[ProjectView]
    total: int = Field(description="How many projects match the filters.")
    limit: int
    offset: int


# ---------------------------------------------------------------------------------------------
# Routes


router = APIRouter()
"""The routes of projects: propose, read, vote, and the lifecycle between the ballots."""


def _view(intake: Intake, project: Project) -> ProjectView:
    return ProjectView.of(project, intake.today())


@router.post(
    "/projects",
    tags=["projects"],
    summary="Propose a joint standard project (立项申请)",
    status_code=201,
    response_model=ProjectView,
    responses={k: v for k, v in _REFUSALS.items() if k not in (404, 409)},
)
async def propose(body: ProposeProject, caller: Caller, intake: Cases) -> ProjectView:
    """Propose a project for a cooperation area. The parties are at least two distinct members of
    the area, the caller's region among them. The overlap check compares the title and scope with
    existing projects and published standards; matches are a warning shown to the voters, never a
    refusal. The project-approval ballot (立项) opens at once with its deadline."""
    caller.require_regulator()
    return _view(intake, await intake.propose(body, caller))


@router.post(
    "/projects/overlaps",
    tags=["projects"],
    summary="Preview a proposal's overlap matches, without proposing it",
    response_model=OverlapPreview,
    responses={k: v for k, v in _REFUSALS.items() if k not in (404, 409)},
)
async def preview_overlaps(body: PreviewOverlaps, caller: Caller, intake: Cases) -> OverlapPreview:
    """The overlap matches the proposal would get if proposed now, so that its regulator sees them
    before submitting. Refused exactly as the proposal would be (a regulator of one of the parties, a
    joint area, a Chinese title, …); nothing is stored and no event is sent."""
    caller.require_regulator()
    return OverlapPreview(matches=await intake.preview_overlaps(body, caller))


@router.get(
    "/projects",
    tags=["projects"],
    summary="List projects",
    response_model=ProjectPage,
    responses={k: v for k, v in _READ_REFUSALS.items() if k != 404},
)
async def list_projects(
    _: Caller,
    intake: Cases,
    status: Annotated[Status | None, Query(description="Only projects in this state.")] = None,
    area: Annotated[str | None, Query(max_length=32, description="Cooperation area id.")] = None,
    party: Annotated[
        str | None, Query(pattern=r"^[0-9]{2}$", description="Only projects with this party.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ProjectPage:
    """Projects, newest first. Any authenticated principal may read."""
    found, total = await intake.search(Filters(status, area, party), limit=limit, offset=offset)
    return ProjectPage(items=[_view(intake, p) for p in found], total=total, limit=limit, offset=offset)


@router.get(
    "/projects/{project_id}",
    tags=["projects"],
    summary="A project with its ballots, milestones and overlap matches",
    response_model=ProjectView,
    responses=_READ_REFUSALS,
)
async def get_project(project_id: ProjectIdPath, _: Caller, intake: Cases) -> ProjectView:
    """Everything about one project: its state and next step, both ballots with every party's
    position and their history, the public comment period, the review conclusions, the
    milestones with who and when, and the overlap matches. Any authenticated principal may read."""
    return _view(intake, await intake.project(project_id))


@router.post(
    "/projects/{project_id}/ballots/{stage}/positions",
    tags=["ballots"],
    summary="Record a party's position in a ballot",
    response_model=ProjectView,
    responses=_REFUSALS,
)
async def record_position(
    project_id: ProjectIdPath,
    stage: Annotated[Stage, Path(description="project_approval (立项) or final_approval (批准).")],
    body: RecordPosition,
    caller: Caller,
    intake: Cases,
) -> ProjectView:
    """The regulator of a party records approve, reject or object, for its own region only. The
    ballot passes when every party approves and fails when any party rejects (the project ends
    rejected); an objection holds it until the objecting party records another position. A
    decided ballot takes no more positions (409). Recording the same position again changes
    nothing."""
    caller.require_region(body.party)
    project = await intake.record_position(
        project_id,
        stage=stage,
        party=body.party,
        position=body.position,
        reason=body.reason,
        by=caller,
    )
    return _view(intake, project)


@router.post(
    "/projects/{project_id}/drafting",
    tags=["lifecycle"],
    summary="Start joint drafting (起草)",
    response_model=ProjectView,
    responses=_REFUSALS,
)
async def start_drafting(project_id: ProjectIdPath, caller: Caller, intake: Cases) -> ProjectView:
    """After the project-approval ballot passed, a party's regulator starts the joint drafting."""
    caller.require_regulator()
    return _view(intake, await intake.start_drafting(project_id, by=caller))


@router.post(
    "/projects/{project_id}/public-comment",
    tags=["lifecycle"],
    summary="Open public comment (征求意见)",
    response_model=ProjectView,
    responses=_REFUSALS,
)
async def open_public_comment(
    project_id: ProjectIdPath, caller: Caller, intake: Cases, body: OpenPublicComment | None = None
) -> ProjectView:
    """During drafting, a party's regulator opens the comment period. It closes no earlier than
    the minimum period and no later than the maximum after today (China Standard Time); a closing
    date outside that window is refused (422, naming both bounds). Without a body the period is
    exactly the minimum."""
    caller.require_regulator()
    closes_on = body.closes_on if body else None
    return _view(intake, await intake.open_public_comment(project_id, closes_on=closes_on, by=caller))


@router.post(
    "/projects/{project_id}/public-comment/close-date",
    tags=["lifecycle"],
    summary="Move the closing date of public comment",
    response_model=ProjectView,
    responses=_REFUSALS,
)
async def amend_public_comment(
    project_id: ProjectIdPath, body: AmendPublicComment, caller: Caller, intake: Cases
) -> ProjectView:
    """While the comment period is open, any party's regulator moves its closing date, earlier or
    later: within the window counted from the opening (at least the minimum period, at most the
    maximum) and not before today (China Standard Time); outside it 422 names the bounds. The
    public-comment clock follows (`PublicCommentAmended`, `ProjectClockRescheduled`). The same date
    again changes nothing."""
    caller.require_regulator()
    project = await intake.amend_public_comment(
        project_id, closes_on=body.closes_on, reason=body.reason, by=caller
    )
    return _view(intake, project)


@router.post(
    "/projects/{project_id}/public-comment/close",
    tags=["lifecycle"],
    summary="Close public comment; technical review begins",
    response_model=ProjectView,
    responses=_REFUSALS,
)
async def close_public_comment(project_id: ProjectIdPath, caller: Caller, intake: Cases) -> ProjectView:
    """On or after the closing date a party's regulator closes the comment period, and the
    coordinated technical review (协同审查) begins. Before the closing date: 409."""
    caller.require_regulator()
    return _view(intake, await intake.close_public_comment(project_id, by=caller))


@router.post(
    "/projects/{project_id}/review-conclusions",
    tags=["lifecycle"],
    summary="Record a party's technical review conclusion (协同审查)",
    response_model=ProjectView,
    responses=_REFUSALS,
)
async def record_review_conclusion(
    project_id: ProjectIdPath, body: RecordReviewConclusion, caller: Caller, intake: Cases
) -> ProjectView:
    """During technical review the regulator of a party records its conclusion, for its own
    region only; a later conclusion of the same party replaces the earlier one."""
    caller.require_region(body.party)
    project = await intake.record_review_conclusion(
        project_id, party=body.party, conclusion=body.conclusion, passed=body.passed, by=caller
    )
    return _view(intake, project)


@router.post(
    "/projects/{project_id}/submission",
    tags=["lifecycle"],
    summary="Submit the final text for final approval (批准)",
    response_model=ProjectView,
    responses=_REFUSALS,
)
async def submit_for_final_approval(
    project_id: ProjectIdPath, body: SubmitForFinalApproval, caller: Caller, intake: Cases
) -> ProjectView:
    """Once every party recorded a passing review conclusion, a party's regulator submits the final
    text; the final-approval ballot (批准) opens. When it passes, ProjectFinallyApproved goes to
    publication. The text's location is an https: or http: URL (anything else: 422)."""
    caller.require_regulator()
    return _view(intake, await intake.submit_for_final_approval(project_id, text=body.text, by=caller))
