"""A joint standard project and its rules. Pure: no I/O, the clock and the caller come in as values.

A project goes, in this order:

    awaiting_project_approval   the 立项 ballot is open from the moment it is proposed
        │  every party approves            (any party rejects → rejected, the end)
    project_approved
        │  start drafting (起草)
    drafting
        │  open public comment (征求意见), closing no earlier than the minimum period allows
    public_comment
        │  close public comment, on or after its closing date
    technical_review            each party records its review conclusion (协同审查)
        │  submit the final text, once every party's conclusion passed
    awaiting_final_approval     the 批准 ballot is open
        │  every party approves            (any party rejects → rejected, the end)
    finally_approved

In a ballot each party's regulator records approve, reject or object; an objection needs a reason
and holds the ballot until that party records another position. A party may change its position
while the ballot is open. A ballot past its deadline is flagged overdue once and stays open.

Clocks (`regstd.runtime.clocks`, stored in the project; periods are configuration, `ClockRules`):

| clock | starts on | default period | met by |
|---|---|---|---|
| `ballot:<stage>` | the ballot's opening | 30 calendar days | the ballot's decision |
| `public_comment` | the period's opening | 30 calendar days (or the later date chosen) | closing it |
| `cycle_time` | project approval (立项) | 18 months, per area | final approval (批准) |

Each says `due_soon`, `overdue` and `met` once (`ProjectClockChanged`); a ballot's `overdue` also
says `BallotOverdue`. A rejected project's clocks stop.

Each command method checks who acts and whether the step fits, changes the project, and returns the
contract events to publish; a refused command raises before anything changes.
"""

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from regstd.contracts.common import Actor, Kind, RegionCode, TextReference
from regstd.contracts.envelope import EventModel
from regstd.contracts.intake import (
    BallotDecided,
    BallotOpened,
    BallotOverdue,
    Milestone,
    MilestoneRecorded,
    OverlapMatch,
    PartyPosition,
    Position,
    PositionRecorded,
    ProjectClock,
    ProjectClockChanged,
    ProjectFinallyApproved,
    ProjectProposed,
    Stage,
)
from regstd.contracts.reference import Area, Reference
from regstd.kernel.calendar import CalendarUnknown
from regstd.kernel.clocks import Clock, Period, Tick, check_all, kind_of, meet, scheduling_fields
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.principals import Principal
from regstd.kernel.time import china_date, start_of_china_day

Status = Literal[
    "awaiting_project_approval",
    "project_approved",
    "drafting",
    "public_comment",
    "technical_review",
    "awaiting_final_approval",
    "finally_approved",
    "rejected",
]

STATUS_WORDS: dict[Status, str] = {
    "awaiting_project_approval": "awaiting project approval (the 立项 ballot is open)",
    "project_approved": "approved as a project (立项 passed) and not yet drafting",
    "drafting": "in drafting (起草)",
    "public_comment": "open for public comment (征求意见)",
    "technical_review": "in coordinated technical review (协同审查)",
    "awaiting_final_approval": "awaiting final approval (the 批准 ballot is open)",
    "finally_approved": "finally approved (批准)",
    "rejected": "rejected",
}

STAGE_WORDS: dict[Stage, str] = {
    "project_approval": "project-approval ballot (立项)",
    "final_approval": "final-approval ballot (批准)",
}

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

ProjectId = str


def new_project_id() -> ProjectId:
    """A fresh project id: `prj-` and twelve hex digits."""
    return f"prj-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class ClockRules:
    """The configurable periods and warnings of a project's clocks (defaults: the reference data's)."""

    ballot: Period = field(default_factory=lambda: Period(amount=30, unit="calendar_days"))
    public_comment: Period = field(default_factory=lambda: Period(amount=30, unit="calendar_days"))
    cycle_time_months: int = 18
    cycle_time_months_by_area: Mapping[str, int] = field(default_factory=dict)
    warning_days: Mapping[str, int] = field(
        default_factory=lambda: {"ballot": 5, "public_comment": 5, "cycle_time": 60}
    )

    def cycle_time(self, area: str) -> Period:
        """The cycle-time target of an area's projects, from project approval."""
        return Period(amount=self.cycle_time_months_by_area.get(area, self.cycle_time_months), unit="months")

    def warn(self, clock: ProjectClock) -> int:
        """Days before the deadline a clock says `due_soon`."""
        return self.warning_days.get(clock, 0)


