"""Aggregate documents on the real FerretDB: versioned saves, the outbox beside the state."""

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from regstd.contracts import EventModel
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.events import new_event
from regstd.runtime.kafka import TopicMismatch, declare_topics
from regstd.runtime.store import OUTBOX, OUTBOX_COUNT, PROCESSED, VersionConflict
from regstd.runtime.unit_of_work import PLAIN_STATE, UnitOfWork

from .conftest import ThingFactory


async def test_state_events_and_consumed_id_are_written_together(
    runtimes: Callable[..., Runtime], new_thing_event: ThingFactory
) -> None:
    _, thing = new_thing_event()
    store = runtimes().aggregate_store("things")
    event = new_event(thing(thing_id="a", n=1))
    assert (
        await store.save("a", {"name": "x", "tags": ["p"]}, loaded=None, events=[event], consumed="in-1") == 1
    )
    doc = await store.collection.find_one({"_id": "a"})
    assert doc is not None
    assert (doc["name"], doc["_version"], doc[OUTBOX_COUNT], doc[PROCESSED]) == ("x", 1, 1, ["in-1"])
    assert doc[OUTBOX][0]["id"] == event.id

    loaded = await store.load("a")
    assert loaded is not None
    assert loaded.state == {"name": "x", "tags": ["p"]}
    assert loaded.has_processed("in-1")
    assert await store.save("a", {"name": "y"}, loaded=loaded, consumed="in-2") == 2
    reloaded = await store.load("a")
    assert reloaded is not None
    assert reloaded.state == {"name": "y"}, "a field the new state drops is removed"
    assert reloaded.processed == {"in-1", "in-2"}


async def test_a_stale_save_is_refused_and_changes_nothing(runtimes: Callable[..., Runtime]) -> None:
    store = runtimes().aggregate_store("things")
    await store.save("a", {"n": 1}, loaded=None)
    first = await store.load("a")
    assert first is not None
    await store.save("a", {"n": 2}, loaded=first)
    with pytest.raises(VersionConflict):
        await store.save("a", {"n": 3}, loaded=first)
    with pytest.raises(VersionConflict):
        await store.save("a", {"n": 4}, loaded=None)
    current = await store.load("a")
    assert current is not None
    assert (current.state, current.version) == ({"n": 2}, 2)


