"""The listings of projects and published standards, read from their MongoDB collections."""

from collections.abc import Collection, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from regstd.intake.adapters.documents import STANDARDS
from regstd.intake.app.ports import Filters
from regstd.intake.domain.overlap import Candidate
from regstd.intake.domain.project import Project
from regstd.intake.domain.published import PublishedStandard
from regstd.kernel.clocks import OVERDUE
from regstd.runtime.store import META_FIELDS, Document

_HIDDEN = dict.fromkeys(META_FIELDS - {"_id"}, False)


class MongoProjectQueries:
    """`ProjectQueries` over the projects' collection."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        """The index of the listing (idempotent); the clock scheduler makes its own."""
        await self.collection.create_index([("proposed_at", DESCENDING)], name="proposed_at")

    async def search(self, filters: Filters, *, limit: int, offset: int) -> tuple[list[Project], int]:
        """Projects matching the filters, newest first, with how many match in all."""
        query: dict[str, Any] = {}
        if filters.status:
            query["status"] = filters.status
        if filters.area:
            query["area"] = filters.area
        if filters.party:
            query["parties"] = filters.party
        total = await self.collection.count_documents(query)
        cursor = (
            self.collection.find(query, projection=_HIDDEN)
            .sort([("proposed_at", DESCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [Project.from_document(doc) async for doc in cursor], total

    async def with_overdue_clocks(self, names: Sequence[str], *, area: str | None) -> list[Project]:
        """Projects with one of the named clocks overdue (the scheduler's `clocks_overdue` field)."""
        query: dict[str, Any] = {OVERDUE: {"$in": list(names)}}
        if area is not None:
            query["area"] = area
        return [Project.from_document(doc) async for doc in self.collection.find(query, projection=_HIDDEN)]

    async def overlap_candidates(self, project_ids: Collection[str]) -> list[tuple[Candidate, str | None]]:
        """The named projects not rejected, by their title and scope, with the standard made of each
        (read by `_id $in`: the one filter the store serves from an index)."""
        if not project_ids:
            return []
        cursor = self.collection.find(
            {"_id": {"$in": list(project_ids)}},
            projection={"title_zh": True, "scope": True, "status": True, "publication": True},
        )
        return [
            (
                Candidate(kind="project", ref=doc["_id"], title_zh=doc["title_zh"], scope=doc["scope"]),
                _standard_made(doc),
            )
            async for doc in cursor
            if doc["status"] != "rejected"
        ]

    async def refused_by_publication(self) -> dict[str, int]:
        """How many projects show a refusal by publication, by area (read at each metrics scrape)."""
        counts: dict[str, int] = {}
        async for doc in self.collection.find({"publication.outcome": "refused"}, projection={"area": True}):
            counts[doc["area"]] = counts.get(doc["area"], 0) + 1
        return counts


class MongoStandardQueries:
    """`StandardQueries` over the published standards' collection."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def among(self, standard_ids: Collection[str]) -> list[PublishedStandard]:
        """The standards with one of these ids."""
        if not standard_ids:
            return []
        cursor = self.collection.find({"_id": {"$in": list(standard_ids)}}, projection=_HIDDEN)
        return [STANDARDS.from_state(doc["_id"], doc) async for doc in cursor]


def _standard_made(project: Document) -> str | None:
    publication = project.get("publication") or {}
    return str(publication["standard_id"]) if publication.get("outcome") == "published" else None
