"""The harmonization use cases: offers from published eco standards, members' decisions, notices to
adopters, limit imports and assessments. Each loads, asks the pure domain, and saves through a port
(`stores.py` holds the MongoDB adapters; the tests use fakes).
"""

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from regstd.contracts.harmonization import AssessmentCompleted
from regstd.contracts.publication import StandardPublished, StandardSuperseded, StandardWithdrawn
from regstd.contracts.reference import Reference
from regstd.harmonization.adoption import (
    ECO_CATEGORIES,
    DecisionRequest,
    EcoStandard,
    SourceNotice,
)
from regstd.harmonization.assessment import (
    Policy,
    assess,
    assessment_id,
    canonical_json,
    report_body,
    report_digest,
)
from regstd.harmonization.limits import (
    LimitRow,
    Medium,
    ParameterTable,
    parse_rows,
    read_csv,
    read_json,
    rows_from_dicts,
)
from regstd.kernel.errors import Conflict, Invalid, NotFound
from regstd.kernel.principals import Principal
from regstd.kernel.time import Now, utc_now
from regstd.runtime.events import Delivery, PendingEvent, new_event
from regstd.runtime.store import Change, Loaded

log = logging.getLogger(__name__)

Clock = Now
"""The service's time (`utc_now` in production, a controllable clock in tests)."""
ImportFormat = Literal["csv", "json"]


