"""The MongoDB adapters of the harmonization service's ports: the registry's listing of eco
standards (kept as aggregates through the runtime's `AggregateStore`), and limit imports as one
document per import (all rows in it: an import is visible complete or not at all)."""

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from regstd.harmonization.domain.adoption import EcoStandard
from regstd.runtime.store import META_FIELDS, AggregateStore, Document

_HIDDEN = dict.fromkeys(META_FIELDS - {"_id"}, False)


class MongoEcoStandardListing:
    """Finds eco standards offered for adoption, one aggregate per source standard."""

    def __init__(self, store: AggregateStore) -> None:
        self.store = store
        self.collection = store.collection

    async def ensure_indexes(self) -> None:
        """Indexes of the aggregates and of the registry's queries."""
        await self.store.ensure_indexes()
        await self.collection.create_index([("members", ASCENDING)], name="by_member")
        await self.collection.create_index([("sources", ASCENDING)], name="by_source")
        await self.collection.create_index([("adopters", ASCENDING)], name="by_adopter")

    async def find(
        self, *, member: str | None = None, source: str | None = None, adopter: str | None = None
    ) -> list[EcoStandard]:
        """The eco standards offered to `member`, published by `source`, adopted by `adopter`, by id."""
        query: Document = {}
        if member is not None:
            query["members"] = member
        if source is not None:
            query["sources"] = source
        if adopter is not None:
            query["adopters"] = adopter
        cursor = self.collection.find(query, projection=_HIDDEN).sort("_id", ASCENDING)
        return [EcoStandard.from_dict(doc["_id"], doc) async for doc in cursor]


class MongoLimitImports:
    """Limit imports: one document per import, written once with every row."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        """The index that finds a region's latest import."""
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
        """One import with its rows."""
        return await self.collection.find_one({"_id": import_id})

    async def latest(self, region: str) -> dict[str, Any] | None:
        """The region's latest import with its rows."""
        return await self.collection.find_one({"region": region}, sort=[("imported_at", DESCENDING)])

    async def listing(self, region: str | None) -> list[dict[str, Any]]:
        """Every import (of one region, or all) without its rows, newest first per region."""
        query: Document = {} if region is None else {"region": region}
        cursor = self.collection.find(query, projection={"rows": False}).sort(
            [("region", ASCENDING), ("imported_at", DESCENDING)]
        )
        return [doc async for doc in cursor]
