"""The allocator's hint logic with in-memory collections: numbers are probed from the block's hint by
`_id`, stay gap-free and unique when the hint lags or instances race, and a project keeps its one
number."""

import asyncio
import random
from datetime import UTC, datetime
from typing import Any, cast

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from regstd.publication.adapters.allocator import BlockAllocator
from regstd.runtime.store import Document

AT = datetime(2026, 11, 22, tzinfo=UTC)
FIRST = 10001


class FakeCollection:
    """Unique `_id` and unique `project_id` as the real indexes; every call yields to the loop, so
    concurrent allocations interleave. Counts sorted scans, which FerretDB answers by reading all."""

    def __init__(self, name: str, *, unique: tuple[str, ...] = ()) -> None:
        self.name = name
        self.docs: dict[str, Document] = {}
        self.unique = unique
        self.sorted_scans = 0
        self.insert_calls = 0
        self.database: dict[str, FakeCollection] = {}

    async def insert_one(self, doc: Document) -> None:
        await asyncio.sleep(random.random() / 1000)
        if doc["_id"] in self.docs or any(
            any(d.get(f) == doc.get(f) for d in self.docs.values()) for f in self.unique
        ):
            raise DuplicateKeyError("E11000 duplicate key")
        self.docs[doc["_id"]] = dict(doc)

    async def insert_many(self, docs: list[Document], ordered: bool = True) -> None:
        """An ordered insert: one document after the other, stopping at the first refused."""
        assert ordered
        self.insert_calls += 1
        for index, doc in enumerate(docs):
            try:
                await self.insert_one(doc)
            except DuplicateKeyError:
                raise BulkWriteError(
                    {"writeErrors": [{"index": index, "code": 11000, "errmsg": "E11000"}], "nInserted": index}
                ) from None

    async def find_one(
        self, query: Document, sort: list[tuple[str, int]] | None = None, projection: Any = None
    ) -> Document | None:
        await asyncio.sleep(0)
        if sort is not None:
            self.sorted_scans += 1
            found = [d for d in self.docs.values() if all(d.get(k) == v for k, v in query.items())]
            (field, direction), *_ = sort
            found.sort(key=lambda d: d[field], reverse=direction < 0)
            return dict(found[0]) if found else None
        if set(query) == {"_id"}:
            doc = self.docs.get(query["_id"])
            return None if doc is None else dict(doc)
        return next(
            (dict(d) for d in self.docs.values() if all(d.get(k) == v for k, v in query.items())), None
        )

    async def update_one(self, query: Document, update: Document, upsert: bool = False) -> None:
        await asyncio.sleep(0)
        doc = self.docs.get(query["_id"])
        if doc is None:
            if not upsert:
                return
            doc = self.docs[query["_id"]] = {"_id": query["_id"]}
        for field, value in update["$max"].items():
            doc[field] = max(doc.get(field, value), value)


def _allocator(allocations: FakeCollection, hints: FakeCollection) -> BlockAllocator:
    return BlockAllocator(
        cast(AsyncCollection[Document], allocations), cast(AsyncCollection[Document], hints)
    )


def _pair() -> tuple[FakeCollection, FakeCollection]:
    return FakeCollection("allocations", unique=("project_id",)), FakeCollection("allocations_hints")


async def _allocate(allocator: BlockAllocator, project_id: str) -> int:
    allocation = await allocator.allocate(
        area="chengyu", block_first=FIRST, project_id=project_id, standard_id=f"std-{project_id}", at=AT
    )
    return allocation.sequence


async def test_numbers_follow_the_hint_and_raise_it() -> None:
    allocations, hints = _pair()
    allocator = _allocator(allocations, hints)

    assert [await _allocate(allocator, f"p{i}") for i in range(3)] == [FIRST, FIRST + 1, FIRST + 2]
    await allocator.hints_raised()  # raised in the background
    assert hints.docs["chengyu"]["highest"] == FIRST + 2
    assert allocations.sorted_scans == 1, "only the block's first allocation, before any hint, sorts"


async def test_a_lagging_hint_costs_probes_not_gaps() -> None:
    allocations, hints = _pair()
    allocator = _allocator(allocations, hints)
    for i in range(4):
        await _allocate(allocator, f"p{i}")
    await allocator.hints_raised()  # raised in the background
    hints.docs["chengyu"]["highest"] = FIRST  # a crash after inserting, before raising the hint

    assert await _allocate(allocator, "late") == FIRST + 4
    assert sorted(d["sequence"] for d in allocations.docs.values()) == list(range(FIRST, FIRST + 5))
    await allocator.hints_raised()  # raised in the background
    assert hints.docs["chengyu"]["highest"] == FIRST + 4


async def test_the_hint_never_goes_down() -> None:
    allocations, hints = _pair()
    allocator = _allocator(allocations, hints)
    await allocator.raise_hint("chengyu", FIRST + 7)
    await allocator.raise_hint("chengyu", FIRST + 2)
    assert hints.docs["chengyu"]["highest"] == FIRST + 7


