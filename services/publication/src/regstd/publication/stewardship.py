"""Use cases of a published standard's life: fire its clocks, record filings, text disclosure and
review conclusions, and publish a revision that supersedes the standard it revises.

A revision (修订) arrives as a final approval carrying `supersedes`: it keeps the old standard's
sequence number under every party's code, takes the year of its own publication, and the old
standard becomes `superseded` (decision 10). The new standard and its `StandardPublished` are one
atomic insert, the old standard's supersession a second versioned write; a crash between them is
finished by the redelivered approval or by the next background round (`complete_supersessions`).
"""

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Protocol

from regstd.contracts.envelope import EventModel
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.publication import FilingAuthority, ReviewOutcome
from regstd.contracts.reference import Reference
from regstd.kernel.errors import Conflict, Invalid, NotFound
from regstd.kernel.principals import Principal
from regstd.kernel.time import utc_now
from regstd.publication.domain import Standard, plan_joint_standard, standard_id_for
from regstd.publication.handlers import Clock, Policy, Publication, StandardRepository
from regstd.publication.lifecycle import (
    begin_life,
    check_clocks,
    check_revision,
    record_disclosure,
    record_filing,
    record_review_conclusion,
    supersede,
)
from regstd.publication.standards import Stored, state_of
from regstd.runtime.consumer import PermanentError
from regstd.runtime.events import Delivery, new_event
from regstd.runtime.store import Change, Loaded

log = logging.getLogger(__name__)


class RevisionRepository(StandardRepository, Protocol):
    """The standards, plus the query that finds revisions whose predecessor may still be in force."""

    async def published_revisions(self, limit: int) -> list[Standard]: ...

    async def predecessor_superseded(self, standard_id: str) -> None: ...


class Stewardship:
    """The life of published standards."""

    def __init__(
        self,
        standards: RevisionRepository,
        publication: Publication,
        reference: Reference,
        policy: Policy,
        clock: Clock = utc_now,
        *,
        batch_size: int = 100,
    ) -> None:
        self.standards = standards
        self.publication = publication
        self.reference = reference
        self.policy = policy
        self.clock = clock
        self.batch_size = batch_size

    # -- consuming approvals --------------------------------------------------------------------

    async def on_final_approval(self, delivery: Delivery[ProjectFinallyApproved]) -> None:
        """A new standard is numbered from its block; a revision keeps the number it revises."""
        if delivery.data.supersedes is None:
            await self.publication.on_final_approval(delivery)
        else:
            await self.on_revision_approved(delivery)

    async def on_revision_approved(self, delivery: Delivery[ProjectFinallyApproved]) -> None:
        """Publish a revision under the old sequence number with the new year; supersede the old one."""
        approval = delivery.data
        assert approval.supersedes is not None
        standard_id = standard_id_for(approval.project_id)
        existing = await self.standards.get(standard_id)
        if existing is not None:  # a redelivery, perhaps after a crash before the supersession
            await self._supersede_predecessor(existing.standard)
            return
        old = await self.standards.get(approval.supersedes)
        if old is None:
            raise PermanentError(
                f"project {approval.project_id} revises {approval.supersedes}, which is not a standard here"
            )
        try:
            plan = plan_joint_standard(approval, self.reference)
            check_revision(old.standard, plan.area, plan.parties)
        except Invalid as error:
            raise PermanentError(f"project {approval.project_id} cannot be published: {error}") from error
        now = self.clock()
        standard = Standard.numbered(
            plan, old.standard.sequence, at=now, publication_delay_days=self.policy.publication_delay_days
        )
        events = []
        if self.policy.publication_delay_days == 0:
            standard = begin_life(
                standard.publish(now, self.policy.implementation_offset_days), self.policy.life
            )
            events.append(new_event(standard.published_event(), now=now))
        if await self.standards.add(standard, events, consumed=delivery.id):
            log.info(
                "revision stored",
                extra={"standard_id": standard_id, "supersedes": old.standard.id, "status": standard.status},
            )
            await self._supersede_predecessor(standard)

    async def complete_supersessions(self) -> int:
        """Supersede the predecessors of published revisions that are still in force (a revision
        published later than numbered, or a crash between the two writes)."""
        done = 0
        for revision in await self.standards.published_revisions(self.batch_size):
            done += await self._supersede_predecessor(revision)
        return done

    async def _supersede_predecessor(self, revision: Standard) -> int:
        if revision.supersedes is None or revision.status != "published":
            return 0
        for _ in range(5):
            stored = await self.standards.get(revision.supersedes)
            if stored is None or stored.standard.status != "published":
                await self.standards.predecessor_superseded(revision.id)
                return 0
            now = self.clock()
            old, events = supersede(stored.standard, revision, now)
            if await self.standards.replace(stored, old, [new_event(e, now=now) for e in events]):
                log.info("standard superseded", extra={"standard_id": old.id, "superseded_by": revision.id})
                await self.standards.predecessor_superseded(revision.id)
                return 1
        raise Conflict(f"standard {revision.supersedes} kept changing while being superseded")

    # -- clocks ----------------------------------------------------------------------------------

    def decide_clocks(self, loaded: Loaded, now: datetime) -> Change | None:
        """The clock scheduler's decision for one standard whose clocks are due (see runtime.clocks)."""
        standard = Standard.from_dict(loaded.id, loaded.state)
        checked, events = check_clocks(standard, now, self.policy.life)
        if checked == standard:
            return None
        return state_of(checked), [new_event(e, now=now) for e in events]

    async def tick(self) -> None:
        """Background work besides the clocks: finish supersessions."""
        await self.complete_supersessions()

    # -- commands --------------------------------------------------------------------------------

    async def record_filing(
        self,
        standard_id: str,
        *,
        party: str,
        authority: FilingAuthority,
        filing_number: str,
        filed_on: date,
        caller: Principal,
    ) -> Standard:
        """A party's regulator records its filing (备案)."""
        caller.require_region(party)
        return await self._change(
            standard_id,
            lambda s, now: record_filing(
                s,
                party=party,
                authority=authority,
                filing_number=filing_number,
                filed_on=filed_on,
                by=caller,
                now=now,
                policy=self.policy.life,
            ),
        )

    async def record_disclosure(
        self, standard_id: str, *, location: str, disclosed_on: date, caller: Principal
    ) -> Standard:
        """A party's regulator records the text disclosure."""
        caller.require_regulator()
        return await self._change(
            standard_id,
            lambda s, now: record_disclosure(
                s, location=location, disclosed_on=disclosed_on, by=caller, now=now
            ),
        )

    async def record_review_conclusion(
        self, standard_id: str, *, outcome: ReviewOutcome, reason: str | None, caller: Principal
    ) -> Standard:
        """A party's regulator records its review (复审) conclusion."""
        caller.require_regulator()
        return await self._change(
            standard_id,
            lambda s, now: record_review_conclusion(
                s, outcome=outcome, reason=reason, by=caller, now=now, policy=self.policy.life
            ),
        )

    async def _change(
        self,
        standard_id: str,
        decide: Callable[[Standard, datetime], tuple[Standard, list[EventModel]]],
        attempts: int = 5,
    ) -> Standard:
        for _ in range(attempts):
            stored: Stored | None = await self.standards.get(standard_id)
            if stored is None:
                raise NotFound(f"no standard {standard_id}")
            now = self.clock()
            changed, events = decide(stored.standard, now)
            if await self.standards.replace(stored, changed, [new_event(e, now=now) for e in events]):
                return changed
        raise Conflict(f"standard {standard_id} kept changing; try again")
