"""The measurements: decision-to-city latency (open loop), fan-out, bulk throughput, and the baseline
and raw Kafka rates on the same broker and store. Each returns plain figures; main puts them
together."""

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from regstd.bench.cities import City
from regstd.bench.stats import Summary, rate
from regstd.cli.client import TokenBookFile
from regstd.contracts.common import TextReference
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.topics import Topic
from regstd.runtime.events import KafkaRecord, new_event, to_kafka
from regstd.runtime.idempotency import HEADER as IDEMPOTENCY_KEY
from regstd.runtime.kafka import declare_topics
from regstd.runtime.testing import approved_project

log = logging.getLogger(__name__)

CHONGQING, SICHUAN = "50", "51"
LAST_VOTER = SICHUAN
"""Every prepared project waits only for Sichuan's final approval; that vote is the decision."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Intake:
    """Project intake's HTTP API as the two chengyu regulators."""

    http: httpx.AsyncClient
    url: str
    book: TokenBookFile

    async def post(
        self, path: str, as_: str, body: dict[str, Any] | None = None, *, key: str | None = None
    ) -> httpx.Response:
        """POST as a regulator (with an Idempotency-Key when given); the response as it came."""
        headers = {"Authorization": f"Bearer {self.book.token(as_)}"}
        if key is not None:
            headers[IDEMPOTENCY_KEY] = key
        return await self.http.post(self.url + path, headers=headers, json=body)

    async def ok(self, path: str, as_: str, body: dict[str, Any] | None = None, *, attempts: int = 5) -> Any:
        """POST and insist on success. A 503 (the store or the broker did not answer in time, as on a
        machine this busy) is retried after its `Retry-After` with the same Idempotency-Key, so the
        write takes effect once however often it is sent."""
        key = uuid.uuid4().hex
        for attempt in range(1, attempts + 1):
            response = await self.post(path, as_, body, key=key)
            if response.status_code == 503 and attempt < attempts:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code >= 300:
                raise RuntimeError(f"POST {path} as {as_}: {response.status_code} {response.text}")
            return response.json()
        raise AssertionError("unreachable: the last attempt returns or raises")


# -- preparation (not measured) -------------------------------------------------------------------


