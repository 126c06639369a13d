"""A region's regulator submits its own, already published standard for cross-region publication;
it is stored with its `StandardPublished` event, once. The rules are in `domain/submission.py`."""

import logging
from datetime import date

from regstd.contracts.reference import Reference
from regstd.kernel.errors import Conflict
from regstd.kernel.principals import Principal
from regstd.kernel.time import china_date
from regstd.publication.app.ports import Designations, NumberHolders
from regstd.publication.domain.life import LifePolicy
from regstd.publication.domain.numbering import Number
from regstd.publication.domain.standard import Standard
from regstd.publication.domain.submission import (
    MAX_IMPLEMENTATION_DAYS,
    Submission,
    check_submission,
    publish_submission,
    same_submission,
    single_region_id,
)
from regstd.runtime.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class SubmissionCases:
    """Stores a submitted single-region standard with its `StandardPublished` event, once."""

    def __init__(
        self,
        standards: UnitOfWork[Standard],
        holders: NumberHolders,
        reference: Reference,
        life: LifePolicy | None = None,
        *,
        designations: Designations,
        max_implementation_days: int = MAX_IMPLEMENTATION_DAYS,
    ) -> None:
        self.standards = standards
        self.holders = holders
        self.reference = reference
        self.life = life or LifePolicy()
        self.designations = designations
        self.max_implementation_days = max_implementation_days

    def today(self) -> date:
        """Today in China Standard Time, by the service's clock."""
        return china_date(self.standards.now())

    async def submit(self, submission: Submission, by: Principal) -> tuple[Standard, bool]:
        """The stored standard and whether this call stored it (False for a repeated submission)."""
        number = check_submission(
            submission,
            by,
            self.reference,
            today=china_date(self.standards.now()),
            max_implementation_days=self.max_implementation_days,
        )
        standard_id = single_region_id(number)
        found = await self.standards.load(standard_id)
        if found is not None:
            if self.standards.made_by_this_request(found):
                return found.aggregate, True  # stored by this request before a crash lost its answer
            return self._repeated(found.aggregate, submission, number), False
        # The designation is the register's, once (decision 0022): the stored standards (those from
        # before the registry) and the registry, whose unique claim settles two submissions racing.
        other = await self.holders.holder(str(number))
        taken = (str(number), other) if other is not None and other != standard_id else None
        taken = taken or await self.designations.claim([str(number)], standard_id)
        if taken is not None:
            raise Conflict(
                f"{taken[0]} is already the designation of standard {taken[1]}; a designation "
                "(code + sequence + year) belongs to one standard only"
            )
        stored = await self.standards.create(
            standard_id, lambda now: publish_submission(submission, number, now, self.life)
        )
        if stored is None:  # the same number was submitted at the same moment
            existing = await self.standards.find(standard_id)
            if existing is None:
                raise Conflict(f"{number} is being submitted concurrently; try again")
            return self._repeated(existing, submission, number), False
        log.info(
            "single-region standard published",
            extra={"standard_id": stored.id, "number": str(number), "area": stored.area},
        )
        return stored, True

    def _repeated(self, existing: Standard, submission: Submission, number: Number) -> Standard:
        """A repeated submission returns what is stored; the same number with other content is refused."""
        submitted, _ = publish_submission(submission, number, self.standards.now(), self.life)
        if not same_submission(existing, submitted):
            raise Conflict(
                f"{number} was already submitted with other content (standard {existing.id}); "
                "a standard's number is given once"
            )
        return existing
