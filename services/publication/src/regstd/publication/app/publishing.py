"""Numbering and publishing: a finally approved joint project becomes a numbered standard (a new one
from its area's block, a revision under the number it revises), published at once or when its date
comes; a numbered standard may be withdrawn before publication; a published revision supersedes the
standard it revises. An approval publication will not number is refused, visibly (decision 0023).

Crash safety, step by step, for a final approval:

1. The standard already exists (its id is derived from the project): a redelivery or a repeated
   approval; nothing happens, except finishing a revision's supersession a crash interrupted. A
   refusal stored under the same id: the approval was refused before; nothing happens.
2. The approval is checked against the project as publication saw it on intake's topic (proposed,
   its final ballot passed, the same area, parties, kind and revision target), against the
   reference data, and a revision against the standard it revises, *before* a number is spent.
3. A new standard's number is allocated (`adapters.allocator`); a crash after this step leaves the
   allocation, and the redelivered approval reuses it. A revision keeps the old standard's; one
   approved in its predecessor's year waits, numbered, for 1 January (decision 0022).
4. Its designations are claimed in the designation registry (`adapters.designations`, one unique
   entry per designation): a designation another standard holds refuses the approval.
5. The standard, its `StandardPublished` event (when published at once) and the approval's event id
   are stored in one atomic insert. Another instance doing the same loses the insert and stops.
6. A published revision supersedes the old standard in a second versioned write; a crash between
   the two is finished by the redelivered approval or by the next round (`complete_supersessions`).

Any rule broken in 2-4 ends the approval in a stored `Refusal` with its `ApprovalRefused` event
(one atomic insert under the standard's id, so a redelivery refuses it once), counted in
`regstd_approvals_refused_total{rule}`. A number allocated before the refusal is recorded as not
issued, so the block stays gap-free.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime

from regstd.contracts.common import Actor
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.reference import Reference
from regstd.kernel.errors import Conflict, Forbidden
from regstd.kernel.principals import Principal
from regstd.kernel.time import china_date
from regstd.publication.app.ports import Allocator, Designations, NumberHolders, StandardQueries
from regstd.publication.domain.approval import (
    ApprovalRefusal,
    ProjectRecord,
    Refusal,
    check_approval,
    refuse,
)
from regstd.publication.domain.numbering import Withdrawal
from regstd.publication.domain.revision import revision_not_before, revision_sequence, supersede
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
from regstd.runtime.events import Delivery
from regstd.runtime.telemetry import annotate
from regstd.runtime.unit_of_work import Outcome, UnitOfWork

log = logging.getLogger(__name__)

PUBLICATION = Actor(kind="operator", code="publication", name="regstd publication")
"""Who records a number as not issued when publication itself refused the approval that held it."""


def _no_count(_: str) -> None:
    pass


class PublishingCases:
    """Number, publish, withdraw and supersede standards; refuse approvals that break a rule."""

    def __init__(
        self,
        standards: UnitOfWork[Standard],
        queries: StandardQueries,
        allocator: Allocator,
        reference: Reference,
        policy: Policy,
        *,
        projects: UnitOfWork[ProjectRecord],
        refusals: UnitOfWork[Refusal],
        designations: Designations,
        holders: NumberHolders | None = None,
        on_refused: Callable[[str], None] = _no_count,
        batch_size: int = 100,
    ) -> None:
        """`holders` finds designations on standards stored before the registry existed;
        `on_refused` counts a refusal by rule (the `regstd_approvals_refused_total` metric)."""
        self.standards = standards
        self.queries = queries
        self.allocator = allocator
        self.reference = reference
        self.policy = policy
        self.projects = projects
        self.refusals = refusals
        self.designations = designations
        self.holders = holders
        self.on_refused = on_refused
        self.batch_size = batch_size

    def today(self) -> date:
        """Today in China Standard Time, by the service's clock."""
        return china_date(self.standards.now())

    # -- a final approval -----------------------------------------------------------------------

    async def on_final_approval(self, delivery: Delivery[ProjectFinallyApproved]) -> None:
        """Number a finally approved joint project and publish it (at once, or when due): a new
        standard is numbered from its block; a revision keeps the number it revises. An approval
        that breaks a rule is refused with `ApprovalRefused` instead."""
        approval = delivery.data
        standard_id = standard_id_for(approval.project_id)
        # Read side by side: three independent documents, each read joins its collection's round.
        existing, refused, project = await asyncio.gather(
            self.standards.find(standard_id),
            self.refusals.find(standard_id),
            self.projects.find(approval.project_id),
        )
        if existing is not None:
            log.info(
                "approval already handled: the standard exists",
                extra={"project_id": approval.project_id, "standard_id": standard_id, "ce_id": delivery.id},
            )
            await self.supersede_predecessor(existing)  # perhaps a crash before the supersession
            return
        if refused is not None:
            log.info(
                "approval already refused",
                extra={"project_id": approval.project_id, "standard_id": standard_id, "ce_id": delivery.id},
            )
            return
        plan: JointPlan | None = None
        try:
            check_approval(project, approval)
            plan = plan_joint_standard(approval, self.reference)
            now = self.standards.now()
            sequence, not_before = await self._sequence(plan)
            decided = number_standard(plan, sequence, now, self.policy, not_before=not_before)
            await self._claim(decided[0], legacy=plan.supersedes is not None)
        except ApprovalRefusal as refusal:
            await self._refuse(approval, standard_id, delivery.id, refusal, plan)
            return
        standard = await self.standards.create(standard_id, lambda _: decided, consumed=delivery.id)
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
                    "publish_due_on": standard.publish_due_on.isoformat(),
                },
            )
            await self.supersede_predecessor(standard)

    async def _sequence(self, plan: JointPlan) -> tuple[int, date | None]:
        """A new standard's number from its block; a revision's from the standard it revises, with
        the earliest date it may be published."""
        if plan.supersedes is None:
            allocation = await self.allocator.allocate(
                area=plan.area,
                block_first=plan.block_first,
                project_id=plan.project_id,
                standard_id=plan.standard_id,
                at=self.standards.now(),
            )
            if allocation.status != "assigned":
                raise ApprovalRefusal(
                    "number_not_issued",
                    f"project {plan.project_id}'s number {allocation.sequence} is recorded as not issued",
                )
            return allocation.sequence, None
        old = await self.standards.find(plan.supersedes)
        sequence = revision_sequence(old, plan)
        assert old is not None  # revision_sequence refuses a missing target
        return sequence, revision_not_before(old)

    async def _claim(self, standard: Standard, *, legacy: bool) -> None:
        """Claim the standard's designations; `ApprovalRefusal` (designation_taken) when another
        standard holds one. `legacy`: look at the stored standards too (those stored before the
        registry), where a designation can repeat (a revision)."""
        other = await self.claim_designations(standard, legacy=legacy)
        if other is not None:
            held, holder = other
            raise ApprovalRefusal(
                "designation_taken", f"{held} is already the designation of standard {holder}"
            )

    async def claim_designations(self, standard: Standard, *, legacy: bool = True) -> tuple[str, str] | None:
        """Claim every designation of a standard in the registry; None when it holds them all, else
        (a designation, the other standard that holds it)."""
        if legacy and self.holders is not None:
            for designation in standard.designations:
                holder = await self.holders.holder(designation)
                if holder is not None and holder != standard.id:
                    return designation, holder
        return await self.designations.claim(standard.designations, standard.id)

    async def _refuse(
        self,
        approval: ProjectFinallyApproved,
        standard_id: str,
        event_id: str,
        refusal: ApprovalRefusal,
        plan: JointPlan | None,
    ) -> None:
        """Store the refusal with its `ApprovalRefused` (once), count it, and record a number the
        project already held as not issued."""
        stored = await self.refusals.create(
            standard_id, lambda now: refuse(standard_id, approval, event_id, refusal, now), consumed=event_id
        )
        if plan is not None and plan.supersedes is None:
            await self._release_allocation(plan, refusal)
        if stored is None:
            return  # another instance refused it first
        self.on_refused(refusal.rule)
        annotate(standard_id=standard_id)
        log.warning(
            "final approval refused",
            extra={
                "project_id": approval.project_id,
                "standard_id": standard_id,
                "rule": refusal.rule,
                "reason": refusal.reason,
            },
        )

    async def _release_allocation(self, plan: JointPlan, refusal: ApprovalRefusal) -> None:
        """A number allocated to a project whose approval was then refused is recorded as not
        issued: allocated numbers stay = published ∪ not issued."""
        if refusal.rule in ("designation_taken", "number_not_issued"):
            held = await self.allocator.for_project(plan.project_id)
            if held is not None and held.status == "assigned":
                reason = f"approval refused ({refusal.rule}): {refusal.reason}"[:2000]
                withdrawal = Withdrawal(reason, PUBLICATION, self.standards.now())
                await self.allocator.mark_not_issued(held.area, held.sequence, withdrawal)

    # -- publishing what is due -----------------------------------------------------------------

    async def publish_due(self) -> int:
        """Publish the numbered standards whose publication date has come; how many were published."""
        published = 0
        for standard_id in await self.queries.due(self.standards.now(), self.batch_size):
            try:
                outcome = await self._publish_claimed(standard_id)
            except Conflict as error:
                log.warning(
                    "standard not published this round", extra={"standard_id": standard_id, "why": str(error)}
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

    async def _publish_claimed(self, standard_id: str) -> Outcome[Standard] | None:
        """Publish one due standard under designations it holds in the registry: they are claimed
        first (publication may fix another year than planned), and the versioned write publishes
        only when publishing now still gives those designations."""
        now = self.standards.now()
        current = await self.standards.find(standard_id)
        if current is None:
            return None
        preview, _ = publish_if_due(current, now, self.policy)
        if preview.status != "published":
            return None  # withdrawn or published meanwhile
        taken = await self.claim_designations(preview, legacy=preview.supersedes is not None)
        if taken is not None:
            raise Conflict(f"{taken[0]} is already the designation of standard {taken[1]}")

        def publish(standard: Standard, at: datetime) -> Decided:
            published, events = publish_if_due(standard, at, self.policy)
            if published.designations != preview.designations:
                return standard, []  # the year turned meanwhile: next round claims the new ones
            return published, events

        return await self.standards.change_if_present(standard_id, publish)

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