async def prepare_projects(
    intake: Intake, count: int, progress: Progress, concurrency: int = 16
) -> list[str]:
    """Take `count` chengyu projects to the point where only Sichuan's final approval is missing."""
    run = uuid.uuid4().hex[:6]
    limit = asyncio.Semaphore(concurrency)
    # A proposal's overlap check reads every project so far: more than a few at once only make
    # each slower (and time out in the store on a busy machine); the other steps are cheap.
    proposing = asyncio.Semaphore(max(1, concurrency // 4))
    done = 0

    async def one(i: int) -> str:
        nonlocal done
        async with limit:
            title = f"川渝地区基准测试{run}第{i}号规范"
            async with proposing:
                project = await intake.ok(
                    "/projects",
                    CHONGQING,
                    {
                        "area": "chengyu",
                        "parties": [CHONGQING, SICHUAN],
                        "title_zh": title,
                        "scope": f"规定了{title}的技术要求。编号{run}-{i}。",
                        "category": "transport",
                        "kind": "recommended",
                        "proposing_organisations": ["基准测试"],
                    },
                )
            pid: str = project["project_id"]
            for party in (CHONGQING, SICHUAN):
                await intake.ok(
                    f"/projects/{pid}/ballots/project_approval/positions",
                    party,
                    {"party": party, "position": "approve"},
                )
            await intake.ok(f"/projects/{pid}/drafting", CHONGQING)
            await intake.ok(f"/projects/{pid}/public-comment", CHONGQING)
            await intake.ok(f"/projects/{pid}/public-comment/close", SICHUAN)
            for party in (CHONGQING, SICHUAN):
                await intake.ok(
                    f"/projects/{pid}/review-conclusions",
                    party,
                    {"party": party, "conclusion": "同意报批", "passed": True},
                )
            text = {
                "location": f"https://bench.regstd.example/{pid}.pdf",
                "sha256": hashlib.sha256(pid.encode()).hexdigest(),
            }
            await intake.ok(f"/projects/{pid}/submission", CHONGQING, {"text": text})
            await intake.ok(
                f"/projects/{pid}/ballots/final_approval/positions",
                CHONGQING,
                {"party": CHONGQING, "position": "approve"},
            )
            done += 1
            if done % 100 == 0:
                progress(f"prepared {done}/{count} projects")
            return pid

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def final_vote(intake: Intake, project_id: str) -> httpx.Response:
    """The last party's final approval: the decision."""
    return await intake.post(
        f"/projects/{project_id}/ballots/final_approval/positions",
        LAST_VOTER,
        {"party": LAST_VOTER, "position": "approve"},
    )


async def wait_until(check: Callable[[], bool], within_s: float, every_s: float = 0.05) -> bool:
    """Poll until the check holds or the time is up; whether it held."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every_s)
    return True


# -- 1. decision-to-city latency, open loop -------------------------------------------------------


async def latency(intake: Intake, city: City, projects: list[str], offered_per_s: float) -> dict[str, Any]:
    """Send the decisions on a fixed schedule whatever the responses (open loop); latency runs from
    each 2xx response to the StandardPublished arriving at the city."""
    accepted: dict[str, float] = {}
    response_s: list[float] = []
    failures: list[str] = []

    async def decide(project_id: str, scheduled: float) -> None:
        try:
            response = await final_vote(intake, project_id)
        except httpx.HTTPError as error:
            failures.append(f"{project_id}: {error!r}")
            return
        now = time.monotonic()
        response_s.append(now - scheduled)
        if response.status_code < 300:
            accepted[project_id] = now
        else:
            failures.append(f"{project_id}: {response.status_code} {response.text[:200]}")

    start = time.monotonic() + 0.2
    sends: list[asyncio.Task[None]] = []
    lateness: list[float] = []
    for i, project_id in enumerate(projects):
        scheduled = start + i / offered_per_s
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness.append(max(0.0, time.monotonic() - scheduled))
        sends.append(asyncio.create_task(decide(project_id, scheduled)))
    await asyncio.gather(*sends)
    send_window = time.monotonic() - start
    arrived = await wait_until(lambda: all(p in city.arrivals for p in accepted), within_s=60)
    latencies = [city.arrivals[p].monotonic - t for p, t in accepted.items() if p in city.arrivals]
    # When the slowest decisions were answered, from the first send: a cluster points at a burst of
    # other work (a periodic scan, a checkpoint), a spread at load.
    slowest = sorted(
        ((city.arrivals[p].monotonic - t, t - start) for p, t in accepted.items() if p in city.arrivals),
        reverse=True,
    )[: max(1, len(latencies) // 100)]
    return {
        "offered_per_s": offered_per_s,
        "decisions": len(projects),
        "accepted": len(accepted),
        "failures": failures[:10],
        "failure_count": len(failures),
        "arrived": len(latencies),
        "all_arrived": arrived,
        "send_window_s": send_window,
        "max_send_lateness_ms": max(lateness, default=0.0) * 1000,
        "decision_to_city": Summary.of_seconds(latencies).to_json(),
        "http_response": Summary.of_seconds(response_s).to_json(),
        "slowest_1pct": [{"at_s": round(at, 2), "ms": round(took * 1000, 1)} for took, at in slowest],
    }


# -- 4. fan-out to many cities ----------------------------------------------------------------------


async def fanout(
    intake: Intake, bootstrap: str, projects: list[str], cities: int, progress: Progress
) -> dict[str, Any]:
    """Publish one standard at a time to `cities` consumer groups; how long until all have each."""
    run = uuid.uuid4().hex[:6]
    groups = [City(bootstrap, f"bench-fanout-{run}-{i:02d}") for i in range(cities)]
    await asyncio.gather(*(g.start() for g in groups))
    progress(f"{cities} city consumer groups assigned")
    from_record: list[float] = []
    from_decision: list[float] = []
    spread: list[float] = []
    incomplete = 0
    try:
        for project_id in projects:
            try:
                response = await final_vote(intake, project_id)
            except httpx.HTTPError as error:
                progress(f"fan-out: the final vote on {project_id} failed: {error!r}")
                incomplete += 1
                continue
            accepted = time.monotonic()
            if response.status_code >= 300:
                progress(f"fan-out: final vote on {project_id}: {response.status_code} {response.text}")
                incomplete += 1
                continue
            if not await wait_until(_everywhere(groups, project_id), 30, 0.005):
                incomplete += 1
                continue
            arrivals = [g.arrivals[project_id] for g in groups]
            last = max(arrivals, key=lambda a: a.monotonic)
            first = min(arrivals, key=lambda a: a.monotonic)
            from_record.append(last.wall - last.record_wall)
            from_decision.append(last.monotonic - accepted)
            spread.append(last.monotonic - first.monotonic)
            await asyncio.sleep(0.3)
    finally:
        await asyncio.gather(*(g.stop() for g in groups))
    return {
        "cities": cities,
        "publications": len(projects),
        "incomplete": incomplete,
        "published_to_all_cities": Summary.of_seconds(from_record).to_json(),
        "decision_to_all_cities": Summary.of_seconds(from_decision).to_json(),
        "first_to_last_city": Summary.of_seconds(spread).to_json(),
    }


def _everywhere(groups: list[City], project_id: str) -> Callable[[], bool]:
    return lambda: all(project_id in g.arrivals for g in groups)


# -- 2. bulk throughput ------------------------------------------------------------------------------


def approval_events(count: int) -> list[ProjectFinallyApproved]:
    """`count` final approvals of chengyu projects, as intake would send them."""
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    events = []
    for i in range(count):
        project_id = f"bulk-{run}-{i:06d}"
        events.append(
            ProjectFinallyApproved(
                project_id=project_id,
                area="chengyu",
                parties=[CHONGQING, SICHUAN],
                title_zh=f"川渝地区目录标准{run}第{i}号",
                scope="规定了目录加载基准的技术要求。",
                category="transport",
                kind="recommended",
                text=TextReference(
                    location=f"https://texts.bench.example/{project_id}.pdf",
                    sha256=hashlib.sha256(project_id.encode()).hexdigest(),
                ),
                project_approved_at=now,
                approved_at=now,
            )
        )
    return events


def approvals(count: int, topic: str | None = None) -> list[KafkaRecord]:
    """`count` ProjectFinallyApproved events in the runtime's encoding (the baseline's input)."""
    records = [to_kafka(new_event(event)) for event in approval_events(count)]
    if topic is not None:
        records = [KafkaRecord(topic, r.key, r.value, r.headers) for r in records]
    return records


def catalogue(count: int) -> list[KafkaRecord]:
    """`count` projects as intake puts them on its topic: each project's proposal, its passed
    ballots and its final approval, in that order on the project's key (publication honours an
    approval only after them, decision 0023)."""
    return [to_kafka(new_event(e)) for a in approval_events(count) for e in approved_project(a)]


def idempotent_producer(bootstrap: str) -> AIOKafkaProducer:
    """The same producer guarantees as the runtime's: idempotent, acks=all."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5)


