"""The publication service's use cases: number and publish a finally approved joint project, publish
numbered standards when their date comes, withdraw a numbered standard before publication.

Each use case loads, asks the domain, and saves; storage comes in through two ports (the standards
repository and the block allocator) so that the rules can be exercised with fakes.

Crash safety, step by step, for a final approval:

1. The standard already exists (its id is derived from the project): a redelivery or a repeated
   approval; nothing happens.
2. The approval is checked against the reference data *before* a number is spent; one that can
   never succeed (unknown area, no number block, a party outside the area) is dead-lettered.
3. A number is allocated (see `numbering`); a crash after this step leaves the allocation, and the
   redelivered approval reuses it.
4. The standard, its `StandardPublished` event (when published at once) and the approval's event id
   are stored in one atomic insert. Another instance doing the same loses the insert and stops.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.reference import Reference
from regstd.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from regstd.kernel.principals import Principal
from regstd.kernel.time import Now, utc_now
from regstd.publication.domain import Standard, Withdrawal, plan_joint_standard, standard_id_for
from regstd.publication.lifecycle import LifePolicy, begin_life
from regstd.publication.numbering import Allocation
from regstd.publication.standards import Stored
from regstd.runtime.consumer import PermanentError
from regstd.runtime.events import Delivery, PendingEvent, new_event
from regstd.runtime.telemetry import annotate

log = logging.getLogger(__name__)

Clock = Now
"""The service's time (`utc_now` in production, a controllable clock in tests)."""


class StandardRepository(Protocol):
    """Where standards are kept (`standards.MongoStandards`)."""

    async def get(self, standard_id: str) -> Stored | None: ...

    async def add(self, standard: Standard, events: Sequence[PendingEvent], consumed: str | None) -> bool: ...

    async def replace(self, stored: Stored, standard: Standard, events: Sequence[PendingEvent]) -> bool: ...

    async def due(self, now: datetime, limit: int) -> list[str]: ...

    async def withdrawn_unrecorded(self, limit: int) -> list[Standard]: ...

    async def allocation_recorded(self, standard_id: str) -> None: ...


class Allocator(Protocol):
    """Hands out block numbers (`numbering.BlockAllocator`)."""

    async def allocate(
        self, *, area: str, block_first: int, project_id: str, standard_id: str, at: datetime
    ) -> Allocation: ...

    async def mark_not_issued(self, area: str, sequence: int, withdrawal: Withdrawal) -> bool: ...


@dataclass(frozen=True)
class Policy:
    """The configurable rules of publication."""

    implementation_offset_days: int = 90
    publication_delay_days: int = 0
    life: LifePolicy = field(default_factory=LifePolicy)


