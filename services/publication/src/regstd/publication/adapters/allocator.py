"""Joint number allocation in MongoDB (the rule itself, `next_sequence`, is in `domain/numbering.py`):
gap-free, unique, never reused, idempotent, safe with many instances.

The store has no multi-document transactions, so the allocation of a number is one insert of one
document, and uniqueness is left to the database:

- `allocations` holds one document per sequence number ever handed out, with
  `_id = "<area>:<sequence>"`: two instances cannot both insert the same number.
- A unique index on `project_id`: a project never holds two numbers, whichever instance asks.
- `allocations_hints` holds one document per block, `{_id: <area>, highest: n}`: a number known to
  exist, raised with `$max` after each allocation. It only says where to start probing, and is read
  and written by `_id`, which FerretDB 1.24 answers without scanning (decision 0019); the sorted
  "highest sequence" query is used only for a block that has no hint yet.
- To allocate for a project: insert the number after the hint. When the insert meets a duplicate
  key, read the number's document by `_id`: the project's own (a redelivered approval, or another
  instance handling the same approval at the same moment) is returned; another project's means that
  number exists, so the next one is tried; none means the project already holds another number (a
  crash between allocating and storing the standard), which is looked up and returned.

Why there is never a gap: a number n above the block's first is inserted only after n − 1 was found
to exist (the hint is only ever raised to numbers that exist, and a duplicate proves its number
exists), and allocations are never deleted; so every number between the block's first and its
highest is taken. Why never twice: `_id` is unique. Why a withdrawn number is never reused:
withdrawal changes the allocation's status to `not_issued` and keeps the document, so probing still
meets it. A hint that lags behind (a crash before it was raised) only costs extra probes.

Approvals handled side by side (a consumer batch, decision 36) ask for numbers of the same block at
about the same time. Their requests are gathered per block and served in rounds: one round reads
the hint once, inserts the consecutive numbers all its projects need in one ordered `insert_many`
and raises the hint once, so a block's numbering costs three store calls per round, not three per
number. An instance remembers the highest number it saw exist in each block and starts its next
round there without reading the hint (two calls a round): a number known to exist is as good a
start as the hint, and if others numbered meanwhile the insert is refused and the probing above
goes on from the hint as before. The round raises the hint after its numbers are given, in the
background (one write in flight per block, the highest wanted written last): the hint is only ever a
lower bound, so the approvals need not wait for it.

An ordered insert stops at its first refused document, so the numbers inserted are exactly
the run before it: n + 1 is still inserted only after n exists, each number is held by its project
from the moment it exists (a later step that fails leaves it to the project's redelivered approval),
and the refused number is examined as a single insert's would be before the rest go on.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from regstd.contracts.common import Actor
from regstd.publication.domain.numbering import Allocation, Withdrawal, allocation_id, next_sequence
from regstd.runtime.rounds import Rounds
from regstd.runtime.store import DUPLICATE_KEY, Document

log = logging.getLogger(__name__)

ROUND_MAX = 500
"""Most numbers one round of a block inserts at once."""


class AllocationContention(RuntimeError):
    """Too many other allocations won the race in a row; the caller retries later."""


def allocation_of(doc: Document) -> Allocation:
    """Read an allocation document."""
    by = doc.get("by")
    return Allocation(
        area=doc["area"],
        sequence=int(doc["sequence"]),
        project_id=doc["project_id"],
        standard_id=doc["standard_id"],
        status=doc["status"],
        assigned_at=_aware(doc["assigned_at"]),
        reason=doc.get("reason"),
        by=None if by is None else Actor.model_validate(by),
        not_issued_at=None if doc.get("not_issued_at") is None else _aware(doc["not_issued_at"]),
    )


@dataclass(frozen=True)
class Wanted:
    """A project that needs a number of a block."""

    project_id: str
    standard_id: str
    at: datetime


class BlockAllocator:
    """Hands out the sequence numbers of the areas' number blocks, through the `allocations`
    collection of this service's database."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        hints: AsyncCollection[Document] | None = None,
        *,
        standards: AsyncCollection[Document] | None = None,
        max_attempts: int = 1000,
    ) -> None:
        """`hints` defaults to `<collection>_hints` in the same database; `standards`, the standards'
        collection, lets `mark_not_issued` refuse a number whose standard was published."""
        self.collection = collection
        self.hints = hints if hints is not None else collection.database[f"{collection.name}_hints"]
        self.standards = standards
        self.max_attempts = max_attempts
        self._rounds: Rounds[tuple[str, int], Wanted, Allocation] = Rounds(self._serve, most=ROUND_MAX)
        # Per block, the highest number this instance saw exist: where its next round starts.
        self._seen_highest: dict[str, int] = {}
        # Per block, the highest number a hint write should record, and the write in flight.
        self._hint_wanted: dict[str, int] = {}
        self._hint_writers: dict[str, asyncio.Task[None]] = {}

    async def ensure_indexes(self) -> None:
        """The unique indexes that make allocation safe; must exist before the first allocation."""
        await self.collection.create_index(
            [("project_id", ASCENDING)], unique=True, name="one_number_per_project"
        )
        await self.collection.create_index(
            [("area", ASCENDING), ("sequence", DESCENDING)], unique=True, name="block_sequence"
        )

    async def for_project(self, project_id: str) -> Allocation | None:
        """The number given to a project, if any."""
        doc = await self.collection.find_one({"project_id": project_id})
        return None if doc is None else allocation_of(doc)

    async def highest(self, area: str) -> int | None:
        """The highest sequence number allocated in an area's block, or None when none was."""
        doc = await self.collection.find_one(
            {"area": area}, sort=[("sequence", DESCENDING)], projection={"sequence": True}
        )
        return None if doc is None else int(doc["sequence"])

    async def hint(self, area: str) -> int | None:
        """A sequence number known to exist in an area's block (a lower bound of the highest), read
        by `_id`; the sorted query only for a block without a hint (data stored before hints)."""
        doc = await self.hints.find_one({"_id": area})
        if doc is not None:
            return int(doc["highest"])
        return await self.highest(area)

    async def raise_hint(self, area: str, sequence: int) -> None:
        """Record that `sequence` exists in the block: the hint never goes down."""
        try:
            await self.hints.update_one({"_id": area}, {"$max": {"highest": sequence}}, upsert=True)
        except DuplicateKeyError:  # two first upserts raced; the document exists now
            await self.hints.update_one({"_id": area}, {"$max": {"highest": sequence}})

    def _raise_hint_soon(self, area: str, sequence: int) -> None:
        """Raise the block's hint to `sequence` in the background: one write in flight per block,
        which writes again while a higher number is wanted."""
        self._hint_wanted[area] = max(sequence, self._hint_wanted.get(area, sequence))
        writer = self._hint_writers.get(area)
        if writer is None or writer.done():  # done here: cancelled before it ran (its loop closed)
            self._hint_writers[area] = asyncio.create_task(self._write_hints(area), name=f"hint {area}")

    async def _write_hints(self, area: str) -> None:
        try:
            written = None
            while written != self._hint_wanted[area]:
                written = self._hint_wanted[area]
                await self.raise_hint(area, written)
        except PyMongoError as error:  # a lagging hint only costs extra probes
            log.warning("block hint not raised", extra={"area": area, "why": str(error)})
        finally:
            if self._hint_writers.get(area) is asyncio.current_task():
                del self._hint_writers[area]

    async def hints_raised(self) -> None:
        """Wait for the hint writes in flight (tests; a clean stop)."""
        while pending := [t for t in self._hint_writers.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def allocate(
        self, *, area: str, block_first: int, project_id: str, standard_id: str, at: datetime
    ) -> Allocation:
        """The project's number: the one it already holds, or the next free one of the block.

        The request joins the block's next round (`regstd.runtime.rounds`), together with those made
        meanwhile by approvals handled side by side; the round gives each project its number
        (`allocate_many`).
        """
        return await self._rounds.ask((area, block_first), Wanted(project_id, standard_id, at))

    async def _serve(self, block: tuple[str, int], wanted: Sequence[Wanted]) -> list[Allocation]:
        area, block_first = block
        given = await self.allocate_many(area=area, block_first=block_first, wanted=wanted)
        return [given[w.project_id] for w in wanted]

    async def allocate_many(
        self, *, area: str, block_first: int, wanted: Sequence[Wanted]
    ) -> dict[str, Allocation]:
        """Each project's number, by project id: the one it holds, or the next free ones of the block,
        consecutive, inserted in one ordered write.

        Only a refused document (a lost race, or a project that already holds a number after a
        crash or a redelivery) makes it look at what is there, by `_id`, as a single insert would;
        the projects after it go on from there.
        """
        pending = list({w.project_id: w for w in wanted}.values())  # one number per project
        given: dict[str, Allocation] = {}
        highest: int | None = None
        seen = self._seen_highest.get(area)
        sequence = next_sequence(seen if seen is not None else await self.hint(area), block_first)
        for _ in range(self.max_attempts):
            if not pending:
                break
            docs = [_allocation_doc(area, sequence + i, w) for i, w in enumerate(pending)]
            try:
                await self.collection.insert_many(docs, ordered=True)
                inserted, refused = len(docs), None
            except BulkWriteError as error:
                inserted = refused = _first_refused(error, len(docs))
            for doc in docs[:inserted]:
                given[doc["project_id"]] = allocation_of(doc)
                log.info(
                    "number allocated",
                    extra={"area": area, "sequence": doc["sequence"], "project_id": doc["project_id"]},
                )
            if inserted:
                highest = docs[inserted - 1]["sequence"]
            pending = pending[inserted:]
            if refused is None:
                break
            sequence = docs[refused]["sequence"]
            project_id = pending[0].project_id
            taken = await self.collection.find_one({"_id": allocation_id(area, sequence)})
            if taken is None:
                # The number is free, so the project's own index refused: it holds another number.
                existing = await self.for_project(project_id)
                if existing is not None:
                    given[project_id] = existing
                    pending = pending[1:]
                continue  # the next project tries the same number
            highest = max(highest or sequence, sequence)
            if taken["project_id"] == project_id:
                given[project_id] = allocation_of(taken)  # just now by another instance, or before
                pending = pending[1:]
                sequence += 1
                continue
            # Another allocation won this number. Its winner raises the hint after inserting, so the
            # hint usually points past a whole run of numbers taken meanwhile: jump there.
            hint = await self.hint(area)
            if hint is None or hint < sequence:
                await self.raise_hint(area, sequence)  # the winner has not raised it yet
            log.debug(
                "another instance took the number; trying after the block's hint",
                extra={"area": area, "sequence": sequence, "project_id": project_id},
            )
            sequence = max(sequence, hint or sequence) + 1
        if highest is not None:
            self._raise_hint_soon(area, highest)
            self._seen_highest[area] = max(highest, self._seen_highest.get(area, highest))
        if pending:
            raise AllocationContention(
                f"no number allocated for projects {[w.project_id for w in pending]} in block {area} "
                f"after {self.max_attempts} attempts; other allocations kept winning"
            )
        return given

    async def mark_not_issued(self, area: str, sequence: int, withdrawal: Withdrawal) -> bool:
        """Record a number as not issued (idempotent); True when this call recorded it.

        Defence in depth (decision 0022): a number whose standard is stored and not `withdrawn` is
        refused (False, logged); a published standard never becomes withdrawn, so a published
        number is never marked not issued, whatever the caller believed.
        """
        if self.standards is not None:
            allocation = await self.collection.find_one({"_id": allocation_id(area, sequence)})
            if allocation is None:
                return False
            standard = await self.standards.find_one(
                {"_id": allocation["standard_id"]}, projection={"status": True}
            )
            if standard is not None and standard.get("status") != "withdrawn":
                log.error(
                    "refused to mark a number not issued: its standard is not withdrawn",
                    extra={"area": area, "sequence": sequence, "status": standard.get("status")},
                )
                return False
        result = await self.collection.update_one(
            {"_id": allocation_id(area, sequence), "status": "assigned"},
            {
                "$set": {
                    "status": "not_issued",
                    "reason": withdrawal.reason,
                    "by": withdrawal.by.model_dump(),
                    "not_issued_at": withdrawal.at,
                }
            },
        )
        return result.modified_count == 1

    async def block(self, area: str, *, limit: int, offset: int) -> tuple[list[Allocation], int]:
        """A page of a block's allocations in sequence order, and how many the block has."""
        total = await self.collection.count_documents({"area": area})
        cursor = self.collection.find({"area": area}).sort("sequence", ASCENDING).skip(offset).limit(limit)
        return [allocation_of(doc) async for doc in cursor], total


def _allocation_doc(area: str, sequence: int, wanted: Wanted) -> Document:
    return {
        "_id": allocation_id(area, sequence),
        "area": area,
        "sequence": sequence,
        "project_id": wanted.project_id,
        "standard_id": wanted.standard_id,
        "status": "assigned",
        "assigned_at": wanted.at,
    }


def _first_refused(error: BulkWriteError, attempted: int) -> int:
    """The index of the first document an ordered insert refused, which is how many it stored before
    it; anything but a duplicate key is raised again. The store must have stopped at the first
    refusal: a document after it inserted would leave the refused number a gap (never seen)."""
    errors = error.details.get("writeErrors") or []
    if not errors or errors[0].get("code") != DUPLICATE_KEY:
        raise error
    refused = int(errors[0]["index"])
    inserted = int(error.details.get("nInserted", refused))
    if inserted != refused or len(errors) != 1 or not 0 <= refused < attempted:
        raise RuntimeError(f"an ordered insert went on after refusing document {refused}: {error.details}")
    return refused


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
