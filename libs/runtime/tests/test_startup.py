"""Start-up without infrastructure: topics that exist cost one metadata request and no creation;
missing ones are created and waited for; a topic with fewer partitions than declared stops the start;
store-call spans are opt-in; the producer connects while the store is prepared and the consumers start
only after it; the seconds each step of a start took are counted from its beginning and logged."""

import asyncio
import logging
from typing import Any, cast

import pytest
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider

from regstd.contracts import Topic
from regstd.runtime import bootstrap, kafka
from regstd.runtime.bootstrap import Runtime, StartTimes, store_call_tracing
from regstd.runtime.kafka import TopicMismatch, declare_topics
from regstd.runtime.settings import RuntimeSettings

TOPIC = Topic("regstd.thing.things.v1", owner="thing", partitions=6)


class FakeAdmin:
    """An admin client over a dict of topic → partitions; it records the requests it is sent."""

    def __init__(self, topics: dict[str, int]) -> None:
        self.topics = topics
        self.calls: list[str] = []

    def __call__(self, **_: Any) -> "FakeAdmin":
        return self

    async def start(self) -> None:
        self.calls.append("start")

    async def close(self) -> None:
        self.calls.append("close")

    async def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        self.calls.append("metadata")
        names = self.topics if topics is None else [t for t in topics if t in self.topics]
        return [{"topic": t, "partitions": list(range(self.topics[t]))} for t in names]

    async def create_topics(self, new: list[Any]) -> None:
        self.calls.append("create " + ",".join(sorted(t.name for t in new)))
        self.topics |= {t.name: t.num_partitions for t in new}


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> FakeAdmin:
    fake = FakeAdmin({})
    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", fake)
    return fake


async def test_topics_that_exist_cost_one_metadata_request_and_no_creation(admin: FakeAdmin) -> None:
    admin.topics |= {TOPIC.name: 6, TOPIC.dead_letter: 1, "someone.else.v1": 3}
    await declare_topics("kafka:9092", [TOPIC])
    assert admin.calls == ["start", "metadata", "close"]


async def test_missing_topics_are_created_with_their_partitions(admin: FakeAdmin) -> None:
    admin.topics |= {TOPIC.name: 6}
    await declare_topics("kafka:9092", [TOPIC])
    assert admin.calls == ["start", "metadata", f"create {TOPIC.dead_letter}", "metadata", "close"]
    assert admin.topics == {TOPIC.name: 6, TOPIC.dead_letter: 1}


async def test_a_topic_with_fewer_partitions_than_declared_stops_the_start(admin: FakeAdmin) -> None:
    admin.topics |= {TOPIC.name: 3, TOPIC.dead_letter: 1}
    with pytest.raises(TopicMismatch, match="has 3 partitions, the registry declares 6"):
        await declare_topics("kafka:9092", [TOPIC])
    assert admin.calls[-1] == "close"


def test_store_calls_are_traced_only_when_asked() -> None:
    provider = TracerProvider()
    plain = RuntimeSettings(service_name="svc", mongo_database="svc")
    assert store_call_tracing(plain, provider) == []
    traced = RuntimeSettings(service_name="svc", mongo_database="svc", trace_store_calls=True)
    [listener] = store_call_tracing(traced, provider)
    assert type(listener).__name__ == "CommandTracer"


def test_start_times_count_from_the_start_of_the_start() -> None:
    now = iter([10.0, 10.25, 10.5])
    took = StartTimes(clock=lambda: next(now))
    took.mark("store_s")
    took.mark("consumers_s")
    assert took.marks == {"store_s": 0.25, "consumers_s": 0.5}


class RecordingBroker:
    """Stands in for the FastStream broker: notes when the producer connects and the consumers start."""

    def __init__(self, said: list[str]) -> None:
        self.said = said
        self.connected = asyncio.Event()

    async def connect(self) -> None:
        self.said.append("producer connected")
        self.connected.set()

    async def start(self) -> None:
        self.said.append("consumers started")

    async def stop(self) -> None:
        self.said.append("stopped")


async def test_the_producer_connects_beside_the_store_and_the_consumers_start_after_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    said: list[str] = []
    broker = RecordingBroker(said)

    async def topics_declared(bootstrap: str, topics: Any) -> None:
        said.append("topics declared")

    async def store_prepared() -> None:
        # Waits for the producer: were the two one after another, this would never end.
        await broker.connected.wait()
        said.append("store prepared")

    monkeypatch.setattr(bootstrap, "declare_topics", topics_declared)
    settings = RuntimeSettings(service_name="svc", mongo_database="svc")
    runtime = Runtime(settings, broker=cast(KafkaBroker, broker))
    caplog.set_level(logging.INFO, logger=bootstrap.__name__)
    try:
        await asyncio.wait_for(runtime.start(topics=[TOPIC], prepare=[store_prepared]), 10)
    finally:
        await runtime.stop()

    assert said.index("store prepared") < said.index("consumers started")
    assert said.index("producer connected") < said.index("store prepared")
    [started] = [r for r in caplog.records if r.getMessage() == "runtime started"]
    marks = {name: getattr(started, name) for name in ("store_s", "topics_s", "producer_s", "consumers_s")}
    assert all(isinstance(mark, float) and mark >= 0 for mark in marks.values())
    assert marks["consumers_s"] >= marks["store_s"]
