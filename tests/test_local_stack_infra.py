"""The local stack behaves like the production systems where our reliability rules depend on it."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient, UpdateOne


async def test_concurrent_updates_of_one_document_are_atomic(stack: Any) -> None:
    """FerretDB is built with the lock of decision 6; without it this ends far below 50."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url, maxPoolSize=50)
    try:
        things = client["stack_check"]["things"]
        await things.insert_one({"_id": "x", "version": 0, "count": 0})
        await asyncio.gather(*(things.update_one({"_id": "x"}, {"$inc": {"count": 1}}) for _ in range(50)))
        results = await asyncio.gather(
            *(things.update_one({"_id": "x", "version": 0}, {"$inc": {"version": 1}}) for _ in range(50))
        )
        doc = await things.find_one({"_id": "x"})
        assert doc is not None
        assert doc["count"] == 50
        assert sum(r.modified_count for r in results) == 1, "only one of the racing versioned updates wins"
    finally:
        await client.drop_database("stack_check")
        await client.close()


async def test_updates_by_id_many_documents_and_deletes_interleave_without_losing_a_write(stack: Any) -> None:
    """Updates by `_id` of several documents, bulk writes of them, `update_many` over all of them and
    a racing delete of another document, at once: the collection's lock (decisions 6, 38) loses no
    increment."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url, maxPoolSize=50)
    try:
        things = client["stack_check_locks"]["things"]
        await things.insert_many([{"_id": f"t{i}", "count": 0} for i in range(5)] + [{"_id": "gone"}])
        by_id = [things.update_one({"_id": f"t{i % 5}"}, {"$inc": {"count": 1}}) for i in range(100)]
        bulk = [
            things.bulk_write([UpdateOne({"_id": f"t{i}"}, {"$inc": {"count": 1}}) for i in range(5)])
            for _ in range(10)
        ]
        many = [things.update_many({}, {"$inc": {"count": 1}}) for _ in range(10)]
        await asyncio.gather(*by_id, *bulk, *many, things.delete_one({"_id": "gone"}))
        counts = {d["_id"]: d["count"] async for d in things.find({})}
        assert counts == {f"t{i}": 20 + 10 + 10 for i in range(5)}, counts
    finally:
        await client.drop_database("stack_check_locks")
        await client.close()


async def test_kafka_never_creates_a_topic_on_first_use(stack: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises(KafkaError):
            await asyncio.wait_for(producer.send_and_wait("regstd.undeclared.things.v1", b"x"), 10)
    finally:
        await producer.stop()


async def test_id_and_pending_filters_reach_postgresql_indexes(stack: Any) -> None:
    """FerretDB is built with the pushdown patch of decision 20: reads by `_id` (also `$in`) use the
    `_id` index, and an integer `$gt` reaches PostgreSQL instead of being applied to every document."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url)
    try:
        db = client["stack_check_pushdown"]
        await db["docs"].insert_many([{"_id": f"d{i}", "pending": 0, "pad": "p" * 200} for i in range(3000)])
        await db["docs"].create_index("pending")

        async def plan(query: dict[str, Any]) -> dict[str, Any]:
            explained = await db.command("explain", {"find": "docs", "filter": query})
            assert explained["filterPushdown"] is True
            found: dict[str, Any] = explained["queryPlanner"]["Plan"]
            return found

        by_id = await plan({"_id": "d7"})
        assert by_id["Node Type"] == "Index Scan", by_id
        assert "'_id'::text) = " in by_id.get("Index Cond", ""), by_id
        by_ids = await plan({"_id": {"$in": ["d7", "d8"]}})
        assert "Seq Scan" not in str(by_ids), by_ids
        pending = await plan({"pending": {"$gt": 0}})
        assert "'pending'::text) > '0'::jsonb" in str(pending), pending
        found = sorted([d["_id"] async for d in db["docs"].find({"_id": {"$in": ["d7", "d8", "nope"]}})])
        assert found == ["d7", "d8"]
    finally:
        await client.drop_database("stack_check_pushdown")
        await client.close()


