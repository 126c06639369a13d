"""Joint numbering against the real Kafka and FerretDB: two instances, concurrent approvals with
duplicates, and the block comes out gap-free, unique and one number per project."""

import asyncio
import json
import random
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from regstd.contracts.publication import StandardPublished
from regstd.contracts.topics import INTAKE_PROJECTS, PUBLICATION_STANDARDS
from regstd.publication.adapters.allocator import BlockAllocator, Wanted
from regstd.publication.adapters.designations import DesignationRegistry
from regstd.publication.domain.numbering import Allocation
from regstd.publication.main import PublicationService
from regstd.runtime.events import new_event, to_kafka
from regstd.runtime.testing import (
    approved_project,
    bearer,
    ce,
    eventually,
    letters,
    outboxes_empty,
    read_topic,
)

from .conftest import Scenario, approval

APPROVALS = 200
SENT_TWICE = 60
REPEATED_WITH_NEW_ID = 10


async def test_two_instances_number_200_concurrent_approvals_with_duplicates_gap_free(
    scenario: Scenario,
) -> None:
    first, second = await scenario.instance(), await scenario.instance()
    run = letters(6)
    approvals = [approval(f"load-{run}-{i:03d}") for i in range(APPROVALS)]
    records = [to_kafka(new_event(a)) for a in approvals]
    # Redeliveries (the same event twice) and repeated approvals (the same approval, a new event id).
    duplicates = random.sample(records, SENT_TWICE)
    repeats = [to_kafka(new_event(a)) for a in random.sample(approvals, REPEATED_WITH_NEW_ID)]
    everything = records + duplicates + repeats
    random.shuffle(everything)
    # Each project's proposal and passed ballots first, as intake sends them (decision 0023).
    await asyncio.gather(
        *(
            scenario.send_in_order([to_kafka(new_event(e)) for e in approved_project(a)[:-1]])
            for a in approvals
        )
    )
    await scenario.send(everything)

    standards = first.queries.collection
    await eventually(
        lambda: _count(standards, {"status": "published"}, APPROVALS),
        what=f"{APPROVALS} published standards",
    )
    await scenario.until_consumed()
    await eventually(lambda: outboxes_empty(standards), what="empty outboxes")

    # The block: exactly 10001…10200, one number per project, every project numbered.
    allocations = [doc async for doc in first.allocator.collection.find({})]
    assert sorted(a["sequence"] for a in allocations) == list(range(10001, 10001 + APPROVALS))
    assert {a["project_id"] for a in allocations} == {a.project_id for a in approvals}
    assert {a["status"] for a in allocations} == {"assigned"}

    # The standards: one per project, numbered with the project's allocation, under both codes.
    docs = [doc async for doc in standards.find({})]
    assert len(docs) == APPROVALS
    by_project = {a["project_id"]: a["sequence"] for a in allocations}
    for doc in docs:
        sequence, year = doc["sequence"], doc["year"]
        assert by_project[doc["project_id"]] == sequence
        assert [n["number"] for n in doc["numbers"]] == [
            f"DB50/T {sequence}—{year}",
            f"DB51/T {sequence}—{year}",
        ]
        assert len(doc["_processed"]) == 1, "one approval event took effect per standard"
    assert len({doc["sequence"] for doc in docs}) == APPROVALS

    # The topic: 200 distinct StandardPublished events, one per standard, each sent once.
    ids = {doc["_id"] for doc in docs}

    def ours(records: list[Any]) -> list[Any]:
        return [
            r
            for r in records
            if r.key is not None
            and r.key.decode() in ids
            and ce(r)["ce_type"] == StandardPublished.event_type
        ]

    published = ours(
        await read_topic(
            scenario.stack.kafka_bootstrap,
            PUBLICATION_STANDARDS.name,
            lambda seen: len({r.key for r in ours(seen)}) >= APPROVALS,
        )
    )
    event_ids: dict[str, set[str]] = defaultdict(set)
    for record in published:
        event_ids[record.key.decode()].add(ce(record)["ce_id"])
    assert set(event_ids) == ids
    assert all(len(v) == 1 for v in event_ids.values()), "each standard was announced by one event"
    sequences = {json.loads(r.value)["sequence"] for r in published}
    assert sequences == set(range(10001, 10001 + APPROVALS))

    # Both instances took part: the group's partitions are split between them.
    shares = [_assigned(first), _assigned(second)]
    assert all(shares), f"each instance holds partitions of the approvals topic: {shares}"
    assert shares[0].isdisjoint(shares[1])
    assert shares[0] | shares[1] == set(range(INTAKE_PROJECTS.partitions))

    # Either instance shows the same gap-free block.
    async with scenario.client(second) as client:
        response = await client.get("/blocks/chengyu", params={"limit": 200}, headers=bearer("ops"))
    assert response.status_code == 200, response.text
    block = response.json()
    assert (block["first"], block["highest"], block["allocated"], block["gap_free"]) == (
        10001,
        10200,
        200,
        True,
    )
    assert [a["sequence"] for a in block["allocations"]] == list(range(10001, 10201))
    assert {a["status"] for a in block["allocations"]} == {"published"}


