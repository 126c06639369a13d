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

Claims made side by side (a consumer batch's approvals) are one round (`regstd.runtime.rounds`): one
unordered insert of every claim's designations, and one read of the holders of those refused.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from pymongo.asynchronous.collection import AsyncCollection

from regstd.runtime.rounds import Rounds
from regstd.runtime.store import Document, insert_unordered

Claim = tuple[tuple[str, ...], str]
"""Designations, and the standard that claims them."""


class DesignationRegistry:
    """Claims designations for standards, each designation for one standard only."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self._claims: Rounds[str, Claim, tuple[str, str] | None] = Rounds(self._claim_many)

    async def claim(self, designations: Sequence[str], standard_id: str) -> tuple[str, str] | None:
        """Claim every designation for the standard; None when it holds them all, else a designation
        another standard holds and that standard's id."""
        return await self._claims.ask(self.collection.name, (tuple(designations), standard_id))

    async def _claim_many(self, _: str, claims: Sequence[Claim]) -> list[tuple[str, str] | None]:
        """One round of claims: one unordered insert of them all; only the refused designations are
        read, by `_id`, in one query."""
        now = datetime.now(UTC)
        docs = [
            {"_id": d, "standard_id": standard_id, "claimed_at": now}
            for designations, standard_id in claims
            for d in designations
        ]
        refused_at = await insert_unordered(self.collection, docs)
        if not refused_at:
            return [None] * len(claims)
        taken = sorted({str(docs[i]["_id"]) for i in refused_at})
        holders = {
            doc["_id"]: str(doc["standard_id"]) async for doc in self.collection.find({"_id": {"$in": taken}})
        }
        answers: list[tuple[str, str] | None] = []
        at = 0
        for designations, standard_id in claims:
            refused = {d for i, d in enumerate(designations, start=at) if i in refused_at}
            at += len(designations)
            answers.append(await self._refusal(designations, standard_id, refused, holders))
        return answers

    async def _refusal(
        self, designations: Sequence[str], standard_id: str, refused: set[str], holders: dict[str, str]
    ) -> tuple[str, str] | None:
        """The first designation of a claim another standard holds (in the claim's order), with its
        holder, after deleting what the claim itself inserted; None when it holds them all."""
        for designation in designations:
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
