"""Numbering and publishing: a finally approved joint project becomes a numbered standard (a new one
from its area's block, a revision under the number it revises), published at once or when its date
comes; a numbered standard may be withdrawn before publication; a published revision supersedes the
standard it revises.

Crash safety, step by step, for a final approval:

1. The standard already exists (its id is derived from the project): a redelivery or a repeated
   approval; nothing happens, except finishing a revision's supersession a crash interrupted.
2. The approval is checked against the reference data (and a revision against the standard it
   revises) *before* a number is spent; one that can never succeed (unknown area, no number block,
   a party outside the area) is dead-lettered.
3. A new standard's number is allocated (`adapters.allocator`); a crash after this step leaves the
   allocation, and the redelivered approval reuses it. A revision keeps the old standard's.
4. The standard, its `StandardPublished` event (when published at once) and the approval's event id
   are stored in one atomic insert. Another instance doing the same loses the insert and stops.
5. A published revision supersedes the old standard in a second versioned write; a crash between
   the two is finished by the redelivered approval or by the next round (`complete_supersessions`).
"""

import logging
from datetime import datetime

from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.reference import Reference
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.principals import Principal
from regstd.publication.app.ports import Allocator, StandardQueries
from regstd.publication.domain.revision import revision_sequence, supersede
from regstd.publication.domain.standard import (
    Decided,
    JointPlan,
    Policy,
    Standard,
    number_standard,
    plan_joint_standard,
    publish_if_due,
    standard_id_for,
)
from regstd.runtime.consumer import PermanentError
from regstd.runtime.events import Delivery
from regstd.runtime.telemetry import annotate
from regstd.runtime.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class PublishingCases:
    """Number, publish, withdraw and supersede standards."""

    def __init__(
        self,
        standards: UnitOfWork[Standard],
        queries: StandardQueries,
        allocator: Allocator,
        reference: Reference,
        policy: Policy,
        *,
        batch_size: int = 100,
    ) -> None:
        self.standards = standards
        self.queries = queries
        self.allocator = allocator
        self.reference = reference
        self.policy = policy
        self.batch_size = batch_size

    # -- a final approval -----------------------------------------------------------------------

    async def on_final_approval(self, delivery: Delivery[ProjectFinallyApproved]) -> None:
        """Number a finally approved joint project and publish it (at once, or when due): a new
        standard is numbered from its block; a revision keeps the number it revises."""
        approval = delivery.data
        standard_id = standard_id_for(approval.project_id)
        existing = await self.standards.find(standard_id)
        if existing is not None:
            log.info(
                "approval already handled: the standard exists",
                extra={"project_id": approval.project_id, "standard_id": standard_id, "ce_id": delivery.id},
            )
            await self.supersede_predecessor(existing)  # perhaps a crash before the supersession
            return
        plan = self._plan(approval)
        sequence = await self._sequence(plan)
        standard = await self.standards.create(
            standard_id, lambda now: number_standard(plan, sequence, now, self.policy), consumed=delivery.id
        )
        if standard is None:
            log.info("another instance stored the standard first", extra={"standard_id": standard_id})
            return
        annotate(standard_id=standard_id, standard_numbers=[n.number for n in standard.numbers])
        if standard.supersedes is None:
            log.info(
                "standard numbered" if standard.status == "numbered" else "standard published",
                extra={"standard_id": standard_id, "numbers": [n.number for n in standard.numbers]},
            )
        else:
            log.info(
                "revision stored",
                extra={
                    "standard_id": standard_id,
                    "supersedes": standard.supersedes,
                    "status": standard.status,
                },
            )
            await self.supersede_predecessor(standard)

    def _plan(self, approval: ProjectFinallyApproved) -> JointPlan:
        try:
            return plan_joint_standard(approval, self.reference)
        except Invalid as error:
            raise PermanentError(f"project {approval.project_id} cannot be numbered: {error}") from error

    async def _sequence(self, plan: JointPlan) -> int:
        """A new standard's number from its block; a revision's from the standard it revises."""
        if plan.supersedes is None:
            allocation = await self.allocator.allocate(
                area=plan.area,
                block_first=plan.block_first,
                project_id=plan.project_id,
                standard_id=plan.standard_id,
                at=self.standards.now(),
            )
            if allocation.status != "assigned":
                raise PermanentError(
                    f"project {plan.project_id}'s number {allocation.sequence} is recorded as not issued"
                )
            return allocation.sequence
        old = await self.standards.find(plan.supersedes)
        if old is None:
            raise PermanentError(
                f"project {plan.project_id} revises {plan.supersedes}, which is not a standard here"
            )
        try:
            return revision_sequence(old, plan)
        except Invalid as error:
            raise PermanentError(f"project {plan.project_id} cannot be published: {error}") from error

    # -- publishing what is due -----------------------------------------------------------------

    async def publish_due(self) -> int:
        """Publish the numbered standards whose publication date has come; how many were published."""
        published = 0
        for standard_id in await self.queries.due(self.standards.now(), self.batch_size):
            try:
                outcome = await self.standards.change_if_present(
                    standard_id, lambda s, now: publish_if_due(s, now, self.policy)
                )
            except Conflict:
                log.warning(
                    "standard kept changing while being published; next round",
                    extra={"standard_id": standard_id},
                )
                continue
            if outcome is not None and outcome.stored:  # not withdrawn or published meanwhile
                published += 1
                log.info(
                    "standard published",
                    extra={
                        "standard_id": standard_id,
                        "numbers": [n.number for n in outcome.aggregate.numbers],
                    },
                )
        return published

    # -- withdrawal before publication ----------------------------------------------------------

    async def withdraw(self, standard_id: str, reason: str, caller: Principal) -> Standard:
        """A party's regulator withdraws a numbered, unpublished standard: its number is not issued."""
        caller.require_regulator()
        current = await self.standards.get(standard_id)
        _require_party(current, caller)
        if current.status == "withdrawn":
            await self._record_not_issued(current)  # finish a withdrawal a crash interrupted

        def decide(standard: Standard, now: datetime) -> Decided:
            _require_party(standard, caller)
            withdrawn = standard.withdraw(reason, caller.actor(), now)
            return withdrawn, [withdrawn.not_issued_event()]

        withdrawn = (await self.standards.change(standard_id, decide)).aggregate
        await self._record_not_issued(withdrawn)
        log.info(
            "number not issued",
            extra={"standard_id": standard_id, "area": withdrawn.area, "sequence": withdrawn.sequence},
        )
        return withdrawn

    async def record_withdrawals(self) -> int:
        """Mark the allocations of withdrawn standards `not_issued` where a crash left them unmarked."""
        pending = await self.queries.withdrawn_unrecorded(self.batch_size)
        for standard in pending:
            await self._record_not_issued(standard)
        return len(pending)

    async def _record_not_issued(self, standard: Standard) -> None:
        if standard.withdrawal is None:
            return
        await self.allocator.mark_not_issued(standard.area, standard.sequence, standard.withdrawal)
        await self.queries.allocation_recorded(standard.id)

    # -- supersession by a published revision ---------------------------------------------------

    async def supersede_predecessor(self, revision: Standard) -> int:
        """Supersede the standard a published revision revises; 1 when this call did."""
        if revision.supersedes is None or revision.status != "published":
            return 0
        outcome = await self.standards.change_if_present(
            revision.supersedes, lambda old, now: supersede(old, revision, now)
        )
        if outcome is not None and outcome.stored:
            log.info(
                "standard superseded",
                extra={"standard_id": revision.supersedes, "superseded_by": revision.id},
            )
        await self.queries.predecessor_superseded(revision.id)
        return int(outcome is not None and outcome.stored)

    async def complete_supersessions(self) -> int:
        """Supersede the predecessors of published revisions that are still in force (a revision
        published later than numbered, or a crash between the two writes)."""
        done = 0
        for revision in await self.queries.published_revisions(self.batch_size):
            done += await self.supersede_predecessor(revision)
        return done

    # -- the background loop --------------------------------------------------------------------

    async def tick(self) -> None:
        """One round of background work: publish what is due, finish interrupted withdrawals."""
        await self.publish_due()
        await self.record_withdrawals()


def _require_party(standard: Standard, caller: Principal) -> None:
    if caller.code not in standard.parties:
        raise Forbidden(
            f"the regulator of region {caller.code} is not a party of standard {standard.id} "
            f"(parties: {', '.join(standard.parties)})"
        )
