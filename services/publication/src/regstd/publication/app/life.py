"""The life of published standards: fire their clocks (the scheduler's decision), record filings,
text disclosure and review conclusions. The rules are in `domain/life.py`."""

from datetime import date, datetime

from regstd.contracts.publication import FilingAuthority, ReviewOutcome
from regstd.kernel.principals import Principal
from regstd.kernel.time import china_date
from regstd.publication.domain.life import (
    LifePolicy,
    check_clocks,
    record_disclosure,
    record_filing,
    record_review_conclusion,
)
from regstd.publication.domain.standard import Decided, Standard
from regstd.runtime.unit_of_work import UnitOfWork


class LifeCases:
    """Read and record the life of a published standard."""

    def __init__(self, standards: UnitOfWork[Standard], policy: LifePolicy) -> None:
        self.standards = standards
        self.policy = policy

    def today(self) -> date:
        """Today in China Standard Time, by the service's clock."""
        return china_date(self.standards.now())

    async def get(self, standard_id: str) -> Standard:
        """The standard; NotFound when there is none."""
        return await self.standards.get(standard_id)

    def decide_clocks(self, standard: Standard, now: datetime) -> Decided:
        """The clock scheduler's decision for one standard whose clocks are due."""
        return check_clocks(standard, now, self.policy)

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
        outcome = await self.standards.change(
            standard_id,
            lambda s, now: record_filing(
                s,
                party=party,
                authority=authority,
                filing_number=filing_number,
                filed_on=filed_on,
                by=caller,
                now=now,
                policy=self.policy,
            ),
        )
        return outcome.aggregate

    async def record_disclosure(
        self, standard_id: str, *, location: str, disclosed_on: date, caller: Principal
    ) -> Standard:
        """A party's regulator records the text disclosure."""
        caller.require_regulator()
        outcome = await self.standards.change(
            standard_id,
            lambda s, now: record_disclosure(
                s, location=location, disclosed_on=disclosed_on, by=caller, now=now
            ),
        )
        return outcome.aggregate

    async def record_review_conclusion(
        self, standard_id: str, *, outcome: ReviewOutcome, reason: str | None, caller: Principal
    ) -> Standard:
        """A party's regulator records its review (复审) conclusion."""
        caller.require_regulator()
        changed = await self.standards.change(
            standard_id,
            lambda s, now: record_review_conclusion(
                s, outcome=outcome, reason=reason, by=caller, now=now, policy=self.policy
            ),
        )
        return changed.aggregate
