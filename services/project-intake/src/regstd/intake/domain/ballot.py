"""A ballot of a project: the project-approval ballot (立项) and the final-approval ballot (批准).

Each party's regulator records approve, reject or object; an objection needs a reason and holds the
ballot until that party records another position. A party may change its position while the ballot
is open. The ballot passes when every party approves and fails as soon as any party rejects
(`outcome_of`). A ballot past its deadline is flagged overdue once and stays open.
"""

from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from regstd.contracts.common import Actor, RegionCode
from regstd.contracts.intake import (
    BallotDecided,
    BallotOverdue,
    PartyPosition,
    Position,
    PositionRecorded,
    Stage,
)
from regstd.intake.domain.clocks import ClockRules, due
from regstd.kernel.errors import Conflict, Invalid
from regstd.kernel.time import china_date, start_of_china_day

Outcome = Literal["passed", "failed"]

STAGE_WORDS: dict[Stage, str] = {
    "project_approval": "project-approval ballot (立项)",
    "final_approval": "final-approval ballot (批准)",
}


class RecordedPosition(BaseModel):
    """A party's position in a ballot, who recorded it and when."""

    party: RegionCode
    position: Position
    reason: str | None = None
    recorded_by: Actor
    recorded_at: AwareDatetime


class Ballot(BaseModel):
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
    outcome: Outcome | None = Field(default=None, description="None while the ballot is open.")
    decided_at: AwareDatetime | None = None
    overdue_at: AwareDatetime | None = Field(
        default=None, description="When the ballot was found past its deadline undecided."
    )

    @property
    def is_open(self) -> bool:
        """Whether the ballot still takes positions (it is not decided)."""
        return self.outcome is None

    def waiting_for(self) -> list[RegionCode]:
        """Parties without an approving position, in the parties' order."""
        return [p for p in self.parties if p not in self.positions or self.positions[p].position != "approve"]

    def objections(self) -> list[RegionCode]:
        """Parties whose position is an objection, in the parties' order."""
        return [p for p in self.parties if p in self.positions and self.positions[p].position == "object"]

    def _require_open(self) -> None:
        """Refuse a position in a decided ballot."""
        if not self.is_open:
            assert self.decided_at is not None
            raise Conflict(
                f"the {STAGE_WORDS[self.stage]} was decided ({self.outcome}) at "
                f"{self.decided_at.isoformat()}; it takes no more positions"
            )

    # The methods below change this ballot: the project calls them on its own new copy.

    def record(
        self,
        project_id: str,
        *,
        party: RegionCode,
        position: Position,
        reason: str | None,
        by: Actor,
        now: datetime,
    ) -> PositionRecorded | None:
        """Record or change a party's position in the open ballot; None when the party already holds
        this position with this reason (nothing changes)."""
        self._require_open()
        current = self.positions.get(party)
        if current is not None and (current.position, current.reason) == (position, reason):
            return None
        recorded = RecordedPosition(
            party=party, position=position, reason=reason, recorded_by=by, recorded_at=now
        )
        self.positions[party] = recorded
        self.history.append(recorded)
        return PositionRecorded(
            project_id=project_id,
            stage=self.stage,
            party=party,
            position=position,
            previous=None if current is None else current.position,
            reason=reason,
            recorded_by=by,
            recorded_at=now,
        )

    def decide(self, project_id: str, now: datetime) -> BallotDecided | None:
        """Close the ballot when its positions decide it (`outcome_of`); None while they do not."""
        outcome = outcome_of(self)
        if outcome is None:
            return None
        self.outcome = outcome
        self.decided_at = now
        return BallotDecided(
            project_id=project_id,
            stage=self.stage,
            outcome=outcome,
            positions=[
                PartyPosition(party=p, position=self.positions[p].position, reason=self.positions[p].reason)
                for p in self.parties
                if p in self.positions
            ],
            decided_at=now,
        )

    def flag_overdue(self, project_id: str, now: datetime) -> BallotOverdue | None:
        """Flag the ballot found past its deadline, once; it stays open."""
        if self.overdue_at is not None:
            return None
        self.overdue_at = now
        return BallotOverdue(
            project_id=project_id,
            stage=self.stage,
            deadline=self.deadline,
            waiting_for=self.waiting_for(),
            detected_at=now,
        )


def outcome_of(ballot: Ballot) -> Outcome | None:
    """The passing rule: any party's rejection fails the ballot at once; it passes when every party
    approves; otherwise (a party has not voted, or objects) it stays open (None)."""
    if any(p.position == "reject" for p in ballot.positions.values()):
        return "failed"
    if all(p in ballot.positions and ballot.positions[p].position == "approve" for p in ballot.parties):
        return "passed"
    return None


def reason_of(position: Position, reason: str | None) -> str | None:
    """A position's reason as recorded (blank is none); an objection needs one."""
    reason = (reason or "").strip() or None
    if position == "object" and reason is None:
        raise Invalid("an objection needs a reason: say what must change for the party to approve")
    return reason


def open_ballot(stage: Stage, parties: list[RegionCode], now: datetime, rules: ClockRules) -> Ballot:
    """A ballot opened now; its deadline is the end (24:00 CST) of its due date."""
    closes_on = due(rules.ballot, china_date(now), f"deadline of the {STAGE_WORDS[stage]}", rules.calendar)
    return Ballot(
        stage=stage,
        parties=list(parties),
        opened_at=now,
        deadline=start_of_china_day(closes_on + timedelta(days=1)),
    )
