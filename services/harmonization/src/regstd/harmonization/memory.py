"""In-memory adapters of harmonization's repositories, with the semantics of the MongoDB ones
(`stores`): for unit tests of the handlers and for tests that serve the routes without a store."""

from collections.abc import Callable, Sequence
from typing import Any

from regstd.harmonization.adoption import EcoStandard
from regstd.runtime.events import PendingEvent
from regstd.runtime.store import Change, Loaded


class MemoryEcoStandards:
    """Eco standards in memory, with the aggregate store's versioned saves and idempotent consumption."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[dict[str, Any], int, frozenset[str]]] = {}
        self.outbox: list[PendingEvent] = []

    def _loaded(self, sid: str) -> Loaded | None:
        if sid not in self.docs:
            return None
        state, version, processed = self.docs[sid]
        return Loaded(sid, version, state, processed)

    async def load(self, sid: str) -> tuple[EcoStandard, Loaded] | None:
        loaded = self._loaded(sid)
        return None if loaded is None else (EcoStandard.from_dict(sid, loaded.state), loaded)

    async def save(self, standard: EcoStandard, loaded: Loaded, events: Sequence[PendingEvent]) -> bool:
        _, version, processed = self.docs[standard.id]
        if version != loaded.version:
            return False
        self.docs[standard.id] = (standard.to_dict(), version + 1, processed)
        self.outbox += events
        return True

    async def apply_once(
        self, sid: str, event_id: str, decide: Callable[[Loaded | None], Change | None]
    ) -> bool:
        loaded = self._loaded(sid)
        if loaded is not None and loaded.has_processed(event_id):
            return False
        change = decide(loaded)
        if change is None:
            return False
        state, events = change
        version = 0 if loaded is None else loaded.version
        processed = (loaded.processed if loaded else frozenset()) | {event_id}
        self.docs[sid] = (dict(state), version + 1, processed)
        self.outbox += events
        return True

    async def find(
        self, *, member: str | None = None, source: str | None = None, adopter: str | None = None
    ) -> list[EcoStandard]:
        found = [EcoStandard.from_dict(sid, state) for sid, (state, _, _) in sorted(self.docs.items())]
        return [
            s
            for s in found
            if (member is None or member in s.members)
            and (source is None or source in s.sources)
            and (adopter is None or adopter in s.adopters)
        ]

    def events(self, type_suffix: str) -> list[dict[str, Any]]:
        """The data of the outgoing events whose CloudEvents type ends so, in order."""
        return [e.data for e in self.outbox if e.type.endswith(type_suffix)]


class MemoryImports:
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
        return [
            {k: v for k, v in d.items() if k != "rows"}
            for d in self.docs.values()
            if region is None or d["region"] == region
        ]


class MemoryAssessments:
    """Assessments in memory with their events."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.outbox: list[PendingEvent] = []

    async def get(self, assessment_id: str) -> dict[str, Any] | None:
        return self.docs.get(assessment_id)

    async def add(self, assessment_id: str, state: dict[str, Any], events: Sequence[PendingEvent]) -> bool:
        if assessment_id in self.docs:
            return False
        self.docs[assessment_id] = {"_id": assessment_id, **state}
        self.outbox += events
        return True