class Publication:
    """The use cases of the publication service."""

    def __init__(
        self,
        standards: StandardRepository,
        allocator: Allocator,
        reference: Reference,
        policy: Policy,
        clock: Clock = utc_now,
        *,
        batch_size: int = 100,
    ) -> None:
        self.standards = standards
        self.allocator = allocator
        self.reference = reference
        self.policy = policy
        self.clock = clock
        self.batch_size = batch_size

    # -- consuming ------------------------------------------------------------------------------

    async def on_final_approval(self, delivery: Delivery[ProjectFinallyApproved]) -> None:
        """Number a finally approved joint project and publish it (at once, or when due)."""
        approval = delivery.data
        standard_id = standard_id_for(approval.project_id)
        if await self.standards.get(standard_id) is not None:
            log.info(
                "approval already handled: the standard exists",
                extra={"project_id": approval.project_id, "standard_id": standard_id, "ce_id": delivery.id},
            )
            return
        try:
            plan = plan_joint_standard(approval, self.reference)
        except Invalid as error:
            raise PermanentError(f"project {approval.project_id} cannot be numbered: {error}") from error
        now = self.clock()
        allocation = await self.allocator.allocate(
            area=plan.area,
            block_first=plan.block_first,
            project_id=plan.project_id,
            standard_id=standard_id,
            at=now,
        )
        if allocation.status != "assigned":
            raise PermanentError(
                f"project {plan.project_id}'s number {allocation.sequence} is recorded as not issued"
            )
        standard = Standard.numbered(
            plan, allocation.sequence, at=now, publication_delay_days=self.policy.publication_delay_days
        )
        annotate(standard_id=standard_id, standard_numbers=[n.number for n in standard.numbers])
        events: list[PendingEvent] = []
        if self.policy.publication_delay_days == 0:
            standard = begin_life(
                standard.publish(now, self.policy.implementation_offset_days), self.policy.life
            )
            events.append(new_event(standard.published_event(), now=now))
        if await self.standards.add(standard, events, consumed=delivery.id):
            log.info(
                "standard numbered" if standard.status == "numbered" else "standard published",
                extra={"standard_id": standard_id, "numbers": [n.number for n in standard.numbers]},
            )
        else:
            log.info("another instance stored the standard first", extra={"standard_id": standard_id})

    # -- publishing what is due -----------------------------------------------------------------

    async def publish_due(self) -> int:
        """Publish the numbered standards whose publication date has come; how many were published."""
        now = self.clock()
        published = 0
        for standard_id in await self.standards.due(now, self.batch_size):
            stored = await self.standards.get(standard_id)
            if stored is None or not stored.standard.is_due(now):
                continue  # withdrawn or published meanwhile
            standard = begin_life(
                stored.standard.publish(now, self.policy.implementation_offset_days), self.policy.life
            )
            event = new_event(standard.published_event(), now=now)
            if await self.standards.replace(stored, standard, [event]):
                published += 1
                log.info(
                    "standard published",
                    extra={"standard_id": standard_id, "numbers": [n.number for n in standard.numbers]},
                )
        return published

    # -- withdrawal before publication ----------------------------------------------------------

    async def withdraw(self, standard_id: str, reason: str, caller: Principal, attempts: int = 5) -> Standard:
        """A party's regulator withdraws a numbered, unpublished standard: its number is not issued."""
        caller.require_regulator()
        for _ in range(attempts):
            stored = await self.standards.get(standard_id)
            if stored is None:
                raise NotFound(f"no standard {standard_id}")
            current = stored.standard
            if caller.code not in current.parties:
                raise Forbidden(
                    f"the regulator of region {caller.code} is not a party of standard {standard_id} "
                    f"(parties: {', '.join(current.parties)})"
                )
            if current.status == "withdrawn":
                await self._record_not_issued(current)  # finish a withdrawal a crash interrupted
            withdrawn = current.withdraw(reason, caller.actor(), self.clock())
            event = new_event(withdrawn.not_issued_event(), now=self.clock())
            if await self.standards.replace(stored, withdrawn, [event]):
                await self._record_not_issued(withdrawn)
                log.info(
                    "number not issued",
                    extra={
                        "standard_id": standard_id,
                        "area": withdrawn.area,
                        "sequence": withdrawn.sequence,
                    },
                )
                return withdrawn
        raise Conflict(f"standard {standard_id} kept changing while being withdrawn; try again")

    async def record_withdrawals(self) -> int:
        """Mark the allocations of withdrawn standards `not_issued` where a crash left them unmarked."""
        pending = await self.standards.withdrawn_unrecorded(self.batch_size)
        for standard in pending:
            await self._record_not_issued(standard)
        return len(pending)

    async def _record_not_issued(self, standard: Standard) -> None:
        if standard.withdrawal is None:
            return
        await self.allocator.mark_not_issued(standard.area, standard.sequence, standard.withdrawal)
        await self.standards.allocation_recorded(standard.id)

    # -- the background loop --------------------------------------------------------------------

    async def tick(self) -> None:
        """One round of background work: publish what is due, finish interrupted withdrawals."""
        await self.publish_due()
        await self.record_withdrawals()
