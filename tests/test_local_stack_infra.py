"""The local stack behaves like the production systems where our reliability rules depend on it."""

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient


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


async def test_kafka_never_creates_a_topic_on_first_use(stack: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises(KafkaError):
            await asyncio.wait_for(producer.send_and_wait("regstd.undeclared.things.v1", b"x"), 10)
    finally:
        await producer.stop()
