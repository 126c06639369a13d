"""The adoption use cases: offers from published eco standards, members' decisions, notices to
adopters, and the registry's questions. Each loads, asks the pure domain, and saves through the
unit of work of the eco standards."""

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from regstd.contracts.harmonization import (
    AdoptedSourceChanged,
    AdoptionDecided,
    AdoptionDecision,
    AdoptionOffered,
)
from regstd.contracts.publication import StandardPublished, StandardSuperseded, StandardWithdrawn
from regstd.contracts.reference import Reference
from regstd.harmonization.app.ports import EcoStandardListing
from regstd.harmonization.domain.adoption import (
    ADOPTING,
    ECO_CATEGORIES,
    DecisionRequest,
    EcoStandard,
    SourceNotice,
)
from regstd.harmonization.domain.registry import (
    AdoptionRow,
    YearlySummary,
    registry_rows,
    yearly_summary,
)
from regstd.kernel.errors import Invalid
from regstd.kernel.principals import Principal
from regstd.kernel.time import Now, utc_now
from regstd.runtime.events import Delivery
from regstd.runtime.unit_of_work import Codec, Documents, UnitOfWork

log = logging.getLogger(__name__)

Offered = tuple[EcoStandard, list[AdoptionOffered]]
Noticed = tuple[EcoStandard, list[AdoptedSourceChanged]]


@dataclass(frozen=True)
class AdoptedElsewhere:
    """One of a member's own eco standards with the decisions of the members that adopted it."""

    standard: EcoStandard
    adopted_by: list[AdoptionRow]


def eco_standards(documents: Documents, clock: Now = utc_now) -> UnitOfWork[EcoStandard]:
    """The unit of work of the eco standards kept in `documents`, one aggregate per source standard."""
    codec = Codec(EcoStandard.to_dict, EcoStandard.from_dict)
    return UnitOfWork(documents, codec, kind="eco standard", clock=clock)


class Adoptions:
    """Offers, decisions and notices of eco-standard adoption, and the registry."""

    def __init__(
        self,
        standards: UnitOfWork[EcoStandard],
        listing: EcoStandardListing,
        reference: Reference,
        *,
        area: str = "yangtze",
        eco_categories: Iterable[str] = ECO_CATEGORIES,
    ) -> None:
        self.standards = standards
        self.listing = listing
        self.reference = reference
        self.area = area
        self.eco_categories = tuple(eco_categories)

    # -- consumed publication events -----------------------------------------------------------

    async def on_published(self, delivery: Delivery[StandardPublished]) -> None:
        """Offer a published eco standard of a member to every other member, once."""
        published = delivery.data

        def offer(offered: EcoStandard | None, now: datetime) -> Offered | None:
            if offered is not None:
                return None  # offered before
            eco = EcoStandard.offer(
                published, self.reference, area=self.area, at=now, eco_categories=self.eco_categories
            )
            return None if eco is None else (eco, eco.offered_events())

        if offer(None, self.standards.now()) is None:
            return  # it makes no offer (pure): most standards, and they need no read of the store

        if await self.standards.apply_once(published.standard_id, delivery.id, offer):
            log.info("adoption offered", extra={"standard_id": published.standard_id})

    async def on_withdrawn(self, delivery: Delivery[StandardWithdrawn]) -> None:
        """Tell every adopter that the source standard was withdrawn."""
        w = delivery.data
        notice = SourceNotice("withdrawn", w.effective_date, self.standards.now(), reason=w.reason)
        await self._source_changed(w.standard_id, delivery.id, notice)

    async def on_superseded(self, delivery: Delivery[StandardSuperseded]) -> None:
        """Tell every adopter that the source standard was superseded, and by what."""
        s = delivery.data
        notice = SourceNotice(
            "superseded",
            s.effective_date,
            self.standards.now(),
            superseded_by=s.superseded_by,
            superseded_by_numbers=tuple(s.superseded_by_numbers),
        )
        await self._source_changed(s.standard_id, delivery.id, notice)

    async def _source_changed(self, standard_id: str, event_id: str, notice: SourceNotice) -> None:
        def tell(offered: EcoStandard | None, _: datetime) -> Noticed | None:
            if offered is None:
                return None  # not an eco standard offered for adoption
            changed = offered.source_changed(notice)
            return None if changed is None else (changed, changed.notice_events())

        if await self.standards.apply_once(standard_id, event_id, tell):
            log.info(
                "adopters told of a source change",
                extra={"standard_id": standard_id, "change": notice.change},
            )

    # -- commands ------------------------------------------------------------------------------

    async def decide(self, standard_id: str, request: DecisionRequest, by: Principal) -> EcoStandard:
        """Record a member's decision: only that member's regulator may, and only once (the
        identical decision again is answered with the record and stores nothing)."""
        by.require_region(request.member)

        def record(offered: EcoStandard, now: datetime) -> tuple[EcoStandard, list[AdoptionDecided]]:
            decided, recorded = offered.decide(request, by, now)
            return decided, [decided.decided_event(request.member)] if recorded else []

        outcome = await self.standards.change(standard_id, record)
        if outcome.stored:
            log.info(
                "adoption decided",
                extra={"standard_id": standard_id, "member": request.member, "decision": request.decision},
            )
        return outcome.aggregate

    # -- queries -------------------------------------------------------------------------------

    async def get(self, standard_id: str) -> EcoStandard:
        """One offered eco standard with its offers and decisions."""
        return await self.standards.get(standard_id)

    async def offered(self, *, member: str | None = None, source: str | None = None) -> list[EcoStandard]:
        """Every eco standard offered to `member`, published by `source`, with the decisions."""
        self._check_member(member)
        self._check_member(source)
        return await self.listing.find(member=member, source=source)

    async def registry(
        self,
        *,
        member: str | None = None,
        source: str | None = None,
        decisions: Collection[AdoptionDecision] | None = None,
    ) -> list[AdoptionRow]:
        """Every recorded decision matching the filters: who adopted which standard, since when."""
        self._check_member(member)
        self._check_member(source)
        found = await self.listing.find(source=source)
        return registry_rows(found, member=member, source=source, decisions=decisions)

    async def adopted_elsewhere(self, member: str) -> list[AdoptedElsewhere]:
        """The member's own eco standards, each with the members that adopted it."""
        self._check_member(member)
        return [
            AdoptedElsewhere(s, registry_rows([s], decisions=ADOPTING))
            for s in await self.listing.find(source=member)
        ]

    async def summary(self, year: int) -> YearlySummary:
        """The white paper's yearly summary, per member and per standard."""
        if not 1949 <= year <= 9999:
            raise Invalid(f"year {year} is out of range")
        return yearly_summary(await self.listing.find(), year, self.reference, self.area)

    def _check_member(self, member: str | None) -> None:
        """Refuse a filter naming a region outside the adoption area."""
        if member is not None and member not in self.reference.area(self.area).parties:
            raise Invalid(f"region {member!r} is not a member of {self.area}")
