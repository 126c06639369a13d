"""The designation registry in MongoDB: one document per designation (code + sequence + year, in its
canonical form) ever claimed, `_id` = the designation, naming the one standard that holds it
(decision 0022).

Uniqueness is the database's: `_id` is unique, so of two instances claiming one designation for two
standards at the same moment exactly one insert succeeds; the other meets a duplicate key, reads
the holder by `_id` and is refused. A claim for the same standard again (a redelivery, a retry after
a crash, publication after numbering) finds itself and succeeds. A designation is claimed before the
standard carrying it is stored and is never released once that standard may exist, so no two
standards ever carry one designation. Only what a refused call itself inserted is deleted again
(a standard with several parties' numbers meeting a taken one), guarded by the holder.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from regstd.runtime.store import Document

DUPLICATE_KEY = 11000


class DesignationRegistry:
    """Claims designations for standards, each designation for one standard only."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def claim(self, designations: Sequence[str], standard_id: str) -> tuple[str, str] | None:
        """Claim every designation for the standard; None when it holds them all, else a designation
        another standard holds and that standard's id.

        One unordered insert of them all; only the refused ones are read, by `_id`, in one query.
        """
        now = datetime.now(UTC)
        docs = [{"_id": d, "standard_id": standard_id, "claimed_at": now} for d in designations]
        refused: list[str] = []
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors") or []
            if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            refused = [designations[int(e["index"])] for e in errors]
        if not refused:
            return None
        holders = {
            doc["_id"]: str(doc["standard_id"])
            async for doc in self.collection.find({"_id": {"$in": refused}})
        }
        for designation in designations:  # the first one another standard holds, in the given order
            holder = holders.get(designation)
            if designation in refused and holder is not None and holder != standard_id:
                inserted = [d for d in designations if d not in refused]
                if inserted:
                    await self.collection.delete_many({"_id": {"$in": inserted}, "standard_id": standard_id})
                return designation, holder
        return None

    async def holder(self, designation: str) -> str | None:
        """The standard holding a designation, or None."""
        doc = await self.collection.find_one({"_id": designation})
        return None if doc is None else str(doc["standard_id"])
