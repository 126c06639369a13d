"""A joint standard project and its lifecycle, from proposal to final approval.

A project goes, in this order:

    awaiting_project_approval   the 立项 ballot is open from the moment it is proposed
        │  every party approves            (any party rejects → rejected, the end)
    project_approved
        │  start drafting (起草)
    drafting
        │  open public comment (征求意见), closing no earlier than the minimum period allows
    public_comment              any party may move the closing date within the window (decision 25)
        │  close public comment, on or after its closing date
    technical_review            each party records its review conclusion (协同审查)
        │  submit the final text, once every party's conclusion passed
    awaiting_final_approval     the 批准 ballot is open
        │  every party approves            (any party rejects → rejected, the end)
    finally_approved            publication then publishes it, or refuses and says why

The ballots are `ballot.py`'s, the deadlines `clocks.py`'s. Each command checks who acts and whether
the step fits, and returns the project as the step leaves it with the contract events to publish;
the project it was called on is left as it was, and a refused command raises.
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from regstd.contracts.common import Actor, Kind, RegionCode, TextReference
from regstd.contracts.envelope import EventModel
from regstd.contracts.intake import (
    BallotOpened,
    Milestone,
    MilestoneRecorded,
    OverlapMatch,
    Position,
    ProjectClockRescheduled,
    ProjectFinallyApproved,
    ProjectProposed,
    PublicCommentAmended,
    Stage,
)
from regstd.contracts.reference import Reference
from regstd.intake.domain.ballot import STAGE_WORDS, Ballot, open_ballot, reason_of
from regstd.intake.domain.clocks import (
    ClockRules,
    ballot_clock,
    clock_changed,
    clocks_from_history,
    cycle_time_clock,
    due,
    public_comment_clock,
)
from regstd.intake.domain.proposal import ProjectId, Proposal, check_proposal
from regstd.intake.domain.publication import PublicationOutcome
from regstd.kernel.clocks import Clock, Tick, check_all, meet, scheduling_fields
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.locations import web_location
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


class ReviewConclusion(BaseModel):
    """A party's conclusion of the coordinated technical review."""

    party: RegionCode
    conclusion: str
    passed: bool
    recorded_by: Actor
    recorded_at: AwareDatetime


class CloseDateAmendment(BaseModel):
    """A party's regulator moved the closing date of an open comment period."""

    previous_closes_on: date
    closes_on: date
    reason: str | None = None
    amended_by: Actor
    amended_at: AwareDatetime


class PublicComment(BaseModel):
    """The public comment period (征求意见)."""

    opened_at: AwareDatetime
    opened_by: Actor
    closes_on: date = Field(description="Earliest closing date, China Standard Time.")
    closed_at: AwareDatetime | None = None
    closed_by: Actor | None = None
    amendments: list[CloseDateAmendment] = Field(
        default_factory=list, description="Each move of the closing date, oldest first."
    )

    @property
    def opened_on(self) -> date:
        """The opening date, China Standard Time: the comment window counts from it."""
        return china_date(self.opened_at)


class MilestoneEntry(BaseModel):
    """A lifecycle step between the ballots, who did it and when."""

    milestone: Milestone
    recorded_by: Actor
    recorded_at: AwareDatetime
    party: RegionCode | None = None
    conclusion: str | None = None
    passed: bool | None = None
    comment_closes_on: date | None = None
    text: TextReference | None = None


Decided = tuple["Project", list[EventModel]]
"""What a command decides: the project as the step leaves it, and the events to publish."""


