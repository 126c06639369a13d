"""Where `Standard` aggregates are kept: the runtime's aggregate store (state, outbox and consumed
event ids in one document, written in one versioned update), plus the queries this service needs.

Reads for the catalogue live in `catalogue.py`; this module is the write side.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pymongo import ASCENDING

from regstd.publication.domain import Standard
from regstd.runtime.events import PendingEvent
from regstd.runtime.store import AggregateStore, Loaded, VersionConflict

ALLOCATION_RECORDED = "allocation_recorded"
"""On a withdrawn standard: whether its allocation already says `not_issued` (see `Publication`)."""


PREDECESSOR_SUPERSEDED = "predecessor_superseded"
"""On a published revision: whether the standard it revises is known to be superseded."""


@dataclass(frozen=True)
class Stored:
    """A standard as loaded, with what a versioned save needs."""

    standard: Standard
    loaded: Loaded

    def has_processed(self, event_id: str) -> bool:
        """Whether the consumed event with this id already had its effect here."""
        return self.loaded.has_processed(event_id)


class MongoStandards:
    """The standards collection, through the runtime's `AggregateStore`."""

    def __init__(self, store: AggregateStore) -> None:
        self.store = store
        self.collection = store.collection

    async def ensure_indexes(self) -> None:
        """Indexes for the publication loop, the catalogue's filters and the lookup by number."""
        await self.store.ensure_indexes()
        c = self.collection
        await c.create_index([("status", ASCENDING), ("publish_due_at", ASCENDING)], name="due")
        await c.create_index([("area", ASCENDING), ("sequence", ASCENDING)], name="area_sequence")
        await c.create_index([("numbers.number", ASCENDING)], name="by_number")
        await c.create_index([("parties", ASCENDING)], name="by_party")
        await c.create_index([("year", ASCENDING)], name="by_year")
        await c.create_index([("project_id", ASCENDING)], name="by_project")

    async def get(self, standard_id: str) -> Stored | None:
        """The standard with its version, or None."""
        loaded = await self.store.load(standard_id)
        if loaded is None:
            return None
        return Stored(Standard.from_dict(standard_id, loaded.state), loaded)

    async def add(self, standard: Standard, events: Sequence[PendingEvent], consumed: str | None) -> bool:
        """Store a new standard with its events and the consumed event id; False when it exists."""
        try:
            await self.store.save(
                standard.id, state_of(standard), loaded=None, events=events, consumed=consumed
            )
        except VersionConflict:
            return False
        return True

    async def replace(self, stored: Stored, standard: Standard, events: Sequence[PendingEvent]) -> bool:
        """Store a changed standard with its events; False when it changed since it was loaded."""
        try:
            await self.store.save(standard.id, state_of(standard), loaded=stored.loaded, events=events)
        except VersionConflict:
            return False
        return True

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of numbered standards whose publication date has come."""
        cursor = self.collection.find(
            {"status": "numbered", "publish_due_at": {"$lte": now}}, projection={"_id": True}
        ).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def published_revisions(self, limit: int) -> list[Standard]:
        """Published revisions whose predecessor may still be in force (oldest first)."""
        cursor = (
            self.collection.find(
                {
                    "status": "published",
                    "supersedes": {"$type": "string"},
                    PREDECESSOR_SUPERSEDED: {"$ne": True},
                }
            )
            .sort("published_at", ASCENDING)
            .limit(limit)
        )
        return [Standard.from_dict(doc["_id"], doc) async for doc in cursor]

    async def predecessor_superseded(self, standard_id: str) -> None:
        """Note on a revision that the standard it revises is superseded, so the repair round skips it.

        Set outside the versioned save, like `allocation_recorded`: a later save of the revision drops
        it, and the round then finds the predecessor superseded and sets it again.
        """
        await self.collection.update_one({"_id": standard_id}, {"$set": {PREDECESSOR_SUPERSEDED: True}})

    async def withdrawn_unrecorded(self, limit: int) -> list[Standard]:
        """Withdrawn standards whose allocation may not say `not_issued` yet."""
        cursor = self.collection.find({"status": "withdrawn", ALLOCATION_RECORDED: False}).limit(limit)
        return [Standard.from_dict(doc["_id"], doc) async for doc in cursor]

    async def allocation_recorded(self, standard_id: str) -> None:
        """Note that a withdrawn standard's allocation says `not_issued`.

        A withdrawn standard never changes again, so this one field is set outside the versioned
        save; were it ever lost, the allocation would only be marked again (which is idempotent).
        """
        await self.collection.update_one(
            {"_id": standard_id, "status": "withdrawn"}, {"$set": {ALLOCATION_RECORDED: True}}
        )


def state_of(standard: Standard) -> dict[str, object]:
    """The stored state of a standard, with the marker the withdrawal repair looks for."""
    state = standard.to_dict()
    if standard.status == "withdrawn":
        state[ALLOCATION_RECORDED] = False
    return state