def _assigned(service: PublicationService) -> set[int]:
    """The approvals partitions an instance's consumer holds (read from FastStream's subscriber)."""
    held: set[int] = set()
    for subscriber in service.runtime.broker.subscribers:
        # a batch subscriber has one consumer; older ones had several (consumer_subgroup)
        consumers = getattr(subscriber, "consumer_subgroup", None) or [getattr(subscriber, "consumer", None)]
        for consumer in consumers:
            if consumer is not None:
                held |= {tp.partition for tp in consumer.assignment() if tp.topic == INTAKE_PROJECTS.name}
    return held


async def _count(collection: Any, query: dict[str, Any], expected: int) -> bool:
    return bool(await collection.count_documents(query) == expected)


async def test_the_allocator_under_heavy_contention_from_two_clients_stays_gap_free_and_unique(
    stack: Any,
) -> None:
    """Far more contention than Kafka's per-partition order allows: 2 × 100 concurrent allocations
    through two separate database clients, every project asked for by both at once."""
    database = f"alloc_{letters(10)}"
    clients: list[AsyncMongoClient[Any]] = [
        AsyncMongoClient(stack.mongo_url, tz_aware=True) for _ in range(2)
    ]
    try:
        allocators = [BlockAllocator(c[database]["allocations"]) for c in clients]
        await asyncio.gather(*(a.ensure_indexes() for a in allocators))
        projects = [f"p-{i:03d}" for i in range(100)]
        now = datetime.now(UTC)

        async def allocate(allocator: BlockAllocator, project: str) -> Allocation:
            return await allocator.allocate(
                area="yrd", block_first=310001, project_id=project, standard_id=f"std-{project}", at=now
            )

        calls = [(a, p) for p in projects for a in allocators]
        random.shuffle(calls)
        results = await asyncio.gather(*(allocate(a, p) for a, p in calls))

        given: dict[str, set[int]] = defaultdict(set)
        for result in results:
            given[result.project_id].add(result.sequence)
        assert all(len(s) == 1 for s in given.values()), "both callers got the project's one number"
        stored = [doc async for doc in allocators[0].collection.find({})]
        assert sorted(d["sequence"] for d in stored) == list(range(310001, 310101))
        assert sorted(d["project_id"] for d in stored) == projects
    finally:
        await clients[0].drop_database(database)
        for client in clients:
            await client.close()


async def test_one_round_on_the_real_store_stops_at_a_refused_number_and_leaves_no_gap(stack: Any) -> None:
    """The ordered insert of a round meets a project that holds a number already (a crash before its
    standard was stored) and one number another instance took meanwhile: the store stops at each,
    the round goes on after it, and the block has no gap."""
    database = f"alloc_{letters(10)}"
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    try:
        allocator = BlockAllocator(client[database]["allocations"])
        await allocator.ensure_indexes()
        now = datetime.now(UTC)

        def wanted(project: str) -> Wanted:
            return Wanted(project, f"std-{project}", now)

        first = await allocator.allocate_many(area="yrd", block_first=310001, wanted=[wanted("p-held")])
        assert first["p-held"].sequence == 310001
        # Another instance took 310005 without raising the hint yet.
        await allocator.collection.insert_one(
            {"_id": "yrd:310005", "area": "yrd", "sequence": 310005, "project_id": "p-other",
             "standard_id": "std-p-other", "status": "assigned", "assigned_at": now}
        )  # fmt: skip

        projects = ["p-0", "p-1", "p-held", "p-2", "p-3", "p-4", "p-5"]
        given = await allocator.allocate_many(
            area="yrd", block_first=310001, wanted=[wanted(p) for p in projects]
        )

        assert given["p-held"].sequence == 310001
        assert [given[p].sequence for p in projects if p != "p-held"] == [
            310002, 310003, 310004, 310006, 310007, 310008
        ]  # fmt: skip
        stored = [doc async for doc in allocator.collection.find({})]
        assert sorted(d["sequence"] for d in stored) == list(range(310001, 310009))
        assert len({d["project_id"] for d in stored}) == len(stored)
        await allocator.hints_raised()
        assert await allocator.hint("yrd") == 310008
    finally:
        await client.drop_database(database)
        await client.close()


