"""The MongoDB adapters of the harmonization service: eco standards and assessments through the
runtime's `AggregateStore` (state, outbox and consumed ids in one document), and limit imports as
one document per import (all rows in it: an import is visible complete or not at all).
"""

from collections.abc import Callable, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from regstd.harmonization.adoption import EcoStandard
from regstd.runtime.events import PendingEvent
from regstd.runtime.store import META_FIELDS, AggregateStore, Change, Document, Loaded, VersionConflict

_HIDDEN = dict.fromkeys(META_FIELDS - {"_id"}, False)


class MongoEcoStandards:
    """Eco standards offered for adoption, one aggregate per source standard."""

    def __init__(self, store: AggregateStore) -> None:
        self.store = store
        self.collection = store.collection

    async def ensure_indexes(self) -> None:
        """Indexes for the registry's queries."""
        await self.store.ensure_indexes()
        await self.collection.create_index([("members", ASCENDING)], name="by_member")
        await self.collection.create_index([("sources", ASCENDING)], name="by_source")
        await self.collection.create_index([("adopters", ASCENDING)], name="by_adopter")

    async def load(self, standard_id: str) -> tuple[EcoStandard, Loaded] | None:
        loaded = await self.store.load(standard_id)
        if loaded is None:
            return None
        return EcoStandard.from_dict(standard_id, loaded.state), loaded

    async def save(self, standard: EcoStandard, loaded: Loaded, events: Sequence[PendingEvent]) -> bool:
        try:
            await self.store.save(standard.id, standard.to_dict(), loaded=loaded, events=events)
        except VersionConflict:
            return False
        return True

    async def apply_once(
        self, standard_id: str, event_id: str, decide: Callable[[Loaded | None], Change | None]
    ) -> bool:
        return await self.store.apply_once(standard_id, event_id, decide)

    async def find(
        self, *, member: str | None = None, source: str | None = None, adopter: str | None = None
    ) -> list[EcoStandard]:
        query: Document = {}
        if member is not None:
            query["members"] = member
        if source is not None:
            query["sources"] = source
        if adopter is not None:
            query["adopters"] = adopter
        cursor = self.collection.find(query, projection=_HIDDEN).sort("_id", ASCENDING)
        return [EcoStandard.from_dict(doc["_id"], doc) async for doc in cursor]


class MongoImports:
    """Limit imports: one document per import, written once with every row."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("region", ASCENDING), ("imported_at", DESCENDING)], name="latest_by_region"
        )

    async def add(self, document: dict[str, Any]) -> bool:
        """Store an import; False when the same import (same id) is already stored."""
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, import_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": import_id})

    async def latest(self, region: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"region": region}, sort=[("imported_at", DESCENDING)])

    async def listing(self, region: str | None) -> list[dict[str, Any]]:
        query: Document = {} if region is None else {"region": region}
        cursor = self.collection.find(query, projection={"rows": False}).sort(
            [("region", ASCENDING), ("imported_at", DESCENDING)]
        )
        return [doc async for doc in cursor]


class MongoAssessments:
    """Assessments with their `AssessmentCompleted` event in the outbox."""

    def __init__(self, store: AggregateStore) -> None:
        self.store = store

    async def get(self, assessment_id: str) -> dict[str, Any] | None:
        doc = await self.store.collection.find_one({"_id": assessment_id}, projection=_HIDDEN)
        return None if doc is None else dict(doc)

    async def add(self, assessment_id: str, state: dict[str, Any], events: Sequence[PendingEvent]) -> bool:
        try:
            await self.store.save(assessment_id, state, loaded=None, events=events)
        except VersionConflict:
            return False
        return True
