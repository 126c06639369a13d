"""An in-memory aggregate store for unit tests of handlers, with the semantics of the real one
(`store.AggregateStore`): versioned saves that refuse a stale version or an existing id, the consumed
ids kept with the aggregate, and an outbox of every event saved. Never used by a running service."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from regstd.runtime.events import PendingEvent
from regstd.runtime.store import META_FIELDS, Document, Loaded, VersionConflict


@dataclass
class _Kept:
    state: Document
    version: int
    processed: frozenset[str]


@dataclass
class MemoryAggregateStore:
    """Aggregates of one kind in memory; `outbox` holds every event saved, in order."""

    documents: dict[str, _Kept] = field(default_factory=dict)
    outbox: list[PendingEvent] = field(default_factory=list)

    async def load(self, aggregate_id: str) -> Loaded | None:
        """The aggregate with its version, or None."""
        kept = self.documents.get(aggregate_id)
        if kept is None:
            return None
        return Loaded(aggregate_id, kept.version, dict(kept.state), kept.processed)

    async def save(
        self,
        aggregate_id: str,
        state: Mapping[str, Any],
        *,
        loaded: Loaded | None,
        events: Sequence[PendingEvent] = (),
        consumed: str | None = None,
    ) -> int:
        """Store state, events and the consumed id; VersionConflict as the real store raises it."""
        if any(key in META_FIELDS or key.startswith("$") for key in state):
            raise ValueError(f"state may not use the reserved fields {sorted(META_FIELDS)}")
        kept = self.documents.get(aggregate_id)
        if loaded is None and kept is not None:
            raise VersionConflict(f"aggregate {aggregate_id} already exists")
        if loaded is not None and (kept is None or kept.version != loaded.version):
            raise VersionConflict(f"aggregate {aggregate_id} changed since version {loaded.version}")
        version = 1 if kept is None else kept.version + 1
        processed = (kept.processed if kept else frozenset()) | ({consumed} if consumed else set())
        self.documents[aggregate_id] = _Kept(dict(state), version, processed)
        self.outbox += events
        return version

    def states(self) -> dict[str, Document]:
        """Every aggregate's stored state by id."""
        return {aggregate_id: kept.state for aggregate_id, kept in self.documents.items()}

    def events_of(self, event_type: str) -> list[PendingEvent]:
        """The saved events of one CloudEvents type, in order."""
        return [event for event in self.outbox if event.type == event_type]