class Project(BaseModel):
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
    publication: PublicationOutcome | None = Field(
        default=None,
        description="Once finally approved: what publication did with it, published (its numbers) or "
        "refused (the rule and why); none while publication has not answered.",
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
    ) -> Decided:
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
    ) -> Decided:
        """A party's regulator records or changes its position; the ballot may be decided by it.

        Recording the position a party already holds, with the same reason, changes nothing.
        """
        by.require_region(party)
        self._require_party(party, "vote in this project's ballots")
        reason = reason_of(position, reason)
        project = self.model_copy(deep=True)
        ballot = project._ballot_of(stage)
        recorded = ballot.record(
            project.project_id, party=party, position=position, reason=reason, by=by.actor(), now=now
        )
        if recorded is None:
            return project, []
        return project, [recorded, *project._apply_decision(ballot, now, rules)]

    def open_ballot(self) -> Ballot | None:
        """The ballot now open, if any (at most one is)."""
        return next((b for b in self.ballots.values() if b.is_open), None)

    # -- clocks --------------------------------------------------------------------------------

    def check_clocks(self, now: datetime, rules: ClockRules) -> Decided:
        """What the clock scheduler does: start the clocks of a project stored before projects had
        clocks (from its history), then advance every clock to today (CST) and say what happened."""
        project = self.model_copy(deep=True)
        if not project.clocks:
            project.clocks = clocks_from_history(project, rules)
        project.clocks, ticks = check_all(project.clocks, china_date(now), rules.calendar)
        return project, project._clock_events(ticks, now)

    def clock(self, name: str) -> Clock | None:
        """The clock with this name, if any."""
        return next((c for c in self.clocks if c.name == name), None)

    # -- between the ballots -------------------------------------------------------------------

    def start_drafting(self, *, by: Principal, now: datetime) -> Decided:
        """Joint drafting (起草) begins, once the 立项 ballot passed."""
        self._require_party_regulator(by, "start drafting")
        self._require_status("project_approved", "start drafting")
        project = self.model_copy(deep=True)
        project.status = "drafting"
        return project, [project._milestone("drafting_started", by, now)]

    def open_public_comment(
        self, *, by: Principal, now: datetime, closes_on: date | None, rules: ClockRules
    ) -> Decided:
        """Open the comment period (征求意见); it closes within the window counted from today (CST):
        no earlier than the minimum period, no later than the maximum, each counted by its rule
        (calendar or Chinese working days). Its clock runs to the closing date."""
        self._require_party_regulator(by, "open public comment")
        self._require_status("drafting", "open public comment")
        today = china_date(now)
        earliest, latest = comment_window(today, rules)
        closes_on = closes_on or earliest
        if not earliest <= closes_on <= latest:
            raise Invalid(
                f"public comment opened on {today} cannot close on {closes_on}: the comment period "
                f"runs at least {rules.public_comment} and at most {rules.public_comment_max}, so it "
                f"closes between {earliest} and {latest}"
            )
        project = self.model_copy(deep=True)
        project.public_comment = PublicComment(opened_at=now, opened_by=by.actor(), closes_on=closes_on)
        project.status = "public_comment"
        project.clocks.append(public_comment_clock(today, closes_on, earliest, rules))
        return project, [project._milestone("public_comment_opened", by, now, comment_closes_on=closes_on)]

    def amend_public_comment(
        self, *, by: Principal, now: datetime, closes_on: date, reason: str | None, rules: ClockRules
    ) -> Decided:
        """Any party's regulator moves the closing date of the open comment period (decision 25):
        within the window counted from the opening (at least the minimum period, at most the
        maximum) and not before today (CST). When the window's end has already passed (a period
        opened before the window existed), today is the one date left. The public-comment clock
        moves with it; the same date again changes nothing."""
        self._require_party_regulator(by, "amend the public comment closing date")
        self._require_status("public_comment", "amend the public comment closing date")
        comment = self.public_comment
        assert comment is not None  # set whenever the status is public_comment
        today = china_date(now)
        earliest, latest = comment_window(comment.opened_on, rules)
        earliest, latest = max(earliest, today), max(latest, today)
        if not earliest <= closes_on <= latest:
            raise Invalid(
                f"the comment period opened on {comment.opened_on} cannot close on {closes_on}: it runs "
                f"at least {rules.public_comment} and at most {rules.public_comment_max} from its "
                f"opening and never closes before today ({today}), so it closes between {earliest} "
                f"and {latest}"
            )
        if closes_on == comment.closes_on:
            return self.model_copy(deep=True), []
        reason = (reason or "").strip() or None
        project = self.model_copy(deep=True)
        amended = project.public_comment
        assert amended is not None
        previous = amended.closes_on
        actor = by.actor()
        amended.closes_on = closes_on
        amended.amendments.append(
            CloseDateAmendment(
                previous_closes_on=previous,
                closes_on=closes_on,
                reason=reason,
                amended_by=actor,
                amended_at=now,
            )
        )
        event = PublicCommentAmended(
            project_id=project.project_id,
            opened_on=amended.opened_on,
            previous_closes_on=previous,
            closes_on=closes_on,
            reason=reason,
            amended_by=actor,
            amended_at=now,
        )
        return project, [event, *project._move_comment_clock(today, rules, now)]

    def close_public_comment(self, *, by: Principal, now: datetime) -> Decided:
        """Close the comment period, on or after its closing date; technical review follows."""
        self._require_party_regulator(by, "close public comment")
        self._require_status("public_comment", "close public comment")
        assert self.public_comment is not None  # set whenever the status is public_comment
        closes_on = self.public_comment.closes_on
        if china_date(now) < closes_on:
            opened_on = china_date(self.public_comment.opened_at)
            raise Conflict(
                f"cannot close public comment before {closes_on}: the comment period opened "
                f"on {opened_on} runs until then (at least {(closes_on - opened_on).days} days)"
            )
        project = self.model_copy(deep=True)
        comment = project.public_comment
        assert comment is not None
        comment.closed_at = now
        comment.closed_by = by.actor()
        project.status = "technical_review"
        closed = project._milestone("public_comment_closed", by, now, comment_closes_on=closes_on)
        return project, [closed, *project._meet("public_comment", now)]

    def record_review_conclusion(
        self, *, party: RegionCode, conclusion: str, passed: bool, by: Principal, now: datetime
    ) -> Decided:
        """A party's regulator records its technical review conclusion; a later one replaces it."""
        by.require_region(party)
        self._require_party(party, "record a review conclusion for this project")
        conclusion = conclusion.strip()
        if not conclusion:
            raise Invalid("a review conclusion needs its text")
        self._require_status("technical_review", "record a review conclusion")
        project = self.model_copy(deep=True)
        project.review_conclusions[party] = ReviewConclusion(
            party=party, conclusion=conclusion, passed=passed, recorded_by=by.actor(), recorded_at=now
        )
        return project, [
            project._milestone(
                "review_conclusion_recorded", by, now, party=party, conclusion=conclusion, passed=passed
            )
        ]

    def submit_for_final_approval(
        self, *, text: TextReference, by: Principal, now: datetime, rules: ClockRules
    ) -> Decided:
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
        web_location(text.location, "text.location")
        project = self.model_copy(deep=True)
        project.text = text
        project.status = "awaiting_final_approval"
        return project, [
            project._milestone("submitted_for_final_approval", by, now, text=text),
            project._open_ballot("final_approval", now, rules),
        ]

    # -- publication -----------------------------------------------------------------------------

    def record_publication(self, outcome: PublicationOutcome) -> "Project | None":
        """Keep what publication did with the final approval: the project as it shows it, or None
        when nothing changes (the project is not finally approved, so the answer cannot be about its
        approval; or the outcome it shows stands, see `PublicationOutcome.replaces`)."""
        if self.status != "finally_approved" or not outcome.replaces(self.publication):
            return None
        return self.model_copy(update={"publication": outcome}, deep=True)

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
            case "finally_approved" if self.publication is not None:
                return self.publication.describe()
            case "finally_approved":
                return "publication: numbering and publishing it (or saying why not)"
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

    # -- inside: these change the project they are called on, always a command's own copy ------

    def _open_ballot(self, stage: Stage, now: datetime, rules: ClockRules) -> BallotOpened:
        """Open a ballot and start its clock."""
        ballot = open_ballot(stage, self.parties, now, rules)
        self.ballots[stage] = ballot
        self.clocks.append(
            Clock.start(
                ballot_clock(stage),
                china_date(now),
                rules.ballot,
                rules.warn("ballot"),
                calendar=rules.calendar,
            )
        )
        return BallotOpened(
            project_id=self.project_id,
            stage=stage,
            parties=ballot.parties,
            opened_at=now,
            deadline=ballot.deadline,
        )

    def _ballot_of(self, stage: Stage) -> Ballot:
        ballot = self.ballots.get(stage)
        if ballot is None:
            raise Conflict(
                f"the {STAGE_WORDS[stage]} has not opened: the project is {STATUS_WORDS[self.status]}"
            )
        return ballot

    def _apply_decision(self, ballot: Ballot, now: datetime, rules: ClockRules) -> list[EventModel]:
        """What a decided ballot does to the project: a failed one rejects it and stops its clocks;
        a passed 立项 ballot approves the project (its cycle time starts); a passed 批准 ballot
        approves it finally, for publication."""
        decided = ballot.decide(self.project_id, now)
        if decided is None:
            return []
        met = self._meet(ballot_clock(ballot.stage), now)
        if decided.outcome == "failed":
            self.status = "rejected"
            self.rejected_at = now
            self.clocks = [c.stop() for c in self.clocks]
            return [decided, *met]
        if ballot.stage == "project_approval":
            self.status = "project_approved"
            self.project_approved_at = now
            self.clocks.append(cycle_time_clock(self.area, now, rules))
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

    def _move_comment_clock(self, today: date, rules: ClockRules, now: datetime) -> list[EventModel]:
        """Restart the public-comment clock to the amended closing date, checked to today: a due soon
        already said is not said again; a clock overdue before runs again (the new date is not past)."""
        comment = self.public_comment
        old = self.clock("public_comment")
        if comment is None or old is None:  # a project without clocks gets them from its history
            return []
        earliest, _ = comment_window(comment.opened_on, rules)
        new, tick = public_comment_clock(comment.opened_on, comment.closes_on, earliest, rules).check(today)
        if tick is not None and tick.happening == "due_soon" and old.state == "due_soon":
            tick = None
        self.clocks = [new if c.name == old.name else c for c in self.clocks]
        assert new.due_on is not None  # a calendar-day period, or the minimum counted at the opening
        rescheduled = ProjectClockRescheduled(
            project_id=self.project_id,
            area=self.area,
            clock="public_comment",
            previous_due_on=old.due_on,
            due_on=new.due_on,
            provisional=new.provisional,
            detected_at=now,
        )
        return [rescheduled, *self._clock_events([tick] if tick else [], now)]

    def _meet(self, name: str, now: datetime) -> list[EventModel]:
        self.clocks, ticks = meet(self.clocks, name, china_date(now))
        return self._clock_events(ticks, now)

    def _clock_events(self, ticks: Sequence[Tick], now: datetime) -> list[EventModel]:
        """`ProjectClockChanged` for each happening; a ballot going overdue also flags the ballot and
        says `BallotOverdue` (the older contract, kept for its consumers). A deadline counted again
        (`ProjectClockRescheduled`) moves the ballot's deadline or the closing date it is."""
        events: list[EventModel] = []
        for tick in ticks:
            kind, _, stage = tick.clock.partition(":")
            ballot = next((b for s, b in self.ballots.items() if kind == "ballot" and s == stage), None)
            if tick.happening == "rescheduled" and ballot is not None:
                ballot.deadline = start_of_china_day(tick.due_on + timedelta(days=1))
            if tick.happening == "rescheduled" and kind == "public_comment" and self.public_comment:
                self.public_comment = self.public_comment.model_copy(update={"closes_on": tick.due_on})
            if ballot is not None and tick.happening == "overdue":
                flagged = ballot.flag_overdue(self.project_id, now)
                if flagged is not None:
                    events.append(flagged)
            events.append(clock_changed(self.project_id, self.area, tick, now))
        return events

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


def comment_window(opened_on: date, rules: ClockRules) -> tuple[date, date]:
    """The first and last closing date of a comment period opened on a date (CST)."""
    return (
        due(rules.public_comment, opened_on, "end of the public comment period", rules.calendar),
        due(rules.public_comment_max, opened_on, "latest end of the public comment period", rules.calendar),
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