def _due(period: Period, start: date, what: str) -> date:
    """A deadline a command needs now; refused (nothing changes) when the calendar cannot count it."""
    try:
        return period.after(start)
    except CalendarUnknown as error:
        raise Conflict(f"cannot count the {what}: {error}") from error


class _Model(BaseModel):
    """Domain values: validated on construction, stored as plain JSON-ready dicts."""

    model_config = ConfigDict(extra="ignore")


# ---------------------------------------------------------------------------------------------
# The proposal


class Proposal(BaseModel):
    """What a regulator proposes (立项申请): the standard to make and the parties that make it."""

    model_config = ConfigDict(frozen=True)

    area: str = Field(
        min_length=1, max_length=32, description="Cooperation area id: chengyu, yrd or yangtze."
    )
    parties: list[RegionCode] = Field(
        min_length=1,
        max_length=32,
        description="Region codes of the parties, at least two distinct members of the area; the "
        "proposing regulator's region must be one of them.",
        examples=[["50", "51"]],
    )
    title_zh: str = Field(
        min_length=1, max_length=500, description="Chinese title; must contain Chinese characters."
    )
    title_en: str | None = Field(default=None, max_length=500, description="English title, optional.")
    scope: str = Field(min_length=1, max_length=5000, description="Scope (范围): what the standard covers.")
    category: str = Field(
        min_length=1,
        max_length=64,
        description="Subject category as a lowercase slug: transport, agriculture, environment, …",
        examples=["transport"],
    )
    kind: Kind = Field(description="recommended (推荐性, DB50/T …) or mandatory (强制性, DB50 …).")
    eco_civilization: bool = Field(
        default=False, description="An eco-civilization (生态文明) standard, open to adoption."
    )
    proposing_organisations: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Organisations that propose the project (提出单位), optional.",
    )
    supersedes: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="For a revision (修订), e.g. after a review concluded `revise`: the id of the "
        "published standard it revises. It needs the same area and parties; the published revision "
        "keeps that standard's sequence number, takes the new year and supersedes it.",
    )


_SLUG = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


def check_proposal(proposal: Proposal, reference: Reference, proposer: Principal) -> Area:
    """Refuse a proposal that breaks the rules; return its area. Changes nothing."""
    proposer.require_regulator()
    try:
        area = reference.area(proposal.area)
    except KeyError:
        raise Invalid(
            f"unknown area {proposal.area!r}; the areas are {', '.join(sorted(reference.areas))}"
        ) from None
    if not _HAN.search(proposal.title_zh):
        raise Invalid("title_zh must be a Chinese title: it contains no Chinese characters")
    if not _SLUG.match(proposal.category):
        raise Invalid(
            f"category {proposal.category!r} must be a lowercase slug such as transport or "
            "agriculture (letters, digits, '-' or '_')"
        )
    repeated = sorted({p for p in proposal.parties if proposal.parties.count(p) > 1})
    if repeated:
        raise Invalid(f"each party may be named once; named more than once: {', '.join(repeated)}")
    outsiders = [p for p in proposal.parties if p not in area.parties]
    if outsiders:
        raise Invalid(
            f"{', '.join(outsiders)} {'is' if len(outsiders) == 1 else 'are'} not a member of "
            f"{area.id} ({area.name_zh}); its members are {', '.join(area.parties)}"
        )
    if len(proposal.parties) < area.min_parties:
        raise Invalid(
            f"a joint project of {area.id} needs at least {area.min_parties} distinct parties "
            f"from {', '.join(area.parties)}; got {len(proposal.parties)}"
        )
    if proposer.code not in proposal.parties:
        raise Forbidden(
            f"the regulator of region {proposer.code} may propose only a project its region takes "
            f"part in; the proposed parties are {', '.join(proposal.parties)}"
        )
    if any(not o.strip() for o in proposal.proposing_organisations):
        raise Invalid("proposing_organisations may not contain an empty name")
    return area


# ---------------------------------------------------------------------------------------------
# The parts of a project


class RecordedPosition(_Model):
    """A party's position in a ballot, who recorded it and when."""

    party: RegionCode
    position: Position
    reason: str | None = None
    recorded_by: Actor
    recorded_at: AwareDatetime


