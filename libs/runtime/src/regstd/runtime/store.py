"""Aggregate documents that carry their own outbox: the transactional outbox without transactions.

One document holds an aggregate's state, the events its last changes produced (`_outbox`) and the
ids of the events it consumed (`_processed`). A handler's whole effect is one atomic update of that
one document, guarded by `_version`, so the state, the outgoing events and the consumed id are
stored together or not at all. The relay publishes `_outbox` entries and pulls them afterwards.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from regstd.runtime.events import PendingEvent

VERSION = "_version"
OUTBOX = "_outbox"
OUTBOX_COUNT = "_outbox_count"
PROCESSED = "_processed"
RELAY_LEASE = "_relay_lease"
META_FIELDS = frozenset({"_id", VERSION, OUTBOX, OUTBOX_COUNT, PROCESSED, RELAY_LEASE})

Document = dict[str, Any]


Change = tuple[Mapping[str, Any], Sequence[PendingEvent]]
"""A decision's outcome: the aggregate's new state and the events it produces."""


class VersionConflict(RuntimeError):
    """Someone else changed the aggregate since it was loaded; load again and retry."""


@dataclass(frozen=True)
class Loaded:
    """An aggregate's state as read, with the version a save must still find."""

    id: str
    version: int
    state: Document
    processed: frozenset[str] = field(default_factory=frozenset)

    def has_processed(self, event_id: str) -> bool:
        """Whether the event with this id already had its effect on this aggregate."""
        return event_id in self.processed


class AggregateStore:
    """One collection of aggregates of one kind, written only through versioned saves."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        on_pending: Callable[[str, str], None] | None = None,
    ) -> None:
        """`on_pending(collection name, aggregate id)` is called after a save that stored events
        (the relay's `notify`), so that the relay claims that aggregate by `_id` at once."""
        self.collection = collection
        self._on_pending = on_pending

    async def ensure_indexes(self) -> None:
        """The index the relay scans for aggregates with pending events."""
        await self.collection.create_index([(OUTBOX_COUNT, ASCENDING)], name="outbox_pending")

    async def load(self, aggregate_id: str) -> Loaded | None:
        """The aggregate with its version, or None if it does not exist."""
        doc = await self.collection.find_one(
            {"_id": aggregate_id}, projection={OUTBOX: False, RELAY_LEASE: False}
        )
        if doc is None:
            return None
        state = {k: v for k, v in doc.items() if k not in META_FIELDS}
        return Loaded(
            id=aggregate_id,
            version=doc[VERSION],
            state=state,
            processed=frozenset(doc.get(PROCESSED, ())),
        )

    async def save(
        self,
        aggregate_id: str,
        state: Mapping[str, Any],
        *,
        loaded: Loaded | None,
        events: Sequence[PendingEvent] = (),
        consumed: str | None = None,
    ) -> int:
        """Store the new state with its events and the consumed event id in one atomic write.

        `loaded` is what the change was computed from (None for a new aggregate). Raises
        VersionConflict when the aggregate changed meanwhile, or already exists when new.
        Returns the new version.
        """
        if any(key in META_FIELDS or key.startswith("$") for key in state):
            raise ValueError(f"state may not use the reserved fields {sorted(META_FIELDS)}")
        outbox = [e.to_document() for e in events]
        processed = [consumed] if consumed else []
        if loaded is None:
            doc: Document = {
                "_id": aggregate_id,
                **state,
                VERSION: 1,
                OUTBOX: outbox,
                OUTBOX_COUNT: len(outbox),
                PROCESSED: processed,
            }
            try:
                await self.collection.insert_one(doc)
            except DuplicateKeyError as error:
                raise VersionConflict(f"aggregate {aggregate_id} already exists") from error
            new_version = 1
        else:
            update: Document = {"$inc": {VERSION: 1, OUTBOX_COUNT: len(outbox)}}
            if state:
                update["$set"] = dict(state)
            removed = set(loaded.state) - set(state)
            if removed:
                update["$unset"] = dict.fromkeys(removed, "")
            pushes: Document = {}
            if outbox:
                pushes[OUTBOX] = {"$each": outbox}
            if processed:
                pushes[PROCESSED] = {"$each": processed}
            if pushes:
                update["$push"] = pushes
            result = await self.collection.update_one({"_id": aggregate_id, VERSION: loaded.version}, update)
            if result.matched_count == 0:
                raise VersionConflict(f"aggregate {aggregate_id} changed since version {loaded.version}")
            new_version = loaded.version + 1
        if outbox and self._on_pending is not None:
            self._on_pending(self.collection.name, aggregate_id)
        return new_version

    async def apply_once(
        self,
        aggregate_id: str,
        event_id: str,
        decide: Callable[[Loaded | None], Change | None],
        *,
        attempts: int = 5,
    ) -> bool:
        """The idempotent consumer: apply a consumed event's effect on one aggregate exactly once.

        `decide` gets the current aggregate (None if new) and returns its new state and events, or
        None for no change. An event the aggregate already processed is skipped; a concurrent change
        makes it load and decide again. Returns whether this call stored an effect.
        """
        for attempt in range(1, attempts + 1):
            loaded = await self.load(aggregate_id)
            if loaded is not None and loaded.has_processed(event_id):
                return False
            change = decide(loaded)
            if change is None:
                return False
            state, events = change
            try:
                await self.save(aggregate_id, state, loaded=loaded, events=events, consumed=event_id)
            except VersionConflict:
                if attempt == attempts:
                    raise
                continue
            return True
        return False  # unreachable: the last attempt returns or raises