async def produce_all(producer: AIOKafkaProducer, records: list[KafkaRecord]) -> None:
    """Send every record and wait for every acknowledgement (topic metadata is fetched first, so
    the timing covers the records, not the client's first look-up)."""
    for topic in {r.topic for r in records}:
        await producer.partitions_for(topic)
    futures = [
        await producer.send(
            r.topic, r.value, key=r.key, headers=[(k, v.encode()) for k, v in r.headers.items()]
        )
        for r in records
    ]
    await asyncio.gather(*futures)


async def bulk(
    bootstrap: str,
    city: City,
    records: list[KafkaRecord],
    progress: Progress,
    during: Callable[[float], Coroutine[Any, Any, None]] | None = None,
    longest_s: float | None = None,
) -> dict[str, Any]:
    """Put a catalogue's projects (proposal, ballots, approval each, `catalogue`) on intake's topic at
    once; standards/s until the city has all."""
    ids = {r.key.decode() for r in records}
    producer = idempotent_producer(bootstrap)
    await producer.start()
    began = time.monotonic()
    try:
        await produce_all(producer, records)
    finally:
        await producer.stop()
    produced = time.monotonic() - began
    progress(
        f"{len(records)} events of {len(ids)} projects on the topic in {produced:.1f} s; waiting for the city"
    )
    profiling = asyncio.create_task(during(began)) if during is not None else None
    timeline: list[tuple[float, int]] = []
    within = max(120.0, len(records) / 60)
    if longest_s is not None:  # a bounded run: the rate over the window is then an upper bound
        within = min(within, longest_s)
    deadline = began + within
    count = 0
    while time.monotonic() < deadline:
        count = city.has(ids)
        timeline.append((time.monotonic() - began, count))
        if count == len(ids):
            break
        if len(timeline) % 10 == 0:
            progress(f"city has {count}/{len(ids)} after {time.monotonic() - began:.0f} s")
        await asyncio.sleep(0.5)
    complete = count == len(ids)
    # Complete: until the last arrival. Not complete: the whole window, so the rate is an upper bound.
    last = max((city.arrivals[p].monotonic for p in ids if p in city.arrivals), default=began)
    elapsed = last - began if complete else within
    if profiling is not None:
        await profiling
    return {
        "standards": len(ids),
        "arrived": count,
        "complete": complete,
        "produce_s": produced,
        "until_last_city_s": elapsed if complete else None,
        "standards_per_s": rate(count, elapsed),
        "timeline": [(round(t, 1), n) for t, n in timeline[:: max(1, len(timeline) // 60)]],
        "timed_out_after_s": None if complete else within,
    }


# -- 3. baseline and raw Kafka ------------------------------------------------------------------------

BASELINE_IN = Topic("regstd.bench.baseline-in.v1", owner="bench", partitions=6)
BASELINE_OUT = Topic("regstd.bench.baseline-out.v1", owner="bench", partitions=6)


async def raw_kafka(bootstrap: str, count: int) -> tuple[dict[str, Any], list[KafkaRecord]]:
    """Kafka alone: produce `count` approval-sized records (idempotent, acks=all), then read them back
    with a plain consumer. They are the baseline's input."""
    await declare_topics(bootstrap, [BASELINE_IN, BASELINE_OUT])
    records = approvals(count, topic=BASELINE_IN.name)
    producer = idempotent_producer(bootstrap)
    await producer.start()
    began = time.monotonic()
    try:
        await produce_all(producer, records)
    finally:
        await producer.stop()
    produce_s = time.monotonic() - began
    async with from_the_beginning(bootstrap, BASELINE_IN) as (consumer, ends):
        began = time.monotonic()
        read = 0
        while read < sum(ends.values()):
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            read += sum(len(b) for b in batches.values())
        consume_s = time.monotonic() - began
    figures = {
        "records": count,
        "record_bytes": len(records[0].value) if records else 0,
        "produce_per_s": rate(count, produce_s),
        "consume_per_s": rate(read, consume_s),
    }
    return figures, records


@contextlib.asynccontextmanager
async def from_the_beginning(
    bootstrap: str, topic: Topic
) -> AsyncIterator[tuple[AIOKafkaConsumer, dict[TopicPartition, int]]]:
    """A consumer of no group, assigned every partition of the topic at its beginning, and each
    partition's end offset as it was when it started."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        yield consumer, await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def _loop_ends(
    bootstrap: str, mongo_url: str, name: str
) -> AsyncIterator[tuple[AIOKafkaConsumer, AIOKafkaProducer, AsyncCollection[dict[str, Any]]]]:
    """A baseline loop's two ends, its own consumer group on the input topic, the idempotent
    producer and a database of its own, started, and stopped and dropped afterwards."""
    run = uuid.uuid4().hex[:6]
    consumer = AIOKafkaConsumer(
        BASELINE_IN.name,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{name}-{run}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = idempotent_producer(bootstrap)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    database = f"bench_{name}_{run}"
    await consumer.start()
    await producer.start()
    try:
        yield consumer, producer, mongo[database]["standards"]
    finally:
        await consumer.stop()
        await producer.stop()
        await mongo.drop_database(database)
        await mongo.close()


async def baseline(bootstrap: str, mongo_url: str, count: int) -> dict[str, Any]:
    """The plain loop with the pipeline's guarantees: consume one record, insert one document
    (acknowledged write concern, the default), produce it on with the idempotent acks=all producer
    and await the ack, then commit the record's offset. One record at a time, as the services do."""
    async with _loop_ends(bootstrap, mongo_url, "baseline") as (consumer, producer, documents):
        processed = 0
        began = time.monotonic()
        async for record in consumer:
            if processed == 0:
                began = time.monotonic()  # from the first record: joining the group is not the loop
            await documents.insert_one(
                {"_id": record.key.decode(), "data": json.loads(record.value), "offset": record.offset}
            )
            ack = await producer.send(
                BASELINE_OUT.name, record.value, key=record.key, headers=list(record.headers)
            )
            await ack
            await consumer.commit({TopicPartition(record.topic, record.partition): record.offset + 1})
            processed += 1
            if processed >= count:
                break
        elapsed = time.monotonic() - began
    return {"records": processed, "seconds": elapsed, "per_s": rate(processed, elapsed)}


BATCH_RECORDS = 500


async def batched_baseline(bootstrap: str, mongo_url: str, count: int) -> dict[str, Any]:
    """The strongest simple loop with the same guarantees: take what one `getmany` returns (up to
    500 records), store them in one unordered `bulk_write` of upserts keyed by the event id (a
    redelivered record finds its document: no second effect), produce them all on with the
    idempotent acks=all producer and await every ack, then commit the batch's offsets once. The
    effect is stored before the commit, as in the one-at-a-time loop."""
    async with _loop_ends(bootstrap, mongo_url, "batched") as (consumer, producer, documents):
        processed, batches = 0, 0
        began = time.monotonic()
        while processed < count:
            fetched = await consumer.getmany(timeout_ms=500, max_records=BATCH_RECORDS)
            records = [r for partition in fetched.values() for r in partition]
            if not records:
                continue
            if processed == 0:
                began = time.monotonic()  # from the first batch: joining the group is not the loop
            await documents.bulk_write(
                [
                    UpdateOne(
                        {"_id": _event_id(r.headers)},
                        {"$set": {"key": r.key.decode(), "data": json.loads(r.value), "offset": r.offset}},
                        upsert=True,
                    )
                    for r in records
                ],
                ordered=False,
            )
            acks = [
                await producer.send(BASELINE_OUT.name, r.value, key=r.key, headers=list(r.headers))
                for r in records
            ]
            await asyncio.gather(*acks)
            await consumer.commit(
                {tp: partition[-1].offset + 1 for tp, partition in fetched.items() if partition}
            )
            processed += len(records)
            batches += 1
        elapsed = time.monotonic() - began
    return {"records": processed, "batches": batches, "seconds": elapsed, "per_s": rate(processed, elapsed)}


def _event_id(headers: Sequence[tuple[str, bytes]]) -> str:
    """The record's CloudEvents id (`ce_id`): the key of its effect."""
    return next(value.decode() for name, value in headers if name == "ce_id")