class Ballot(_Model):
    """One ballot: every party records a position; open until it passes or fails."""

    stage: Stage
    parties: list[RegionCode]
    opened_at: AwareDatetime
    deadline: AwareDatetime
    positions: dict[RegionCode, RecordedPosition] = Field(
        default_factory=dict, description="Each party's current position."
    )
    history: list[RecordedPosition] = Field(
        default_factory=list, description="Every position recorded, in order, changes included."
    )
    outcome: Literal["passed", "failed"] | None = Field(
        default=None, description="None while the ballot is open."
    )
    decided_at: AwareDatetime | None = None
    overdue_at: AwareDatetime | None = Field(
        default=None, description="When the ballot was found past its deadline undecided."
    )

    @property
    def is_open(self) -> bool:
        return self.outcome is None

    def waiting_for(self) -> list[RegionCode]:
        """Parties without an approving position, in the parties' order."""
        return [p for p in self.parties if p not in self.positions or self.positions[p].position != "approve"]

    def objections(self) -> list[RegionCode]:
        return [p for p in self.parties if p in self.positions and self.positions[p].position == "object"]


def ballot_clock(stage: Stage) -> str:
    """The name of a ballot's clock."""
    return f"ballot:{stage}"


def clock_names(kind: ProjectClock) -> list[str]:
    """The names the clocks of a kind have in a project: one per ballot, else the kind itself."""
    return [ballot_clock(stage) for stage in get_args(Stage)] if kind == "ballot" else [kind]


class ReviewConclusion(_Model):
    """A party's conclusion of the coordinated technical review."""

    party: RegionCode
    conclusion: str
    passed: bool
    recorded_by: Actor
    recorded_at: AwareDatetime


class PublicComment(_Model):
    """The public comment period (征求意见)."""

    opened_at: AwareDatetime
    opened_by: Actor
    closes_on: date = Field(description="Earliest closing date, China Standard Time.")
    closed_at: AwareDatetime | None = None
    closed_by: Actor | None = None


class MilestoneEntry(_Model):
    """A lifecycle step between the ballots, who did it and when."""

    milestone: Milestone
    recorded_by: Actor
    recorded_at: AwareDatetime
    party: RegionCode | None = None
    conclusion: str | None = None
    passed: bool | None = None
    comment_closes_on: date | None = None
    text: TextReference | None = None


# ---------------------------------------------------------------------------------------------
# The aggregate


