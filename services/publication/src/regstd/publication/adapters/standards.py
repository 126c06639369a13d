"""Where `Standard` aggregates are kept: the runtime's aggregate store (state, outbox and consumed
event ids in one document, written in one versioned update through the unit of work with `CODEC`),
plus the queries the background rounds need (`StandardQueries`).

Reads for the catalogue live in `catalogue.py`; this module is the write side.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from regstd.publication.domain.standard import Standard
from regstd.runtime.store import AggregateStore
from regstd.runtime.unit_of_work import Codec

ALLOCATION_RECORDED = "allocation_recorded"
"""On a withdrawn standard: whether its allocation already says `not_issued` (see `PublishingCases`)."""


PREDECESSOR_SUPERSEDED = "predecessor_superseded"
"""On a published revision: whether the standard it revises is known to be superseded."""


def state_of(standard: Standard) -> dict[str, Any]:
    """The stored state of a standard, with the marker the withdrawal repair looks for."""
    state = standard.to_dict()
    if standard.status == "withdrawn":
        state[ALLOCATION_RECORDED] = False
    return state


def standard_of(standard_id: str, state: Mapping[str, Any]) -> Standard:
    """A standard from its stored state."""
    return Standard.from_dict(standard_id, state)


CODEC: Codec[Standard] = Codec(state_of, standard_of)
"""How a standard is kept in its document."""


class StandardQueries:
    """The standards collection's indexes and the queries of the background rounds."""

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
        # The few revisions among every standard, for `published_revisions` (decision 47).
        await c.create_index([("supersedes", ASCENDING)], name="by_predecessor")

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
        return [standard_of(doc["_id"], doc) async for doc in cursor]

    async def predecessor_superseded(self, standard_id: str) -> None:
        """Note on a revision that the standard it revises is superseded, so the repair round skips it.

        Set outside the versioned save, like `allocation_recorded`: a later save of the revision drops
        it, and the round then finds the predecessor superseded and sets it again.
        """
        await self.collection.update_one({"_id": standard_id}, {"$set": {PREDECESSOR_SUPERSEDED: True}})

    async def withdrawn_unrecorded(self, limit: int) -> list[Standard]:
        """Withdrawn standards whose allocation may not say `not_issued` yet."""
        cursor = self.collection.find({"status": "withdrawn", ALLOCATION_RECORDED: False}).limit(limit)
        return [standard_of(doc["_id"], doc) async for doc in cursor]

    async def allocation_recorded(self, standard_id: str) -> None:
        """Note that a withdrawn standard's allocation says `not_issued`.

        A withdrawn standard never changes again, so this one field is set outside the versioned
        save; were it ever lost, the allocation would only be marked again (which is idempotent).
        """
        await self.collection.update_one(
            {"_id": standard_id, "status": "withdrawn"}, {"$set": {ALLOCATION_RECORDED: True}}
        )