async def test_an_instance_starting_from_the_number_it_remembers_still_leaves_no_gap(stack: Any) -> None:
    """An allocator starts a round after the highest number it saw, without reading the hint; when
    another instance numbered meanwhile, its insert is refused and it goes on after the others'."""
    database = f"alloc_{letters(10)}"
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    try:
        mine, other = (BlockAllocator(client[database]["allocations"]) for _ in range(2))
        await mine.ensure_indexes()
        now = datetime.now(UTC)

        def wanted(project: str) -> list[Wanted]:
            return [Wanted(project, f"std-{project}", now)]

        assert (await mine.allocate_many(area="yrd", block_first=310001, wanted=wanted("a")))[
            "a"
        ].sequence == 310001
        for project in ("b", "c", "d"):  # meanwhile, on another instance
            await other.allocate_many(area="yrd", block_first=310001, wanted=wanted(project))
        given = await mine.allocate_many(area="yrd", block_first=310001, wanted=wanted("e"))
        assert given["e"].sequence == 310005
        again = await mine.allocate_many(area="yrd", block_first=310001, wanted=wanted("f"))
        assert again["f"].sequence == 310006
        stored = [doc async for doc in mine.collection.find({})]
        assert sorted(d["sequence"] for d in stored) == list(range(310001, 310007))
        await mine.hints_raised()
        assert await mine.hint("yrd") == 310006
    finally:
        await client.drop_database(database)
        await client.close()


async def test_designations_are_claimed_together_and_a_taken_one_releases_the_rest(stack: Any) -> None:
    """One insert claims every designation of a standard; claiming again for the same standard
    succeeds; a claim meeting one another standard holds names it and keeps nothing of its own."""
    database = f"designations_{letters(10)}"
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    try:
        registry = DesignationRegistry(client[database]["designations"])
        assert await registry.claim(["DB50/T 1—2026", "DB51/T 1—2026"], "std-1") is None
        assert await registry.claim(["DB50/T 1—2026", "DB51/T 1—2026"], "std-1") is None  # again: its own
        refused = await registry.claim(["DB50/T 2—2026", "DB51/T 1—2026", "DB52/T 2—2026"], "std-2")
        assert refused == ("DB51/T 1—2026", "std-1")
        holders = {d["_id"]: d["standard_id"] async for d in registry.collection.find({})}
        assert holders == {"DB50/T 1—2026": "std-1", "DB51/T 1—2026": "std-1"}
    finally:
        await client.drop_database(database)
        await client.close()


async def test_claims_made_side_by_side_are_one_insert_and_each_gets_its_own_answer(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round of claims is one insert; each claim is answered as if alone: its own again, a new one,
    one meeting a designation held before the round, and two standards racing for one designation
    (exactly one holds it, and the other keeps nothing)."""
    database = f"designations_{letters(10)}"
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    try:
        registry = DesignationRegistry(client[database]["designations"])
        assert await registry.claim(["DB50/T 1—2026"], "std-1") is None
        inserts: list[int] = []
        insert_many = registry.collection.insert_many

        def counted(docs: Any, **kwargs: Any) -> Any:
            inserts.append(len(docs))
            return insert_many(docs, **kwargs)

        monkeypatch.setattr(registry.collection, "insert_many", counted)
        answers = await asyncio.gather(
            registry.claim(["DB50/T 1—2026"], "std-1"),
            registry.claim(["DB50/T 2—2026", "DB51/T 2—2026"], "std-2"),
            registry.claim(["DB50/T 3—2026", "DB50/T 1—2026"], "std-3"),
            registry.claim(["DB50/T 4—2026", "DB51/T 4—2026"], "std-4"),
            registry.claim(["DB50/T 5—2026", "DB51/T 4—2026"], "std-5"),
        )
        assert inserts == [9], "one insert of every claim's designations"
        assert answers[:3] == [None, None, ("DB50/T 1—2026", "std-1")]
        winner = "std-4" if answers[3] is None else "std-5"
        loser = answers[4] if winner == "std-4" else answers[3]
        assert loser == ("DB51/T 4—2026", winner), "of two racing for one designation, one holds it"
        holders = {d["_id"]: d["standard_id"] async for d in registry.collection.find({})}
        expected = {"DB50/T 1—2026": "std-1", "DB50/T 2—2026": "std-2", "DB51/T 2—2026": "std-2"}
        own = "DB50/T 4—2026" if winner == "std-4" else "DB50/T 5—2026"
        expected |= {"DB51/T 4—2026": winner, own: winner}
        assert holders == expected, "a refused claim keeps nothing of its own"
    finally:
        await client.drop_database(database)
        await client.close()
