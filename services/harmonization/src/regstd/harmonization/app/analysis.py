"""The difference-analysis use cases: a region's limit import (all or nothing), and assessments
stored once per set of inputs through the unit of work of the assessments."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from regstd.contracts.reference import Reference
from regstd.harmonization.app.ports import LimitImports
from regstd.harmonization.domain.assessment import Assessment, Policy, assess, assessment_id
from regstd.harmonization.domain.limits import (
    MAX_IMPORT_ROWS,
    LimitRow,
    Medium,
    ParameterTable,
    import_id,
    parse_rows,
    read_csv,
    read_json,
    require_row_count,
    rows_digest,
    rows_from_dicts,
)
from regstd.kernel.errors import Invalid
from regstd.kernel.principals import Principal
from regstd.kernel.time import Now, utc_now
from regstd.runtime.unit_of_work import Codec, Documents, UnitOfWork

log = logging.getLogger(__name__)

ImportFormat = Literal["csv", "json"]


@dataclass(frozen=True)
class Imported:
    """A stored import: its id, region, how many rows, and whether this call stored it."""

    import_id: str
    region: str
    rows: int
    digest: str
    created: bool


def assessments(documents: Documents, clock: Now = utc_now) -> UnitOfWork[Assessment]:
    """The unit of work of the assessments kept in `documents`, each with its `AssessmentCompleted`."""
    return UnitOfWork(
        documents, Codec(Assessment.to_state, Assessment.from_state), kind="assessment", clock=clock
    )


class Analysis:
    """Limit imports and assessments."""

    def __init__(
        self,
        imports: LimitImports,
        assessments: UnitOfWork[Assessment],
        reference: Reference,
        *,
        table: ParameterTable | None = None,
        max_import_rows: int = MAX_IMPORT_ROWS,
    ) -> None:
        self.max_import_rows = max_import_rows
        self.imports = imports
        self.assessments = assessments
        self.reference = reference
        self.table = table or ParameterTable()

    async def import_limits(self, text: str, fmt: ImportFormat, by: Principal) -> Imported:
        """Validate every row first, then store them all in one document, or nothing.

        A regulator imports its own region's limits; `ImportRejected` names every bad row, or the
        row limit (`max_import_rows`) an import over it breaks.
        """
        by.require_regulator()
        raw = read_csv(text) if fmt == "csv" else read_json(text)
        require_row_count(raw, self.max_import_rows)
        rows = parse_rows(raw, region=by.code, table=self.table)
        stored = [r.to_dict() for r in rows]
        digest = rows_digest(stored)
        imported = import_id(by.code, digest)
        created = await self.imports.add(
            {
                "_id": imported,
                "region": by.code,
                "format": fmt,
                "row_count": len(rows),
                "digest": digest,
                "rows": stored,
                "imported_by": by.actor().model_dump(),
                "imported_at": self.assessments.now(),  # the service's time, as the store keeps it
            }
        )
        # Not `created`: that is a LogRecord attribute, and `logging` refuses to overwrite one.
        log.info("limits imported", extra={"import_id": imported, "rows": len(rows), "stored": created})
        return Imported(imported, by.code, len(rows), digest, created)

    async def imports_of(self, region: str | None) -> list[dict[str, Any]]:
        """Every import (of one region, or all) without its rows, newest first per region."""
        return await self.imports.listing(region)

    async def run(
        self,
        regions: Sequence[str],
        media: Sequence[Medium],
        policy: Policy,
        by: Principal,
        imports: dict[str, str] | None = None,
    ) -> Assessment:
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
            used_id, region_rows = await self._rows_for(region, chosen.get(region))
            used.append(used_id)
            rows += region_rows
        report = assess(rows, regions=regions, media=media, policy=policy, imports=used, table=self.table)
        aid = assessment_id(report.inputs_digest)
        existing = await self.assessments.find(aid)
        if existing is not None:
            return existing
        done = await self.assessments.create(aid, lambda now: Assessment.complete(report, by.actor(), now))
        if done is None:  # another request stored the same one first
            return await self.assessments.get(aid)
        log.info("assessment completed", extra={"assessment_id": aid, "parameters": len(report.comparisons)})
        return done

    async def get(self, assessment_id: str) -> Assessment:
        """A stored assessment with its report."""
        return await self.assessments.get(assessment_id)  # NotFound: "no assessment …"

    async def _rows_for(self, region: str, chosen: str | None) -> tuple[str, list[LimitRow]]:
        """The region's chosen import (or its latest), its rows aligned again with the current table."""
        doc = await (self.imports.get(chosen) if chosen else self.imports.latest(region))
        if doc is None:
            raise Invalid(
                f"region {region} has imported no limits" if chosen is None else f"no import {chosen}"
            )
        if doc["region"] != region:
            raise Invalid(f"import {chosen} holds region {doc['region']}'s limits, not region {region}'s")
        return doc["_id"], rows_from_dicts(doc["rows"], region, self.table)
