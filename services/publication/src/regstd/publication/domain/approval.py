"""Which final approvals publication honours, pure (decision 0023): the project as publication saw it
on intake's topic, the checks of an approval against it, and the refusal that ends an approval
publication will not number.

Intake's `ProjectProposed`, `BallotDecided` and `ProjectFinallyApproved` share the project id as
key, so they sit on one partition in the order intake sent them: by the time an approval arrives,
publication has recorded the project's proposal and its decided ballots (`ProjectRecord`). An
approval is honoured only for a project proposed with the same area, parties and revision target,
whose final-approval ballot (批准) passed. Every other approval, and every approval a later rule
refuses (no joint block, a revision target no longer in force, a designation already taken), ends
in a stored `Refusal` with its `ApprovalRefused` event: never a dead letter, never a number.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from regstd.contracts.intake import BallotDecided, ProjectFinallyApproved, ProjectProposed
from regstd.contracts.publication import ApprovalRefused, RefusalRule
from regstd.kernel.errors import Invalid

MAX_REASON = 2000  # the contract's limit on a refusal's reason
MAX_AREA = 32  # the contract's limit on an area


class ApprovalRefusal(Invalid):
    """A final approval publication will not number, with the rule it breaks (a `RefusalRule`)."""

    def __init__(self, rule: RefusalRule, reason: str) -> None:
        super().__init__(reason)
        self.rule: RefusalRule = rule
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# The project as publication saw it on intake's topic


@dataclass(frozen=True)
class ProjectRecord:
    """What publication saw of one intake project: its proposal and its decided ballots."""

    project_id: str
    area: str | None = None
    parties: tuple[str, ...] = ()
    kind: str | None = None
    supersedes: str | None = None
    proposed: bool = False
    ballots: tuple[tuple[str, str], ...] = ()  # (stage, outcome), in the order decided

    def passed(self, stage: str) -> bool:
        """Whether the last decided ballot of this stage passed."""
        outcomes = [outcome for s, outcome in self.ballots if s == stage]
        return bool(outcomes) and outcomes[-1] == "passed"

    def to_dict(self) -> dict[str, Any]:
        """The stored state."""
        return {
            "area": self.area,
            "parties": list(self.parties),
            "kind": self.kind,
            "supersedes": self.supersedes,
            "proposed": self.proposed,
            "ballots": [{"stage": s, "outcome": o} for s, o in self.ballots],
        }

    @classmethod
    def from_dict(cls, project_id: str, state: Mapping[str, Any]) -> "ProjectRecord":
        """The record from its stored state."""
        return cls(
            project_id=project_id,
            area=state.get("area"),
            parties=tuple(state.get("parties", ())),
            kind=state.get("kind"),
            supersedes=state.get("supersedes"),
            proposed=bool(state.get("proposed", False)),
            ballots=tuple((b["stage"], b["outcome"]) for b in state.get("ballots", ())),
        )


def record_proposal(record: ProjectRecord | None, proposed: ProjectProposed) -> ProjectRecord:
    """The project's proposal: its area, parties and the standard it revises."""
    return replace(
        record or ProjectRecord(proposed.project_id),
        area=proposed.area,
        parties=tuple(proposed.parties),
        kind=proposed.kind,
        supersedes=proposed.supersedes,
        proposed=True,
    )


CHECKED_STAGE = "final_approval"
"""The one ballot stage an approval is checked against (批准); the others are not recorded."""


def record_ballot(record: ProjectRecord | None, decided: BallotDecided) -> ProjectRecord | None:
    """A decided final-approval ballot of a proposed project; None (nothing to record) for a project
    never seen proposed (an approval for it is refused as unknown anyway) and for a ballot of another
    stage (no approval is checked against it, and each record written is a store write)."""
    if record is None or decided.stage != CHECKED_STAGE:
        return None
    return replace(record, ballots=(*record.ballots, (decided.stage, decided.outcome)))


def check_approval(record: ProjectRecord | None, approval: ProjectFinallyApproved) -> None:
    """Refuse an approval for a project publication never saw proposed, whose final-approval ballot
    it never saw pass, or that does not say what the proposal said (area, parties, kind, revision
    target)."""
    pid = approval.project_id
    if record is None or not record.proposed:
        raise ApprovalRefusal(
            "unknown_project",
            f"project {pid} was never proposed on intake's topic; publication numbers only projects "
            "it saw proposed and approved",
        )
    if not record.passed(CHECKED_STAGE):
        raise ApprovalRefusal(
            "not_finally_approved",
            f"project {pid}'s final-approval ballot (批准) was not seen to pass",
        )
    differences = [
        f"{what} {said!r} where the proposal said {proposed!r}"
        for what, said, proposed in (
            ("area", approval.area, record.area),
            ("parties", sorted(approval.parties), sorted(record.parties)),
            ("kind", approval.kind, record.kind),
            ("revision of", approval.supersedes, record.supersedes),
        )
        if said != proposed
    ]
    if differences:
        raise ApprovalRefusal(
            "invalid_approval",
            f"the approval of project {pid} does not match its proposal: " + "; ".join(differences),
        )


# ---------------------------------------------------------------------------------------------
# The refusal of one approval


@dataclass(frozen=True)
class Refusal:
    """A final approval publication refused, kept under the id the standard would have had."""

    standard_id: str
    project_id: str
    area: str
    parties: tuple[str, ...]
    title_zh: str
    category: str
    rule: RefusalRule
    reason: str
    approval_id: str
    refused_at: datetime

    def event(self) -> ApprovalRefused:
        """The integration event telling intake (and anyone) that and why the approval was refused."""
        return ApprovalRefused(
            standard_id=self.standard_id,
            project_id=self.project_id,
            area=self.area,
            parties=list(self.parties),
            rule=self.rule,
            reason=self.reason,
            approval_id=self.approval_id,
            refused_at=self.refused_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored state."""
        return {
            "project_id": self.project_id,
            "area": self.area,
            "parties": list(self.parties),
            "title_zh": self.title_zh,
            "category": self.category,
            "rule": self.rule,
            "reason": self.reason,
            "approval_id": self.approval_id,
            "refused_at": self.refused_at,
        }

    @classmethod
    def from_dict(cls, standard_id: str, state: Mapping[str, Any]) -> "Refusal":
        """The refusal from its stored state."""
        at: datetime = state["refused_at"]
        return cls(
            standard_id=standard_id,
            project_id=state["project_id"],
            area=state["area"],
            parties=tuple(state["parties"]),
            title_zh=state.get("title_zh", ""),
            category=state.get("category", ""),
            rule=state["rule"],
            reason=state["reason"],
            approval_id=state["approval_id"],
            refused_at=at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC),
        )


def refuse(
    standard_id: str,
    approval: ProjectFinallyApproved,
    approval_id: str,
    refusal: ApprovalRefusal,
    now: datetime,
) -> tuple[Refusal, list[ApprovalRefused]]:
    """The stored refusal of an approval and its `ApprovalRefused`."""
    refused = Refusal(
        standard_id=standard_id,
        project_id=approval.project_id,
        area=approval.area[:MAX_AREA],
        parties=tuple(approval.parties),
        title_zh=approval.title_zh,
        category=approval.category,
        rule=refusal.rule,
        reason=refusal.reason[:MAX_REASON],
        approval_id=approval_id[:64],
        refused_at=now.astimezone(UTC),
    )
    return refused, [refused.event()]
