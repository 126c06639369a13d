"""Test support shared by every package's tests; never used by a running service.

An in-memory aggregate store with the semantics of the real one (`store.AggregateStore`), for unit
tests of handlers; and the helpers the tests on the session's real Kafka and FerretDB share: fresh
names, bearer headers, a clock the test moves, waiting for a condition, a topic's records, consumer
groups started at a topic's end and checked, and `ServiceScenario`, the instances of one service on
that stack. (An HTTP client of an app needs httpx, which the runtime does not depend on: the tests
make their own.)"""

import asyncio
import importlib
import importlib.util
import random
import socket
import string
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from starlette.applications import Starlette

from regstd.contracts import TOPICS, EventModel
from regstd.contracts.common import Actor
from regstd.contracts.intake import BallotDecided, PartyPosition, ProjectFinallyApproved, ProjectProposed
from regstd.kernel.calendar import Arrangement
from regstd.runtime.events import Delivery, PendingEvent, new_event
from regstd.runtime.kafka import declare_topics
from regstd.runtime.store import META_FIELDS, OUTBOX_COUNT, Document, Loaded, VersionConflict

T = TypeVar("T")


@dataclass
class _Kept:
    state: Document
    version: int
    processed: frozenset[str]


@dataclass
class MemoryAggregateStore:
    """Aggregates of one kind in memory; `outbox` holds every event saved, in order."""

    documents: dict[str, _Kept] = field(default_factory=dict)
    outbox: list[PendingEvent] = field(default_factory=list)

    async def load(self, aggregate_id: str) -> Loaded | None:
        """The aggregate with its version, or None."""
        kept = self.documents.get(aggregate_id)
        if kept is None:
            return None
        return Loaded(aggregate_id, kept.version, dict(kept.state), kept.processed)

    async def save(
        self,
        aggregate_id: str,
        state: Mapping[str, Any],
        *,
        loaded: Loaded | None,
        events: Sequence[PendingEvent] = (),
        consumed: str | None = None,
    ) -> int:
        """Store state, events and the consumed id; VersionConflict as the real store raises it."""
        if any(key in META_FIELDS or key.startswith("$") for key in state):
            raise ValueError(f"state may not use the reserved fields {sorted(META_FIELDS)}")
        kept = self.documents.get(aggregate_id)
        if loaded is None and kept is not None:
            raise VersionConflict(f"aggregate {aggregate_id} already exists")
        if loaded is not None and (kept is None or kept.version != loaded.version):
            raise VersionConflict(f"aggregate {aggregate_id} changed since version {loaded.version}")
        version = 1 if kept is None else kept.version + 1
        processed = (kept.processed if kept else frozenset()) | ({consumed} if consumed else set())
        self.documents[aggregate_id] = _Kept(dict(state), version, processed)
        self.outbox += events
        return version

    def states(self) -> dict[str, Document]:
        """Every aggregate's stored state by id."""
        return {aggregate_id: kept.state for aggregate_id, kept in self.documents.items()}

    def events_of(self, event_type: str) -> list[PendingEvent]:
        """The saved events of one CloudEvents type, in order."""
        return [event for event in self.outbox if event.type == event_type]