async def test_a_date_or_integer_below_a_bound_reaches_postgresql_and_still_matches_as_mongodb(
    stack: Any,
) -> None:
    """`$lt`/`$lte` with a date or an integer is pushed down (decision 46: the clock scans read only
    what is due), and the answer is still MongoDB's: an array holding a match is found; numbers,
    strings, later dates and a missing field are not matched by a date."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        docs = client["stack_check_below"]["docs"]
        await docs.insert_many(
            [
                {"_id": f"later-{i}", "due": now + timedelta(days=1 + i), "n": 100 + i, "pad": "p" * 300}
                for i in range(2000)
            ]
            + [
                {"_id": "due", "due": now - timedelta(seconds=1), "n": 1},
                {"_id": "exactly", "due": now, "n": 5},
                {"_id": "in-array", "due": [now + timedelta(days=9), now - timedelta(days=9)], "n": [500, 2]},
                {"_id": "a-number", "due": 0, "n": "1"},
                {"_id": "a-string", "due": "2020-01-01", "n": None},
                {"_id": "empty-array", "due": [], "n": []},
                {"_id": "an-object", "due": {"at": now - timedelta(days=1)}, "n": {"k": 1}},
                {"_id": "missing"},
            ]
        )
        await docs.create_index("due")
        explained = await client["stack_check_below"].command(
            "explain", {"find": "docs", "filter": {"due": {"$lte": now}}}
        )
        assert explained["filterPushdown"] is True
        pushed = str(explained["queryPlanner"]["Plan"])
        assert "'due'::text) <= " in pushed, explained["queryPlanner"]
        # A closed range of numbers, and arrays by a second range on the field itself (decision 47),
        # both served by the field's index: nulls (below every number) are not returned, and a test
        # of the type would make PostgreSQL read every document.
        assert "'due'::text) >= '-1000000" in pushed, pushed
        assert "'due'::text) > 'true'::jsonb" in pushed, pushed
        assert "jsonb_typeof" not in pushed, pushed
        assert "Seq Scan" not in pushed, "the index on the field serves the scan, even without statistics"

        async def ids(query: dict[str, Any]) -> list[str]:
            return sorted([d["_id"] async for d in docs.find(query, projection={"_id": True})])

        assert await ids({"due": {"$lte": now}}) == ["due", "exactly", "in-array"]
        assert await ids({"due": {"$lt": now}}) == ["due", "in-array"]
        assert await ids({"n": {"$lte": 5}}) == ["due", "exactly", "in-array"]
        assert await ids({"n": {"$lt": 2}}) == ["due"]
        assert len(await ids({"due": {"$gt": now}})) == 2001, "a later date, or one in an array"
        assert "in-array" in await ids({"due": {"$gt": now}})
        assert await ids({"n": {"$gt": 2098}}) == ["later-1999"]
        above = await ids({"n": {"$gt": 450}})
        assert len(above) == 1650
        assert "in-array" in above, "a number in an array is compared too"
    finally:
        await client.drop_database("stack_check_below")
        await client.close()


async def test_a_string_type_filter_reaches_postgresql_and_still_matches_as_mongodb(stack: Any) -> None:
    """`$type: "string"` on a field is pushed down as the range of strings (decision 47: publication's
    search for revisions read every published standard), and the answer is still MongoDB's: a string,
    or an array holding one; not null, a missing field, a number, an object or an empty array."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url)
    try:
        docs = client["stack_check_type"]["docs"]
        await docs.insert_many(
            [{"_id": f"none-{i}", "supersedes": None, "pad": "p" * 300} for i in range(2000)]
            + [
                {"_id": "revision", "supersedes": "std-1"},
                {"_id": "empty-string", "supersedes": ""},
                {"_id": "in-array", "supersedes": [1, "std-2"]},
                {"_id": "numbers-only", "supersedes": [1, 2]},
                {"_id": "empty-array", "supersedes": []},
                {"_id": "a-number", "supersedes": 7},
                {"_id": "an-object", "supersedes": {"id": "std-3"}},
                {"_id": "true", "supersedes": True},
                {"_id": "missing"},
            ]
        )
        await docs.create_index("supersedes")
        explained = await client["stack_check_type"].command(
            "explain", {"find": "docs", "filter": {"supersedes": {"$type": "string"}}}
        )
        assert explained["filterPushdown"] is True
        pushed = str(explained["queryPlanner"]["Plan"])
        assert "'supersedes'::text) > 'null'::jsonb" in pushed, pushed
        assert "Seq Scan" not in pushed, "the index on the field serves the filter"
        found = sorted([d["_id"] async for d in docs.find({"supersedes": {"$type": "string"}})])
        assert found == ["empty-string", "in-array", "revision"]
    finally:
        await client.drop_database("stack_check_type")
        await client.close()


async def test_pushed_down_bounds_answer_as_the_same_filter_applied_by_ferretdb_alone(stack: Any) -> None:
    """Each pushed-down filter (decision 47) against the same filter inside `$and`, which FerretDB
    does not push down and applies to every document itself, over values of every kind a field can
    hold: numbers of each type and sign, huge and tiny, dates, strings, nulls, booleans, arrays
    (empty, mixed, holding objects; FerretDB refuses nested arrays), objects and a missing field.
    Bounds past 2^53 are not pushed down."""
    rng = random.Random(47)
    now = datetime.now(UTC).replace(microsecond=0)
    kinds: list[Any] = [
        0, 1, -1, 5, 2**40, -(2**40), 2**62, -(2**62), 1.5, -0.0, 1e300, -1e300, 1e-300,
        now, now - timedelta(days=1), now + timedelta(days=1), datetime(1960, 1, 1, tzinfo=UTC),
        "", "a", "2026-12-03", None, True, False,
        [], [3], [now], [None], ["s", 7], [{"n": 1}, 2], {"n": 1}, {},
    ]  # fmt: skip
    docs = [{"_id": f"d{i}", "f": rng.choice(kinds)} for i in range(600)] + [{"_id": "missing"}]
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    try:
        things = client["stack_check_differential"]["things"]
        await things.insert_many(docs)
        await things.create_index("f")
        bounds: list[Any] = [0, 1, -1, 5, 2**40, -(2**40), 2**53, 2**62, now, now - timedelta(days=1)]
        filters: list[Any] = [{op: b} for op in ("$lt", "$lte", "$gt") for b in bounds]
        filters.append({"$type": "string"})
        for condition in filters:

            async def ids(query: dict[str, Any]) -> list[str]:
                return sorted([d["_id"] async for d in things.find(query, projection={"_id": True})])

            pushed = await ids({"f": condition})
            alone = await ids({"$and": [{"f": condition}]})
            assert pushed == alone, condition
    finally:
        await client.drop_database("stack_check_differential")
        await client.close()
