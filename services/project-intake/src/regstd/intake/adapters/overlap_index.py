"""The overlap index in its own collection (`overlap_index`), and its rebuild from the stores.

A document holds the postings of one term: `{_id, t: term, p: ["ref|kind|flags|title terms|
scope terms", …]}` (`Posting.to_row`). A rebuild writes one document per term with many postings
(bulk inserts); a new project or standard adds one small document per term. Documents are only ever
inserted — no update of a growing array, which FerretDB rewrites whole — and read by `t $in` on an
index. The document `_id: "~state"` says which scheme the index was built with; a missing or other
one means a rebuild (decision 35).
"""

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from regstd.intake.domain.overlap import Candidate
from regstd.intake.domain.overlap_index import SCHEME, Posting, Terms, postings_of
from regstd.runtime.store import Document

log = logging.getLogger(__name__)

STATE_ID = "~state"
CHUNK = 500
"""Postings per document in a rebuild: big enough for bulk writes, small enough to read cheaply."""
_DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did."""

    candidates: int
    terms: int
    documents: int
    seconds: float


class MongoOverlapIndex:
    """`OverlapIndex` over its own collection, rebuilt from the projects' and standards' collections."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        projects: AsyncCollection[Document],
        standards: AsyncCollection[Document],
    ) -> None:
        self.collection = collection
        self.projects = projects
        self.standards = standards

    async def ensure_indexes(self) -> None:
        """The index of the postings by term (idempotent)."""
        await self.collection.create_index([("t", ASCENDING)], name="term")

    async def add(self, candidates: Sequence[Candidate]) -> None:
        """One document per (term, candidate), keyed by both: adding again inserts nothing."""
        docs = [
            {"_id": f"{term}|{posting.kind[0]}:{posting.ref}", "t": term, "p": [posting.to_row()]}
            for candidate in candidates
            for term, posting in postings_of(candidate).items()
        ]
        await self._insert(docs)

    async def postings(self, query: Terms) -> list[tuple[str, Posting]]:
        """The postings of the query's terms: one indexed read."""
        terms = sorted(query.all)
        if not terms:
            return []
        cursor = self.collection.find({"t": {"$in": terms}}, projection={"_id": False, "t": True, "p": True})
        return [(doc["t"], Posting.of_row(row)) async for doc in cursor for row in doc["p"]]

    async def built(self) -> bool:
        """Whether the index was built with the current scheme."""
        state = await self.collection.find_one({"_id": STATE_ID})
        return state is not None and state.get("scheme") == SCHEME

    async def ensure_built(self) -> Rebuilt | None:
        """Rebuild the index when it is missing or of another scheme (a start-up step)."""
        if await self.built():
            return None
        return await self.rebuild()

    async def rebuild(self) -> Rebuilt:
        """Drop the index and build it again from every project not rejected and every standard.

        Additions made while it runs go in beside it (they are inserts), so nothing is lost; the
        state document is written last, so a rebuild cut short is done again at the next start.
        """
        began = time.monotonic()
        await self.collection.delete_many({})
        by_term: dict[str, list[str]] = defaultdict(list)
        count = 0
        async for doc in self.projects.find(
            {"status": {"$ne": "rejected"}}, projection={"title_zh": True, "scope": True}
        ):
            count += _collect(by_term, Candidate("project", doc["_id"], doc["title_zh"], doc["scope"]))
        async for doc in self.standards.find({}, projection={"title_zh": True}):
            count += _collect(by_term, Candidate("standard", doc["_id"], doc["title_zh"]))
        docs = [
            {"_id": f"{term}|#{i // CHUNK}", "t": term, "p": rows[i : i + CHUNK]}
            for term, rows in by_term.items()
            for i in range(0, len(rows), CHUNK)
        ]
        for i in range(0, len(docs), 2_000):
            await self._insert(docs[i : i + 2_000])
        await self.collection.replace_one(
            {"_id": STATE_ID},
            {"_id": STATE_ID, "scheme": SCHEME, "built_at": datetime.now(UTC), "candidates": count},
            upsert=True,
        )
        rebuilt = Rebuilt(count, len(by_term), len(docs), time.monotonic() - began)
        log.info(
            "overlap index rebuilt",
            extra={"candidates": count, "terms": rebuilt.terms, "seconds": round(rebuilt.seconds, 2)},
        )
        return rebuilt

    async def _insert(self, docs: list[Document]) -> None:
        if not docs:
            return
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:  # already there: an addition repeated, or two rebuilds at once
            if any(e.get("code") != _DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise


def _collect(by_term: dict[str, list[str]], candidate: Candidate) -> int:
    for term, posting in postings_of(candidate).items():
        by_term[term].append(posting.to_row())
    return 1
