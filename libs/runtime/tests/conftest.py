"""Fixtures for the runtime's tests: a throwaway event type on a throwaway topic per test."""

from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest
from pydantic import Field

from regstd.contracts import EventModel, Topic
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.consumer import RetryPolicy
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.testing import QUICK, drop_databases, letters


class ThingHappened(EventModel):
    """Base of the test events: something happened to a thing, `n` counts how often."""

    thing_id: str
    n: int = Field(ge=0)
    subject_field: ClassVar[str] = "thing_id"


ThingFactory = Callable[..., tuple[Topic, type[ThingHappened]]]


@pytest.fixture
def new_thing_event() -> ThingFactory:
    """Make a fresh event type on a fresh topic (or on the one given), so tests sharing one broker
    never see each other."""

    def make(on: Topic | None = None) -> tuple[Topic, type[ThingHappened]]:
        suffix = letters(10)
        topic = on or Topic(f"regstd.test.things-{suffix}.v1", owner="test", partitions=3)
        model = type(
            f"ThingHappened_{suffix}",
            (ThingHappened,),
            {
                "__module__": __name__,
                "event_type": f"cn.regstd.test.thing-{suffix}.happened.v1",
                "topic": topic,
                "__annotations__": {"event_type": ClassVar[str], "topic": ClassVar[Topic]},
            },
        )
        return topic, model

    return make


@pytest.fixture
def fast_retry() -> RetryPolicy:
    """Retries that do not slow the tests down."""
    return RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05)


@pytest.fixture
async def runtimes(stack: Any) -> AsyncIterator[Callable[..., Runtime]]:
    """Make service runtimes on the session's stack, each with its own fresh database; stop them after."""
    made: list[Runtime] = []

    def make(**overrides: Any) -> Runtime:
        settings = RuntimeSettings(
            **{
                "service_name": f"test-{letters(4)}",
                "mongo_database": f"test_{letters(10)}",
                "kafka_bootstrap": stack.kafka_bootstrap,
                "mongo_url": stack.mongo_url,
                **QUICK,
                **overrides,
            }
        )
        runtime = Runtime(settings)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.stop()
    await drop_databases(stack.mongo_url, *(runtime.settings.mongo_database for runtime in made))