class Project(_Model):
    """A joint standard project of N parties, from proposal to final approval."""

    project_id: ProjectId = Field(description="The project id: prj- and twelve hex digits.")
    area: str
    parties: list[RegionCode]
    title_zh: str
    title_en: str | None = None
    scope: str
    category: str
    kind: Kind
    eco_civilization: bool = False
    proposing_organisations: list[str] = Field(default_factory=list)
    proposed_by: Actor
    proposed_at: AwareDatetime
    overlap_matches: list[OverlapMatch] = Field(
        default_factory=list,
        description="Existing projects and published standards that resemble this one, best first; "
        "a warning for the voters, never a refusal.",
    )
    status: Status
    ballots: dict[Stage, Ballot] = Field(default_factory=dict)
    public_comment: PublicComment | None = None
    review_conclusions: dict[RegionCode, ReviewConclusion] = Field(default_factory=dict)
    text: TextReference | None = Field(default=None, description="The final text submitted for 批准.")
    milestones: list[MilestoneEntry] = Field(default_factory=list)
    project_approved_at: AwareDatetime | None = Field(
        default=None, description="When the 立项 ballot passed: cycle time starts here."
    )
    finally_approved_at: AwareDatetime | None = None
    rejected_at: AwareDatetime | None = None
    supersedes: str | None = Field(default=None, description="For a revision: the standard it revises.")
    clocks: list[Clock] = Field(
        default_factory=list,
        description="The project's clocks: each ballot's deadline, the end of public comment and the "
        "cycle-time target (empty only in a project stored before projects had clocks).",
    )

    # -- creation ------------------------------------------------------------------------------

    @classmethod
    def propose(
        cls,
        proposal: Proposal,
        *,
        project_id: ProjectId,
        reference: Reference,
        proposer: Principal,
        now: datetime,
        overlap_matches: Sequence[OverlapMatch] = (),
        rules: ClockRules,
    ) -> tuple["Project", list[EventModel]]:
        """A new project whose 立项 ballot opens at once; with ProjectProposed and BallotOpened."""
        area = check_proposal(proposal, reference, proposer)
        parties = [p for p in area.parties if p in proposal.parties]  # the area's order
        actor = proposer.actor()
        project = cls(
            project_id=project_id,
            area=area.id,
            parties=parties,
            title_zh=proposal.title_zh,
            title_en=proposal.title_en or None,
            scope=proposal.scope,
            category=proposal.category,
            kind=proposal.kind,
            eco_civilization=proposal.eco_civilization,
            proposing_organisations=[o.strip() for o in proposal.proposing_organisations],
            proposed_by=actor,
            proposed_at=now,
            overlap_matches=list(overlap_matches),
            status="awaiting_project_approval",
            supersedes=proposal.supersedes,
        )
        proposed = ProjectProposed(
            project_id=project.project_id,
            area=project.area,
            parties=project.parties,
            title_zh=project.title_zh,
            title_en=project.title_en,
            scope=project.scope,
            category=project.category,
            kind=project.kind,
            eco_civilization=project.eco_civilization,
            proposing_organisations=project.proposing_organisations,
            proposed_by=actor,
            proposed_at=now,
            overlap_matches=project.overlap_matches,
            supersedes=project.supersedes,
        )
        return project, [proposed, project._open_ballot("project_approval", now, rules)]

    # -- ballots -------------------------------------------------------------------------------

    def record_position(
        self,
        *,
        stage: Stage,
        party: RegionCode,
        position: Position,
        reason: str | None,
        by: Principal,
        now: datetime,
        rules: ClockRules,
    ) -> list[EventModel]:
        """A party's regulator records or changes its position; the ballot may be decided by it.

        Recording the position a party already holds, with the same reason, changes nothing.
        """
        by.require_region(party)
        self._require_party(party, "vote in this project's ballots")
        reason = (reason or "").strip() or None
        if position == "object" and reason is None:
            raise Invalid("an objection needs a reason: say what must change for the party to approve")
        ballot = self._open_ballot_of(stage)
        current = ballot.positions.get(party)
        if current is not None and (current.position, current.reason) == (position, reason):
            return []
        recorded = RecordedPosition(
            party=party, position=position, reason=reason, recorded_by=by.actor(), recorded_at=now
        )
        ballot.positions[party] = recorded
        ballot.history.append(recorded)
        events: list[EventModel] = [
            PositionRecorded(
                project_id=self.project_id,
                stage=stage,
                party=party,
                position=position,
                previous=None if current is None else current.position,
                reason=reason,
                recorded_by=recorded.recorded_by,
                recorded_at=now,
            )
        ]
        return events + self._decide_if_due(ballot, now, rules)

    def open_ballot(self) -> Ballot | None:
        """The ballot now open, if any (at most one is)."""
        return next((b for b in self.ballots.values() if b.is_open), None)

    # -- clocks ------------------------------------------------------------------------------

    def check_clocks(self, now: datetime, rules: ClockRules) -> list[EventModel]:
        """What the clock scheduler does: start the clocks of a project stored before projects had
        clocks (from its history), then advance every clock to today (CST) and say what happened."""
        if not self.clocks:
            self.clocks = self._clocks_from_history(rules)
        self.clocks, ticks = check_all(self.clocks, china_date(now))
        return self._clock_events(ticks, now)

    def clock(self, name: str) -> Clock | None:
        """The clock with this name, if any."""
        return next((c for c in self.clocks if c.name == name), None)

    def _clocks_from_history(self, rules: ClockRules) -> list[Clock]:
        """The clocks a project would have had, without the happenings already past: what was done is
        met, a ballot already flagged overdue is overdue (no second `BallotOverdue`), a rejected
        project's clocks are stopped. Periods come from the stored dates where they exist."""
        clocks: list[Clock] = []
        for stage, ballot in self.ballots.items():
            opened = china_date(ballot.opened_at)
            days = (china_date(ballot.deadline) - opened).days
            clock = Clock.start(
                ballot_clock(stage), opened, Period(amount=days, unit="calendar_days"), rules.warn("ballot")
            )
            if ballot.decided_at is not None:
                clock, _ = clock.meet(china_date(ballot.decided_at))
            elif ballot.overdue_at is not None:
                clock = clock.model_copy(update={"state": "overdue"})
            clocks.append(clock)
        if self.public_comment is not None:
            comment = self.public_comment
            opened = china_date(comment.opened_at)
            period = Period(amount=(comment.closes_on - opened).days, unit="calendar_days")
            clock = Clock.start("public_comment", opened, period, rules.warn("public_comment"))
            if comment.closed_at is not None:
                clock, _ = clock.meet(china_date(comment.closed_at))
            clocks.append(clock)
        if self.project_approved_at is not None:
            clock = self._cycle_time_clock(self.project_approved_at, rules)
            if self.finally_approved_at is not None:
                clock, _ = clock.meet(china_date(self.finally_approved_at))
            clocks.append(clock)
        if self.status == "rejected":
            clocks = [c.stop() for c in clocks]
        return clocks

    def _cycle_time_clock(self, approved_at: datetime, rules: ClockRules) -> Clock:
        return Clock.start(
            "cycle_time", china_date(approved_at), rules.cycle_time(self.area), rules.warn("cycle_time")
        )

    def _meet(self, name: str, now: datetime) -> list[EventModel]:
        self.clocks, ticks = meet(self.clocks, name, china_date(now))
        return self._clock_events(ticks, now)

    def _clock_events(self, ticks: Sequence[Tick], now: datetime) -> list[EventModel]:
        """`ProjectClockChanged` for each happening; a ballot going overdue also flags the ballot and
        says `BallotOverdue` (the older contract, kept for its consumers)."""
        events: list[EventModel] = []
        for tick in ticks:
            kind, _, stage = tick.clock.partition(":")
            ballot = next((b for s, b in self.ballots.items() if kind == "ballot" and s == stage), None)
            if ballot is not None and tick.happening == "overdue" and ballot.overdue_at is None:
                ballot.overdue_at = now
                events.append(
                    BallotOverdue(
                        project_id=self.project_id,
                        stage=ballot.stage,
                        deadline=ballot.deadline,
                        waiting_for=ballot.waiting_for(),
                        detected_at=now,
                    )
                )
            events.append(
                ProjectClockChanged.model_validate(
                    {
                        "project_id": self.project_id,
                        "area": self.area,
                        "clock": kind_of(tick.clock),
                        "stage": stage or None,
                        "happening": tick.happening,
                        "due_on": tick.due_on,
                        "on": tick.on,
                        "days_late": tick.days_late,
                        "detected_at": now,
                    }
                )
            )
        return events

    # -- between the ballots -------------------------------------------------------------------

    def start_drafting(self, *, by: Principal, now: datetime) -> list[EventModel]:
        """Joint drafting (起草) begins, once the 立项 ballot passed."""
        self._require_party_regulator(by, "start drafting")
        self._require_status("project_approved", "start drafting")
        self.status = "drafting"
        return [self._milestone("drafting_started", by, now)]

    def open_public_comment(
        self, *, by: Principal, now: datetime, closes_on: date | None, rules: ClockRules
    ) -> list[EventModel]:
        """Open the comment period (征求意见); it closes no earlier than the minimum period after
        today (CST), counted by its rule (calendar or Chinese working days). Its clock runs to the
        closing date."""
        self._require_party_regulator(by, "open public comment")
        self._require_status("drafting", "open public comment")
        today = china_date(now)
        minimum = rules.public_comment
        earliest = _due(minimum, today, "end of the public comment period")
        closes_on = closes_on or earliest
        if closes_on < earliest:
            raise Invalid(
                f"public comment opened on {today} cannot close on {closes_on}: the comment "
                f"period runs at least {minimum}, so it closes on {earliest} or later"
            )
        self.public_comment = PublicComment(opened_at=now, opened_by=by.actor(), closes_on=closes_on)
        self.status = "public_comment"
        # A later closing date than the minimum is the period this project runs: its clock follows it.
        period = (
            minimum
            if closes_on == earliest
            else Period(amount=(closes_on - today).days, unit="calendar_days")
        )
        self.clocks.append(Clock.start("public_comment", today, period, rules.warn("public_comment")))
        return [self._milestone("public_comment_opened", by, now, comment_closes_on=closes_on)]

    def close_public_comment(self, *, by: Principal, now: datetime) -> list[EventModel]:
        """Close the comment period, on or after its closing date; technical review follows."""
        self._require_party_regulator(by, "close public comment")
        self._require_status("public_comment", "close public comment")
        assert self.public_comment is not None  # set whenever the status is public_comment
        comment = self.public_comment
        if china_date(now) < comment.closes_on:
            opened_on = china_date(comment.opened_at)
            raise Conflict(
                f"cannot close public comment before {comment.closes_on}: the comment period opened "
                f"on {opened_on} runs until then (at least {(comment.closes_on - opened_on).days} days)"
            )
        comment.closed_at = now
        comment.closed_by = by.actor()
        self.status = "technical_review"
        closed = self._milestone("public_comment_closed", by, now, comment_closes_on=comment.closes_on)
        return [closed, *self._meet("public_comment", now)]

    def record_review_conclusion(
        self, *, party: RegionCode, conclusion: str, passed: bool, by: Principal, now: datetime
    ) -> list[EventModel]:
        """A party's regulator records its technical review conclusion; a later one replaces it."""
        by.require_region(party)
        self._require_party(party, "record a review conclusion for this project")
        conclusion = conclusion.strip()
        if not conclusion:
            raise Invalid("a review conclusion needs its text")
        self._require_status("technical_review", "record a review conclusion")
        entry = ReviewConclusion(
            party=party, conclusion=conclusion, passed=passed, recorded_by=by.actor(), recorded_at=now
        )
        self.review_conclusions[party] = entry
        return [
            self._milestone(
                "review_conclusion_recorded", by, now, party=party, conclusion=conclusion, passed=passed
            )
        ]

    def submit_for_final_approval(
        self, *, text: TextReference, by: Principal, now: datetime, rules: ClockRules
    ) -> list[EventModel]:
        """Submit the final text; needs every party's passing review conclusion. Opens the 批准 ballot."""
        self._require_party_regulator(by, "submit for final approval")
        self._require_status("technical_review", "submit for final approval")
        missing = [p for p in self.parties if p not in self.review_conclusions]
        if missing:
            raise Conflict(
                "cannot submit for final approval: waiting for the review conclusion of "
                f"{', '.join(missing)}; every party records its conclusion first"
            )
        failed = [p for p in self.parties if not self.review_conclusions[p].passed]
        if failed:
            raise Conflict(
                f"cannot submit for final approval: the review of {', '.join(failed)} did not pass; "
                "that party must record a passing conclusion first"
            )
        self.text = text
        self.status = "awaiting_final_approval"
        return [
            self._milestone("submitted_for_final_approval", by, now, text=text),
            self._open_ballot("final_approval", now, rules),
        ]

    # -- what is next --------------------------------------------------------------------------

    def describe_next_step(self) -> str:
        """What the project waits for, in words, for the people who read it."""
        ballot = self.open_ballot()
        if ballot is not None:
            objections = ballot.objections()
            waiting = ", ".join(ballot.waiting_for())
            text = f"the {STAGE_WORDS[ballot.stage]} waits for approval by {waiting}"
            if objections:
                text += f"; objection by {', '.join(objections)} holds it"
            return text
        match self.status:
            case "project_approved":
                return "start drafting"
            case "drafting":
                return "open public comment"
            case "public_comment":
                assert self.public_comment is not None
                return f"close public comment on or after {self.public_comment.closes_on}"
            case "technical_review":
                missing = [p for p in self.parties if p not in self.review_conclusions]
                if missing:
                    return f"review conclusions of {', '.join(missing)}"
                failed = [p for p in self.parties if not self.review_conclusions[p].passed]
                if failed:
                    return f"a passing review conclusion of {', '.join(failed)}"
                return "submit the final text for final approval"
            case _:
                return "nothing: the project is done"

    # -- storage -------------------------------------------------------------------------------

    def to_document(self) -> dict[str, Any]:
        """The project as a plain dict for the store: moments stay datetimes (so they can be queried),
        calendar dates become ISO text; beside it, when the clock scheduler looks next and which
        clocks are overdue (`scheduling_fields`)."""
        document: dict[str, Any] = _storable(self.model_dump(mode="python"))
        document.update(scheduling_fields(self.clocks))
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> "Project":
        """The project from its stored dict."""
        return cls.model_validate(document)

    # -- inside --------------------------------------------------------------------------------

    def _open_ballot(self, stage: Stage, now: datetime, rules: ClockRules) -> BallotOpened:
        """Open a ballot and start its clock; the deadline is the end (24:00 CST) of its due date."""
        today = china_date(now)
        due = _due(rules.ballot, today, f"deadline of the {STAGE_WORDS[stage]}")
        ballot = Ballot(
            stage=stage,
            parties=list(self.parties),
            opened_at=now,
            deadline=start_of_china_day(due + timedelta(days=1)),
        )
        self.ballots[stage] = ballot
        self.clocks.append(Clock.start(ballot_clock(stage), today, rules.ballot, rules.warn("ballot")))
        return BallotOpened(
            project_id=self.project_id,
            stage=stage,
            parties=ballot.parties,
            opened_at=now,
            deadline=ballot.deadline,
        )

    def _open_ballot_of(self, stage: Stage) -> Ballot:
        ballot = self.ballots.get(stage)
        if ballot is None:
            raise Conflict(
                f"the {STAGE_WORDS[stage]} has not opened: the project is {STATUS_WORDS[self.status]}"
            )
        if not ballot.is_open:
            assert ballot.decided_at is not None
            raise Conflict(
                f"the {STAGE_WORDS[stage]} was decided ({ballot.outcome}) at "
                f"{ballot.decided_at.isoformat()}; it takes no more positions"
            )
        return ballot

    def _decide_if_due(self, ballot: Ballot, now: datetime, rules: ClockRules) -> list[EventModel]:
        rejected = any(p.position == "reject" for p in ballot.positions.values())
        approved = all(
            p in ballot.positions and ballot.positions[p].position == "approve" for p in ballot.parties
        )
        if not rejected and not approved:
            return []
        ballot.outcome = "failed" if rejected else "passed"
        ballot.decided_at = now
        decided = BallotDecided(
            project_id=self.project_id,
            stage=ballot.stage,
            outcome=ballot.outcome,
            positions=[
                PartyPosition(
                    party=p, position=ballot.positions[p].position, reason=ballot.positions[p].reason
                )
                for p in ballot.parties
                if p in ballot.positions
            ],
            decided_at=now,
        )
        met = self._meet(ballot_clock(ballot.stage), now)
        if rejected:
            self.status = "rejected"
            self.rejected_at = now
            self.clocks = [c.stop() for c in self.clocks]
            return [decided, *met]
        if ballot.stage == "project_approval":
            self.status = "project_approved"
            self.project_approved_at = now
            self.clocks.append(self._cycle_time_clock(now, rules))
            return [decided, *met]
        self.status = "finally_approved"
        self.finally_approved_at = now
        assert self.text is not None
        assert self.project_approved_at is not None
        return [
            decided,
            *met,
            ProjectFinallyApproved(
                project_id=self.project_id,
                area=self.area,
                parties=self.parties,
                title_zh=self.title_zh,
                title_en=self.title_en,
                scope=self.scope,
                category=self.category,
                kind=self.kind,
                eco_civilization=self.eco_civilization,
                text=self.text,
                project_approved_at=self.project_approved_at,
                approved_at=now,
                supersedes=self.supersedes,
            ),
            *self._meet("cycle_time", now),
        ]

    def _milestone(
        self,
        milestone: Milestone,
        by: Principal,
        now: datetime,
        *,
        party: RegionCode | None = None,
        conclusion: str | None = None,
        passed: bool | None = None,
        comment_closes_on: date | None = None,
        text: TextReference | None = None,
    ) -> MilestoneRecorded:
        actor = by.actor()
        self.milestones.append(
            MilestoneEntry(
                milestone=milestone,
                recorded_by=actor,
                recorded_at=now,
                party=party,
                conclusion=conclusion,
                passed=passed,
                comment_closes_on=comment_closes_on,
                text=text,
            )
        )
        return MilestoneRecorded(
            project_id=self.project_id,
            milestone=milestone,
            recorded_by=actor,
            recorded_at=now,
            party=party,
            conclusion=conclusion,
            review_passed=passed,
            comment_closes_on=comment_closes_on,
            text=text,
        )

    def _require_party(self, party: RegionCode, action: str) -> None:
        if party not in self.parties:
            raise Forbidden(
                f"region {party} is not a party of project {self.project_id}; only its parties "
                f"({', '.join(self.parties)}) {action}"
            )

    def _require_party_regulator(self, by: Principal, action: str) -> None:
        by.require_regulator()
        if by.code not in self.parties:
            raise Forbidden(
                f"the regulator of region {by.code} may not {action}: only the regulators of the "
                f"parties ({', '.join(self.parties)}) advance project {self.project_id}"
            )

    def _require_status(self, expected: Status, action: str) -> None:
        if self.status != expected:
            raise Conflict(
                f"cannot {action}: project {self.project_id} is {STATUS_WORDS[self.status]}; "
                f"this step needs it to be {STATUS_WORDS[expected]}"
            )


def _storable(value: Any) -> Any:
    """A dumped value with calendar dates as ISO text: the store keeps datetimes, not dates."""
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value