def in_milliseconds(clock: Clock) -> Clock:
    """The clock as the store keeps moments (milliseconds), so what is answered is what is stored."""
    return lambda: (now := clock()).replace(microsecond=now.microsecond // 1000 * 1000)


# ---------------------------------------------------------------------------------------------
# Ports


class EcoStandardRepository(Protocol):
    """Where the eco standards and their offers and decisions are kept (`stores.MongoEcoStandards`)."""

    async def load(self, standard_id: str) -> tuple[EcoStandard, Loaded] | None: ...

    async def save(self, standard: EcoStandard, loaded: Loaded, events: Sequence[PendingEvent]) -> bool: ...

    async def apply_once(
        self, standard_id: str, event_id: str, decide: Callable[[Loaded | None], Change | None]
    ) -> bool: ...

    async def find(
        self, *, member: str | None = None, source: str | None = None, adopter: str | None = None
    ) -> list[EcoStandard]: ...


class ImportRepository(Protocol):
    """Where limit imports are kept, one document each (`stores.MongoImports`)."""

    async def add(self, document: dict[str, Any]) -> bool: ...

    async def get(self, import_id: str) -> dict[str, Any] | None: ...

    async def latest(self, region: str) -> dict[str, Any] | None: ...

    async def listing(self, region: str | None) -> list[dict[str, Any]]: ...


class AssessmentRepository(Protocol):
    """Where assessment reports are kept with their `AssessmentCompleted` event."""

    async def get(self, assessment_id: str) -> dict[str, Any] | None: ...

    async def add(
        self, assessment_id: str, state: dict[str, Any], events: Sequence[PendingEvent]
    ) -> bool: ...


# ---------------------------------------------------------------------------------------------
# Adoption


class Adoptions:
    """Offers, decisions and notices of eco-standard adoption."""

    def __init__(
        self,
        standards: EcoStandardRepository,
        reference: Reference,
        *,
        area: str = "yangtze",
        eco_categories: Iterable[str] = ECO_CATEGORIES,
        clock: Clock = utc_now,
    ) -> None:
        self.standards = standards
        self.reference = reference
        self.area = area
        self.eco_categories = tuple(eco_categories)
        self.clock = in_milliseconds(clock)

    async def on_published(self, delivery: Delivery[StandardPublished]) -> None:
        """Offer a published eco standard of a member to every other member, once."""
        published = delivery.data
        now = self.clock()

        def decide(loaded: Loaded | None) -> Change | None:
            if loaded is not None:
                return None  # offered before
            eco = EcoStandard.offer(
                published, self.reference, area=self.area, at=now, eco_categories=self.eco_categories
            )
            if eco is None:
                return None
            return eco.to_dict(), [new_event(e, now=now) for e in eco.offered_events()]

        if await self.standards.apply_once(published.standard_id, delivery.id, decide):
            log.info("adoption offered", extra={"standard_id": published.standard_id})

    async def on_withdrawn(self, delivery: Delivery[StandardWithdrawn]) -> None:
        """Tell every adopter that the source standard was withdrawn."""
        w = delivery.data
        notice = SourceNotice("withdrawn", w.effective_date, self.clock(), reason=w.reason)
        await self._source_changed(w.standard_id, delivery.id, notice)

    async def on_superseded(self, delivery: Delivery[StandardSuperseded]) -> None:
        """Tell every adopter that the source standard was superseded, and by what."""
        s = delivery.data
        notice = SourceNotice(
            "superseded",
            s.effective_date,
            self.clock(),
            superseded_by=s.superseded_by,
            superseded_by_numbers=tuple(s.superseded_by_numbers),
        )
        await self._source_changed(s.standard_id, delivery.id, notice)

    async def _source_changed(self, standard_id: str, event_id: str, notice: SourceNotice) -> None:
        def decide(loaded: Loaded | None) -> Change | None:
            if loaded is None:
                return None  # not an eco standard offered for adoption
            changed = EcoStandard.from_dict(standard_id, loaded.state).source_changed(notice)
            if changed is None:
                return None
            return changed.to_dict(), [new_event(e, now=notice.at) for e in changed.notice_events()]

        if await self.standards.apply_once(standard_id, event_id, decide):
            log.info(
                "adopters told of a source change",
                extra={"standard_id": standard_id, "change": notice.change},
            )

    async def decide(
        self, standard_id: str, request: DecisionRequest, by: Principal, attempts: int = 5
    ) -> EcoStandard:
        """Record a member's decision: only that member's regulator may, and only once."""
        by.require_region(request.member)
        for _ in range(attempts):
            found = await self.standards.load(standard_id)
            if found is None:
                raise NotFound(f"no eco standard {standard_id} was offered for adoption")
            current, loaded = found
            now = self.clock()
            decided, recorded = current.decide(request, by, now)
            if not recorded:
                return current
            event = new_event(decided.decided_event(request.member), now=now)
            if await self.standards.save(decided, loaded, [event]):
                log.info(
                    "adoption decided",
                    extra={
                        "standard_id": standard_id,
                        "member": request.member,
                        "decision": request.decision,
                    },
                )
                return decided
        raise Conflict(f"{standard_id} kept changing while the decision was recorded; try again")

    async def get(self, standard_id: str) -> EcoStandard:
        """One offered eco standard with its offers and decisions."""
        found = await self.standards.load(standard_id)
        if found is None:
            raise NotFound(f"no eco standard {standard_id} was offered for adoption")
        return found[0]

    def check_member(self, member: str | None) -> None:
        """Refuse a filter naming a region outside the adoption area."""
        if member is not None and member not in self.reference.area(self.area).parties:
            raise Invalid(f"region {member!r} is not a member of {self.area}")


# ---------------------------------------------------------------------------------------------
# Difference analysis


@dataclass(frozen=True)
class Imported:
    """A stored import: its id, region, how many rows, and whether this call stored it."""

    import_id: str
    region: str
    rows: int
    digest: str
    created: bool


def rows_digest(rows: Sequence[LimitRow] | Sequence[dict[str, Any]]) -> str:
    """SHA-256 of the rows as written (or as stored): the same file imported twice is the same import."""
    stored = [r if isinstance(r, dict) else r.to_dict() for r in rows]
    return hashlib.sha256(canonical_json(stored).encode("utf-8")).hexdigest()


class Analysis:
    """Limit imports and assessments."""

    def __init__(
        self,
        imports: ImportRepository,
        assessments: AssessmentRepository,
        reference: Reference,
        *,
        table: ParameterTable | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.imports = imports
        self.assessments = assessments
        self.reference = reference
        self.table = table or ParameterTable()
        self.clock = in_milliseconds(clock)

    async def import_limits(self, text: str, fmt: ImportFormat, by: Principal) -> Imported:
        """Validate every row first, then store them all in one document, or nothing.

        A regulator imports its own region's limits; `ImportRejected` names every bad row.
        """
        by.require_regulator()
        raw = read_csv(text) if fmt == "csv" else read_json(text)
        rows = parse_rows(raw, region=by.code, table=self.table)
        stored = [r.to_dict() for r in rows]
        digest = rows_digest(stored)
        import_id = f"imp-{by.code}-{digest[:20]}"
        document = {
            "_id": import_id,
            "region": by.code,
            "format": fmt,
            "row_count": len(rows),
            "digest": digest,
            "rows": stored,
            "imported_by": by.actor().model_dump(),
            "imported_at": self.clock(),
        }
        created = await self.imports.add(document)
        log.info("limits imported", extra={"import_id": import_id, "rows": len(rows), "created": created})
        return Imported(import_id, by.code, len(rows), digest, created)

    async def _rows_for(self, region: str, import_id: str | None) -> tuple[str, list[LimitRow]]:
        doc = await (self.imports.get(import_id) if import_id else self.imports.latest(region))
        if doc is None:
            raise Invalid(
                f"region {region} has imported no limits" if import_id is None else f"no import {import_id}"
            )
        if doc["region"] != region:
            raise Invalid(f"import {import_id} holds region {doc['region']}'s limits, not region {region}'s")
        return doc["_id"], rows_from_dicts(doc["rows"], region, self.table)

    async def run(
        self,
        regions: Sequence[str],
        media: Sequence[Medium],
        policy: Policy,
        by: Principal,
        imports: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Assess the chosen regions' latest imports (or the named ones); the stored assessment.

        The id follows from the inputs, so the same inputs return the stored assessment and
        publish nothing again.
        """
        by.require_regulator()
        unknown = sorted(set(regions) - set(self.reference.regions))
        if unknown:
            raise Invalid(f"unknown regions {unknown}")
        chosen = (imports or {}).copy()
        strangers = sorted(set(chosen) - set(regions))
        if strangers:
            raise Invalid(f"imports named for regions {strangers} that are not chosen")
        used: list[str] = []
        rows: list[LimitRow] = []
        for region in sorted(set(regions)):
            import_id, region_rows = await self._rows_for(region, chosen.get(region))
            used.append(import_id)
            rows += region_rows
        report = assess(rows, regions=regions, media=media, policy=policy, imports=used, table=self.table)
        body = report_body(report)
        digest = report_digest(body)
        aid = assessment_id(report.inputs_digest)
        existing = await self.assessments.get(aid)
        if existing is not None:
            return existing
        now = self.clock()
        event = AssessmentCompleted(
            assessment_id=aid,
            regions=list(report.regions),
            media=list(report.media),
            policy=report.policy,
            imports=list(report.imports),
            inputs_digest=report.inputs_digest,
            report_digest=digest,
            parameters=len(report.comparisons),
            findings=len(report.findings),
            requested_by=by.actor(),
            completed_at=now,
        )
        state = {
            "report": body,
            "report_digest": digest,
            "requested_by": by.actor().model_dump(),
            "completed_at": now,
        }
        if not await self.assessments.add(aid, state, [new_event(event, now=now)]):
            stored = await self.assessments.get(aid)  # another request stored the same one first
            if stored is not None:
                return stored
        log.info("assessment completed", extra={"assessment_id": aid, "parameters": len(report.comparisons)})
        return {"_id": aid, **state}

    async def get(self, assessment_id: str) -> dict[str, Any]:
        """A stored assessment with its report."""
        found = await self.assessments.get(assessment_id)
        if found is None:
            raise NotFound(f"no assessment {assessment_id}")
        return found