@dataclass
class MemoryRecordTable:
    """Idempotency records in memory, with the semantics of `idempotency.MongoRecordTable`; a test
    changes `records` to stage what a crash leaves (`crash_after_save`)."""

    records: dict[str, Document] = field(default_factory=dict)

    async def insert(self, record: Document) -> bool:
        """Insert a record; False when one with its `_id` exists."""
        if record["_id"] in self.records:
            return False
        self.records[record["_id"]] = dict(record)
        return True

    async def get(self, record_id: str) -> Document | None:
        """The record, or None."""
        found = self.records.get(record_id)
        return None if found is None else dict(found)

    async def update_if(self, record_id: str, match: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
        """Set `values` on the record if it still has the `match` fields; whether it did."""
        found = self.records.get(record_id)
        if found is None or any(found.get(k) != v for k, v in match.items()):
            return False
        found.update(values)
        return True

    async def delete_if(self, record_id: str, match: Mapping[str, Any]) -> bool:
        """Delete the record if it still has the `match` fields; whether it did."""
        found = self.records.get(record_id)
        if found is None or any(found.get(k) != v for k, v in match.items()):
            return False
        del self.records[record_id]
        return True


def crash_after_save(record: Document) -> Document:
    """What an instance killed between a keyed request's save and keeping its answer leaves of the
    key's record, once its lease ran out: in progress, no answer, the lease long past. A retry then
    re-executes the request on another instance."""
    lost = {k: v for k, v in record.items() if k not in ("response", "answered_at")}
    return lost | {"state": "in_progress", "lease_until": record["created_at"] - timedelta(hours=1)}


# ---------------------------------------------------------------------------------------------
# Names, headers and time


def invented_arrangement_2027() -> Arrangement:
    """A 2027 holiday arrangement invented for tests (the State Council had not announced 2027's):
    New Year 1–3 January, the Spring Festival 5–11 February, Saturday 20 February a 调休 working day.
    Against the statutory rule it moves 11 February (off) and 20 February (worked)."""
    new_year = {date(2027, 1, d) for d in (1, 2, 3)}
    spring_festival = {date(2027, 2, d) for d in range(5, 12)}
    return Arrangement(
        year=2027,
        holidays=frozenset(new_year | spring_festival),
        workdays=frozenset({date(2027, 2, 20)}),
        source="invented for tests",
    )


def letters(k: int = 8) -> str:
    """`k` random lowercase letters: a suffix that keeps a test's names (databases, groups, topics,
    ids) apart from every other test's on the session's shared stack."""
    return "".join(random.choices(string.ascii_lowercase, k=k))


def bearer(token: str) -> dict[str, str]:
    """The HTTP headers of a request made with a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MovableClock:
    """A service's clock (a `Now`) in a test: the real time, or a fixed `start`, moved forward by
    what the test says (`advance`, or `shift` set outright)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start
        self.shift = timedelta()

    def __call__(self) -> datetime:
        """The time it is for the service."""
        return (self.start or datetime.now(UTC)) + self.shift

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a `timedelta(**delta)` (days=…, hours=…)."""
        self.shift += timedelta(**delta)


async def eventually(check: Callable[[], Awaitable[T | None]], what: str = "", *, within: float = 300.0) -> T:
    """Wait until `check()` gives a truthy value and return that value; fail naming `what` was
    awaited once `within` seconds have passed.

    The bound only stops a hung test, it is no speed limit: two cores shared with Kafka and FerretDB
    may run a test several times slower than a quiet machine (speed is `make bench`'s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        found = await check()
        if found:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or check}")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# A service's test fakes, used from another folder's tests


def service_test_module(tests: Path, package: str, module: str = "memory") -> ModuleType:
    """A module of a service's `tests/` folder (its in-memory fakes, written once beside its tests),
    for tests elsewhere: a `tests/` folder cannot be imported by name, so it is loaded as a package
    named `package`, and its own relative imports work."""
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            package, tests / "__init__.py", submodule_search_locations=[str(tests)]
        )
        assert spec is not None
        sys.modules[package] = importlib.util.module_from_spec(spec)
    return importlib.import_module(f"{package}.{module}")


# ---------------------------------------------------------------------------------------------
# Events as a handler receives them


def delivered(
    event: EventModel, *, event_id: str | None = None, time: datetime | None = None, offset: int = 0
) -> Delivery[Any]:
    """An event as the runtime's consumer hands it to a handler: the contract model with its
    CloudEvents attributes (a fresh id and the current time unless given), from its own topic."""
    pending = new_event(event, now=time)
    return Delivery(
        id=event_id or pending.id,
        type=pending.type,
        source=pending.source,
        subject=pending.subject,
        time=pending.time,
        data=event,
        topic=event.topic.name,
        partition=0,
        offset=offset,
    )


# ---------------------------------------------------------------------------------------------
# A project's events as intake sends them