async def test_a_block_without_a_hint_starts_after_its_highest_number() -> None:
    allocations, hints = _pair()
    for i in range(3):  # allocated before hints existed
        allocations.docs[f"chengyu:{FIRST + i}"] = {
            "_id": f"chengyu:{FIRST + i}", "area": "chengyu", "sequence": FIRST + i, "project_id": f"old{i}"
        }  # fmt: skip
    allocator = _allocator(allocations, hints)

    assert await _allocate(allocator, "new") == FIRST + 3
    await allocator.hints_raised()  # raised in the background
    assert hints.docs["chengyu"]["highest"] == FIRST + 3


async def test_a_project_that_holds_a_number_gets_it_again() -> None:
    allocations, hints = _pair()
    allocator = _allocator(allocations, hints)
    held = await _allocate(allocator, "p-held")
    for i in range(3):
        await _allocate(allocator, f"p{i}")

    assert await _allocate(allocator, "p-held") == held
    assert len(allocations.docs) == 4, "no second number for the project"


async def test_a_project_gets_its_number_again_after_the_hint_was_lost() -> None:
    allocations, hints = _pair()
    allocator = _allocator(allocations, hints)
    held = await _allocate(allocator, "p-held")
    hints.docs.clear()  # the block's highest is found by the sorted query instead

    assert await _allocate(allocator, "p-held") == held
    assert len(allocations.docs) == 1


async def test_two_instances_racing_number_a_block_gap_free_and_once_per_project() -> None:
    allocations, hints = _pair()
    instances = [_allocator(allocations, hints), _allocator(allocations, hints)]
    projects = [f"p{i:03d}" for i in range(60)]
    requests = [(instances[i % 2], p) for i, p in enumerate(projects)]
    requests += [(instances[(i + 1) % 2], p) for i, p in enumerate(projects[:20])]  # duplicates
    random.shuffle(requests)

    numbers = await asyncio.gather(*(_allocate(a, p) for a, p in requests))

    by_project: dict[str, set[int]] = {}
    for (_, project), number in zip(requests, numbers, strict=True):
        by_project.setdefault(project, set()).add(number)
    assert all(len(n) == 1 for n in by_project.values()), "one number per project, whoever asked"
    assert sorted(d["sequence"] for d in allocations.docs.values()) == list(range(FIRST, FIRST + 60))
    await asyncio.gather(*(a.hints_raised() for a in instances))
    assert hints.docs["chengyu"]["highest"] == FIRST + 59


async def test_approvals_handled_side_by_side_share_one_insert_of_consecutive_numbers() -> None:
    allocations, hints = _pair()
    allocator = _allocator(allocations, hints)

    numbers = await asyncio.gather(*(_allocate(allocator, f"p{i}") for i in range(20)))

    assert sorted(numbers) == list(range(FIRST, FIRST + 20))
    assert numbers == sorted(numbers), "in the order they were asked for"
    assert allocations.insert_calls == 1
    await allocator.hints_raised()  # raised in the background
    assert hints.docs["chengyu"]["highest"] == FIRST + 19


async def test_a_project_in_the_middle_of_a_round_that_holds_a_number_keeps_it_and_leaves_no_gap() -> None:
    allocations, hints = _pair()
    allocator = _allocator(allocations, hints)
    held = await _allocate(allocator, "p5")  # numbered before (a crash before its standard was stored)

    numbers = await asyncio.gather(*(_allocate(allocator, f"p{i}") for i in range(10)))

    assert numbers[5] == held
    assert sorted(d["sequence"] for d in allocations.docs.values()) == list(range(FIRST, FIRST + 10))
    assert len({d["project_id"] for d in allocations.docs.values()}) == 10
    assert allocations.insert_calls == 1 + 2, "the round went on after the refused document"


async def test_the_same_project_twice_in_one_round_gets_one_number() -> None:
    allocations, hints = _pair()
    allocator = _allocator(allocations, hints)

    numbers = await asyncio.gather(*(_allocate(allocator, p) for p in ("a", "b", "a", "c", "b")))

    assert numbers == [FIRST, FIRST + 1, FIRST, FIRST + 2, FIRST + 1]
    assert len(allocations.docs) == 3


async def test_two_instances_racing_with_rounds_stay_gap_free_and_once_per_project() -> None:
    allocations, hints = _pair()
    first, second = _allocator(allocations, hints), _allocator(allocations, hints)
    projects = [f"p{i:02d}" for i in range(60)]
    calls = [(a, p) for p in projects for a in (first, second)]
    random.shuffle(calls)

    numbers = await asyncio.gather(*(_allocate(a, p) for a, p in calls))

    given: dict[str, set[int]] = {}
    for (_, project), number in zip(calls, numbers, strict=True):
        given.setdefault(project, set()).add(number)
    assert all(len(n) == 1 for n in given.values()), "both instances got the project's one number"
    assert sorted(d["sequence"] for d in allocations.docs.values()) == list(range(FIRST, FIRST + 60))
