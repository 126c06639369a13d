"""In-memory versions of harmonization's query ports (`app/ports.py`), with the semantics of the
MongoDB adapters (`adapters/mongo.py`): for unit tests of the use cases, and for the CLI's tests that
serve the routes without a store. The aggregates themselves are kept in the runtime's
`MemoryAggregateStore`."""

from dataclasses import dataclass, field
from typing import Any

from regstd.contracts.reference import Reference
from regstd.harmonization.app.adoptions import Adoptions, eco_standards
from regstd.harmonization.app.analysis import Analysis, assessments
from regstd.harmonization.domain.adoption import EcoStandard
from regstd.kernel.time import Now
from regstd.runtime.events import PendingEvent
from regstd.runtime.testing import MemoryAggregateStore


class MemoryEcoStandardListing:
    """Finds the eco standards kept in a `MemoryAggregateStore`, by id."""

    def __init__(self, store: MemoryAggregateStore) -> None:
        self.store = store

    async def find(
        self, *, member: str | None = None, source: str | None = None, adopter: str | None = None
    ) -> list[EcoStandard]:
        found = [EcoStandard.from_dict(sid, state) for sid, state in sorted(self.store.states().items())]
        return [
            s
            for s in found
            if (member is None or member in s.members)
            and (source is None or source in s.sources)
            and (adopter is None or adopter in s.adopters)
        ]


class MemoryLimitImports:
    """Limit imports in memory, one document each."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def add(self, document: dict[str, Any]) -> bool:
        if document["_id"] in self.docs:
            return False
        self.docs[document["_id"]] = document
        return True

    async def get(self, import_id: str) -> dict[str, Any] | None:
        return self.docs.get(import_id)

    async def latest(self, region: str) -> dict[str, Any] | None:
        mine = [d for d in self.docs.values() if d["region"] == region]
        return max(mine, key=lambda d: d["imported_at"], default=None)

    async def listing(self, region: str | None) -> list[dict[str, Any]]:
        kept = sorted(self.docs.values(), key=lambda d: d["imported_at"], reverse=True)
        return [
            {k: v for k, v in d.items() if k != "rows"}
            for d in sorted(kept, key=lambda d: d["region"])
            if region is None or d["region"] == region
        ]


@dataclass
class InMemory:
    """The service's use cases wired over storage in memory, as `main.HarmonizationService` wires
    them over MongoDB."""

    reference: Reference
    clock: Now
    standards: MemoryAggregateStore = field(default_factory=MemoryAggregateStore)
    assessments: MemoryAggregateStore = field(default_factory=MemoryAggregateStore)
    imports: MemoryLimitImports = field(default_factory=MemoryLimitImports)

    def __post_init__(self) -> None:
        self.adoptions = Adoptions(
            eco_standards(self.standards, self.clock),
            MemoryEcoStandardListing(self.standards),
            self.reference,
        )
        self.analysis = Analysis(self.imports, assessments(self.assessments, self.clock), self.reference)


def events(store: MemoryAggregateStore, type_suffix: str) -> list[dict[str, Any]]:
    """The data of the saved events whose CloudEvents type ends so, in order."""
    saved: list[PendingEvent] = store.outbox
    return [e.data for e in saved if e.type.endswith(type_suffix)]