def approved_project(approval: ProjectFinallyApproved) -> list[EventModel]:
    """The events intake sends for a project that ends in this final approval, in intake's order
    on one key: `ProjectProposed`, the project-approval (立项) and final-approval (批准) ballots
    decided as passed, and the approval itself. Publication honours an approval only after the
    proposal and the passed final ballot (decision 0023); tests and the benchmark put all of them
    on intake's topic instead of the approval alone."""
    regulator = Actor(kind="regulator", code=approval.parties[0])
    proposed = ProjectProposed(
        project_id=approval.project_id,
        area=approval.area,
        parties=list(approval.parties),
        title_zh=approval.title_zh,
        title_en=approval.title_en,
        scope=approval.scope,
        category=approval.category,
        kind=approval.kind,
        eco_civilization=approval.eco_civilization,
        proposed_by=regulator,
        proposed_at=approval.project_approved_at - timedelta(days=30),
        supersedes=approval.supersedes,
    )
    positions = [PartyPosition(party=p, position="approve") for p in approval.parties]
    common = {"project_id": approval.project_id, "outcome": "passed", "positions": positions}
    ballots = [
        BallotDecided.model_validate(
            {**common, "stage": "project_approval", "decided_at": approval.project_approved_at}
        ),
        BallotDecided.model_validate(
            {**common, "stage": "final_approval", "decided_at": approval.approved_at}
        ),
    ]
    return [proposed, *ballots, approval]


# ---------------------------------------------------------------------------------------------
# Kafka: records, topics and consumer groups


def ce(record: Any) -> dict[str, str]:
    """A Kafka record's headers as text: its CloudEvents attributes (`ce_id`, `ce_type`, …) and any
    others (the dead-letter headers)."""
    return {key: value.decode() for key, value in record.headers}


@asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    """The partitions of a declared topic."""
    [described] = await admin.describe_topics([topic])
    numbers = sorted(int(p["partition"]) for p in described["partitions"])
    if not numbers:
        raise AssertionError(f"the topic {topic} does not exist (topics are declared, never auto-created)")
    return [TopicPartition(topic, n) for n in numbers]


async def _committed_offsets(admin: AIOKafkaAdminClient, group: str, topic: str) -> dict[int, int]:
    """The offsets a consumer group committed on a topic, by partition."""
    offsets = await admin.list_consumer_group_offsets(group)
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def read_topic(
    bootstrap: str, topic: str, until: Callable[[list[Any]], bool] | None = None, *, within: float = 60.0
) -> list[Any]:
    """The records of a topic from its beginning, in order per partition: read to the topic's end as
    of the call, and on from there until `until(records)` holds, if given.

    When `until` does not hold within `within` seconds, the records read so far (a condition that
    never holds reads for that long, so that a late duplicate would be seen); when even the end is
    not reached by then, AssertionError."""
    async with _admin(bootstrap) as admin:
        partitions = await _partitions(admin, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            at_end = all([await consumer.position(tp) >= end for tp, end in ends.items()])
            if at_end and (until is None or until(records)):
                return records
            if loop.time() > deadline:
                if at_end:
                    return records
                raise AssertionError(f"timed out after {within}s reading {topic} to its end")
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str, topic: str) -> int:
    """How many records a consumer group has committed on a topic, over all its partitions."""
    async with _admin(bootstrap) as admin:
        offsets = await _committed_offsets(admin, group, topic)
    return sum(offset for offset in offsets.values() if offset > 0)