async def test_loads_made_side_by_side_are_one_read_and_each_gets_its_own_aggregate(
    runtimes: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = runtimes().aggregate_store("things")
    for i in range(10):
        await store.save(f"a-{i}", {"n": i, "tags": [str(i)]}, loaded=None, consumed=f"in-{i}")
    finds: list[Any] = []
    find = store.collection.find

    def counted_find(*args: Any, **kwargs: Any) -> Any:
        finds.append(args[0])
        return find(*args, **kwargs)

    monkeypatch.setattr(store.collection, "find", counted_find)
    asked = [f"a-{i}" for i in range(10)] + ["missing", "a-3"]

    loaded = await asyncio.gather(*(store.load(i) for i in asked))

    assert len(finds) == 1, "one read by _id $in"
    assert [None if x is None else x.state["n"] for x in loaded] == [*range(10), None, 3]
    assert all(x is None or x.has_processed(f"in-{x.state['n']}") for x in loaded)
    first, again = loaded[3], loaded[11]
    assert first is not None
    assert again is not None
    assert first.state["tags"] is not again.state["tags"], "a document asked for twice is not shared"


async def test_saves_made_side_by_side_are_one_write_each_kind_and_each_learns_its_own_result(
    runtimes: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = runtimes().aggregate_store("things")
    for i in range(4):
        await store.save(f"old-{i}", {"n": i}, loaded=None)
    loaded = [await store.load(f"old-{i}") for i in range(4)]
    assert all(x is not None for x in loaded)
    stale = await store.load("old-3")
    assert stale is not None
    await store.save("old-3", {"n": 30}, loaded=stale)  # old-3 moves on: loaded[3] is now stale
    calls: list[str] = []
    for name in ("insert_one", "insert_many", "update_one", "bulk_write"):
        method = getattr(store.collection, name)

        def counted(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls.append(_name)
            return _method(*args, **kwargs)

        monkeypatch.setattr(store.collection, name, counted)

    async def outcome(save: Any) -> str:
        try:
            return f"v{await save}"
        except VersionConflict:
            return "conflict"

    saves = [
        store.save("new-1", {"n": 1}, loaded=None, consumed="e-1"),
        store.save("old-0", {"n": 100}, loaded=None),  # exists: refused
        store.save("new-2", {"n": 2}, loaded=None),
        store.save("new-2", {"n": 22}, loaded=None),  # the same new id twice: one wins
        store.save("old-1", {"n": 11}, loaded=loaded[1], consumed="e-2"),
        store.save("old-2", {"n": 12}, loaded=loaded[2]),
        store.save("old-2", {"n": 13}, loaded=loaded[2]),  # the same version twice: one wins
        store.save("old-3", {"n": 14}, loaded=loaded[3]),  # stale: refused
    ]
    outcomes = await asyncio.gather(*(outcome(s) for s in saves))

    assert sorted(calls) == ["bulk_write", "insert_many"], "one write of each kind for the round"
    assert (outcomes[0], outcomes[1], outcomes[4], outcomes[7]) == ("v1", "conflict", "v2", "conflict")
    assert sorted(outcomes[2:4]) == ["conflict", "v1"], "of one new id saved twice, one is stored"
    assert sorted(outcomes[5:7]) == ["conflict", "v2"], "of one version changed twice, one is stored"
    stored = {doc["_id"]: doc async for doc in store.collection.find({})}
    assert {k: v["n"] for k, v in stored.items()} == {
        "old-0": 0,
        "old-1": 11,
        "old-2": 12 if outcomes[5] == "v2" else 13,
        "old-3": 30,
        "new-1": 1,
        "new-2": 2 if outcomes[2] == "v1" else 22,
    }
    assert stored["old-1"]["_processed"] == ["e-2"]
    assert stored["new-1"]["_processed"] == ["e-1"]
    reloaded = await store.load("old-2")
    assert reloaded is not None
    assert reloaded.version == 2
    assert set(reloaded.state) == {"n"}, "the round's token is not state"


async def test_a_failed_round_of_saves_fails_each_of_its_saves(
    runtimes: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = runtimes().aggregate_store("things")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the store went away")

    monkeypatch.setattr(store.collection, "insert_many", broken)
    results = await asyncio.gather(
        *(store.save(f"a-{i}", {"n": i}, loaded=None) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results), results
    assert await store.collection.count_documents({}) == 0


async def test_reserved_fields_cannot_be_written_as_state(runtimes: Callable[..., Runtime]) -> None:
    store = runtimes().aggregate_store("things")
    with pytest.raises(ValueError, match="reserved"):
        await store.save("a", {"_outbox": []}, loaded=None)
    assert await store.load("a") is None


async def test_concurrent_consumers_apply_each_event_once(runtimes: Callable[..., Runtime]) -> None:
    store = runtimes().aggregate_store("tallies")
    tallies = UnitOfWork(store, PLAIN_STATE, kind="tally", attempts=100)

    def add_one(tally: dict[str, Any] | None, _: datetime) -> tuple[dict[str, Any], list[EventModel]]:
        return {"total": (tally["total"] if tally else 0) + 1}, []

    # 20 distinct events, each delivered three times, all racing on one aggregate.
    calls = [tallies.apply_once("t", f"e-{i}", add_one) for i in range(20) for _ in range(3)]
    applied = await asyncio.gather(*calls)
    assert sum(applied) == 20
    loaded = await store.load("t")
    assert loaded is not None
    assert loaded.state["total"] == 20
    assert len(loaded.processed) == 20


async def test_topics_are_declared_with_their_partitions_once(
    stack: Any, new_thing_event: ThingFactory
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    topic, _ = new_thing_event()
    await declare_topics(stack.kafka_bootstrap, [topic])
    await declare_topics(stack.kafka_bootstrap, [topic])  # a second instance starting
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        described = {
            d["topic"]: len(d["partitions"])
            for d in await admin.describe_topics([topic.name, topic.dead_letter])
        }
    finally:
        await admin.close()
    assert described == {topic.name: topic.partitions, topic.dead_letter: 1}

    from dataclasses import replace

    with pytest.raises(TopicMismatch, match="has 3 partitions, the registry declares 8"):
        await declare_topics(stack.kafka_bootstrap, [replace(topic, partitions=8)])
