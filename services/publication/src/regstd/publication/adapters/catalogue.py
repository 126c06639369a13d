"""The catalogue: the read side over the standards and the number blocks, in MongoDB."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from regstd.contracts.common import Kind
from regstd.contracts.reference import Reference
from regstd.kernel.clocks import ClockState
from regstd.kernel.errors import Invalid, NotFound
from regstd.kernel.time import Now, china_date, utc_now
from regstd.publication.adapters.allocator import BlockAllocator
from regstd.publication.domain.numbering import Allocation, Withdrawal, parse_number
from regstd.publication.domain.standard import Standard, Status
from regstd.runtime.store import Document

BlockStatus = Literal["assigned", "numbered", "published", "superseded", "abolished", "not_issued"]
"""A block number's state: allocated (standard being stored), numbered, published, not issued."""


@dataclass(frozen=True)
class Filters:
    """What the catalogue may be filtered by; None means any."""

    area: str | None = None
    party: str | None = None
    category: str | None = None
    year: int | None = None
    status: Status | None = None
    kind: Kind | None = None
    eco_civilization: bool | None = None
    clock_states: tuple[ClockState, ...] = ()
    """Standards with at least one clock of their life in one of these states (e.g. due_soon,
    overdue: what a regulator's desk must act on); empty means any."""

    def query(self) -> Document:
        """The store query for these filters."""
        query: Document = {}
        if self.area is not None:
            query["area"] = self.area
        if self.party is not None:
            query["parties"] = self.party
        if self.category is not None:
            query["category"] = self.category
        if self.year is not None:
            query["year"] = self.year
        if self.status is not None:
            query["status"] = self.status
        if self.kind is not None:
            query["kind"] = self.kind
        if self.eco_civilization is not None:
            query["eco_civilization"] = self.eco_civilization
        if self.clock_states:
            query["life.clocks.state"] = {"$in": list(self.clock_states)}
        return query


@dataclass(frozen=True)
class BlockEntry:
    """One number of a block: its allocation, the standard's state and why it is not issued."""

    allocation: Allocation
    status: BlockStatus
    standard: Standard | None
    withdrawal: Withdrawal | None


@dataclass(frozen=True)
class Block:
    """A page of a block's numbers with the block's totals."""

    area: str
    first: int
    highest: int | None
    allocated: int
    published: int
    not_issued: int
    entries: list[BlockEntry]


class Catalogue:
    """Finds standards and shows the number blocks."""

    def __init__(
        self,
        standards: AsyncCollection[Document],
        allocator: BlockAllocator,
        reference: Reference,
        clock: Now = utc_now,
    ) -> None:
        self.standards = standards
        self.allocator = allocator
        self.reference = reference
        self.clock = clock

    def today(self) -> date:
        """Today in China Standard Time, by the service's clock: what `in force` is derived from."""
        return china_date(self.clock())

    def check(self, filters: Filters) -> None:
        """Refuse filters naming an area or a region that does not exist."""
        if filters.area is not None and filters.area not in self.reference.areas:
            raise Invalid(f"unknown area {filters.area!r}; known: {', '.join(sorted(self.reference.areas))}")
        if filters.party is not None and filters.party not in self.reference.regions:
            raise Invalid(f"unknown region {filters.party!r}")

    async def search(self, filters: Filters, *, limit: int, offset: int) -> tuple[list[Standard], int]:
        """A page of the standards matching the filters, by area and sequence, and how many match."""
        self.check(filters)
        query = filters.query()
        total = await self.standards.count_documents(query)
        cursor = (
            self.standards.find(query, projection=_NO_META)
            .sort([("area", ASCENDING), ("sequence", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [_standard(doc) async for doc in cursor], total

    async def get(self, standard_id: str) -> Standard:
        """One standard by id."""
        doc = await self.standards.find_one({"_id": standard_id}, projection=_NO_META)
        if doc is None:
            raise NotFound(f"no standard {standard_id}")
        return _standard(doc)

    async def by_number(self, text: str) -> Standard:
        """The standard carrying a number under any of its parties' codes, however it is written."""
        key = str(parse_number(text))
        docs = [
            doc
            async for doc in self.standards.find({"numbers.number": key}, projection=_NO_META).sort(
                "numbered_at", ASCENDING
            )
        ]
        if not docs:
            raise NotFound(f"no standard numbered {key}")
        # One number belongs to one standard; should two ever match, the published one answers.
        docs.sort(key=lambda d: d.get("status") != "published")
        return _standard(docs[0])

    async def ever_published(self, areas: Sequence[str]) -> list[Standard]:
        """Every standard of these areas that was published (in force, superseded or abolished), for
        the reports and feeds; the whole set, since a report and a feed look at all of it."""
        query = {"area": {"$in": list(areas)}, "status": {"$in": ["published", "superseded", "abolished"]}}
        return [_standard(doc) async for doc in self.standards.find(query, projection=_NO_META)]

    async def holder(self, number: str) -> str | None:
        """The id of the standard carrying this canonical number under any code, or None."""
        doc = await self.standards.find_one({"numbers.number": number}, projection={"_id": True})
        return None if doc is None else str(doc["_id"])

    async def block(self, area_id: str, *, limit: int, offset: int) -> Block:
        """A page of an area's number block, in sequence order, with totals."""
        area = self.reference.areas.get(area_id)
        if area is None:
            raise NotFound(f"no area {area_id!r}; known: {', '.join(sorted(self.reference.areas))}")
        if area.joint_number_block_first is None:
            raise NotFound(f"area {area_id} ({area.name_en}) has no joint number block")
        allocations, allocated = await self.allocator.block(area_id, limit=limit, offset=offset)
        by_id = {
            doc["_id"]: _standard(doc)
            async for doc in self.standards.find(
                {"_id": {"$in": [a.standard_id for a in allocations]}}, projection=_NO_META
            )
        }
        entries = [_entry(a, by_id.get(a.standard_id)) for a in allocations]
        return Block(
            area=area_id,
            first=area.joint_number_block_first,
            highest=await self.allocator.highest(area_id),
            allocated=allocated,
            # Single-region standards published to the area (no project) hold no block number.
            published=await self.standards.count_documents(
                {"area": area_id, "status": "published", "project_id": {"$ne": None}}
            ),
            not_issued=await self.standards.count_documents(
                {"area": area_id, "status": "withdrawn", "project_id": {"$ne": None}}
            ),
            entries=entries,
        )


_NO_META = {"_outbox": False, "_processed": False, "_relay_lease": False}


def _standard(doc: dict[str, Any]) -> Standard:
    return Standard.from_dict(doc["_id"], doc)


def _entry(allocation: Allocation, standard: Standard | None) -> BlockEntry:
    if standard is not None and standard.status in ("published", "superseded", "abolished"):
        # A published number is issued, whatever its allocation says (decision 0022).
        return BlockEntry(allocation, standard.status, standard, None)
    withdrawal = allocation.not_issued
    if withdrawal is not None:
        return BlockEntry(allocation, "not_issued", standard, withdrawal)
    if standard is None:
        return BlockEntry(allocation, "assigned", None, None)
    if standard.status == "withdrawn":  # the allocation is marked a moment later
        return BlockEntry(allocation, "not_issued", standard, standard.withdrawal)
    return BlockEntry(allocation, standard.status, standard, None)