async def position_group_at_end(bootstrap: str, group: str, topic: str) -> None:
    """Start a fresh consumer group at the end of a (declared) topic, so that what other tests of the
    session sent there is not its to consume."""
    async with _admin(bootstrap) as admin:
        partitions = await _partitions(admin, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


async def consumed_to_end(bootstrap: str, group: str, topic: str) -> bool:
    """Whether a consumer group has committed everything on a topic so far, on every partition."""
    async with _admin(bootstrap) as admin:
        offsets = await _committed_offsets(admin, group, topic)
        partitions = await _partitions(admin, topic)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await reader.start()
    try:
        ends = await reader.end_offsets(partitions)
    finally:
        await reader.stop()
    return all(offsets.get(tp.partition, -1) >= end for tp, end in ends.items())


# ---------------------------------------------------------------------------------------------
# Stores


async def outboxes_empty(collection: AsyncCollection[Document]) -> bool:
    """Whether the relay has published every event stored in a collection's aggregates."""
    return await collection.count_documents({OUTBOX_COUNT: {"$gt": 0}}) == 0


async def drop_databases(mongo_url: str, *names: str) -> None:
    """Drop a test's databases."""
    cleaner: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    try:
        for name in names:
            await cleaner.drop_database(name)
    finally:
        await cleaner.close()


# ---------------------------------------------------------------------------------------------
# Services on the session's stack


class StackAddress(Protocol):
    """Where the test session's Kafka and FerretDB listen (the root conftest's `Stack`)."""

    @property
    def kafka_bootstrap(self) -> str: ...

    @property
    def mongo_url(self) -> str: ...


class Served(Protocol):
    """A service instance: what `main` wires, its HTTP app included."""

    @property
    def app(self) -> Starlette: ...


S = TypeVar("S", bound=Served)

QUICK: Mapping[str, Any] = MappingProxyType(
    {"consumer_max_attempts": 3, "retry_backoff_initial_s": 0.01, "relay_poll_interval_s": 0.2}
)
"""Settings that keep a test short: few, quick retries before a dead letter, a frequent relay scan."""


async def run_app(exits: AsyncExitStack, service: S) -> S:
    """Run a service's app inside its lifespan (runtime, consumers, relay, schedulers) until `exits`
    closes."""
    await exits.enter_async_context(service.app.router.lifespan_context(service.app))
    return service


class ServiceScenario(Generic[S]):
    """Instances of one service on the session's stack, sharing one fresh database and one fresh
    consumer group; the group starts at the end of the topic the service consumes, so that other
    tests' events there are not this test's.

    A service's tests subclass it, naming the prefixes and the topic and making an instance from
    `settings()` with `start()`; `running(stack)` gives one and stops and drops it afterwards."""

    database_prefix: ClassVar[str]
    group_prefix: ClassVar[str]
    consumes: ClassVar[str]

    def __init__(self, stack: StackAddress, exits: AsyncExitStack) -> None:
        self.stack = stack
        self.exits = exits
        self.database = f"{self.database_prefix}_{letters(10)}"
        self.group = f"{self.group_prefix}-{letters(10)}"
        self.services: list[S] = []

    @classmethod
    @asynccontextmanager
    async def running(cls, stack: StackAddress) -> AsyncIterator[Self]:
        """A prepared scenario; afterwards its instances stopped and its database dropped."""
        async with AsyncExitStack() as exits:
            made = cls(stack, exits)
            try:
                await made.prepare()
                yield made
            finally:
                await exits.aclose()
                await drop_databases(stack.mongo_url, made.database)

    async def prepare(self) -> None:
        """Declare the topics and start the group at the end of the consumed one (a subclass adds
        what it needs, closing it through `exits`)."""
        await declare_topics(self.stack.kafka_bootstrap, TOPICS.values())
        await position_group_at_end(self.stack.kafka_bootstrap, self.group, self.consumes)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """An instance's settings fields: the stack, the shared database and group, `QUICK`, and
        the test's own."""
        return {
            "kafka_bootstrap": self.stack.kafka_bootstrap,
            "mongo_url": self.stack.mongo_url,
            "mongo_database": self.database,
            "consumer_group": self.group,
            **QUICK,
            **overrides,
        }

    async def start(self, service: S) -> S:
        """Run one more instance until the scenario ends."""
        await run_app(self.exits, service)
        self.services.append(service)
        return service

    async def consumed(self) -> bool:
        """Whether the group committed everything on the consumed topic so far."""
        return await consumed_to_end(self.stack.kafka_bootstrap, self.group, self.consumes)


class ServiceProcesses:
    """Services started as their own processes for a test (as an operator runs them), each waited
    for until ready, all stopped (terminated, then killed) when the test's `with` block ends."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, command: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Start one process logging to `log` (several may start before any is waited for)."""
        with log.open("ab") as out:
            process = subprocess.Popen(list(command), env=dict(env), stdout=out, stderr=out)
        self.processes.append(process)
        return process

    @staticmethod
    def wait_ready(process: subprocess.Popen[bytes], ready: str, log: Path) -> None:
        """Return once `ready` (a URL) answers 200; fail with the end of the log when the process
        exits or is not ready within 90 s."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(ready, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:  # refused, not ready yet (503 is an HTTPError, an OSError) or timed out
                pass
            time.sleep(0.3)
        raise AssertionError(
            f"{ready} did not become ready; its log ends:\n{log.read_text(errors='replace')[-4000:]}"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
