"""`make chaos`: the fault suite. Faults are injected into the real services and the real stack while
joint approvals are driven through intake's HTTP API, and each scenario is judged by what reached
the standards topic and the publication service's number allocations.

Per scenario, `count` chengyu projects are first taken (not under fault) to the point where only
Sichuan's final approval is missing; then the deciding votes are sent at a steady pace while the fault
happens (a kill -9 of a service, of the broker, of FerretDB or of PostgreSQL, followed by the restart
an operator or a supervisor would do; a second publication instance; a replay of publication's
consumer group from the run's earliest offset; poison records with real headers). A vote that gets
no answer, or a 5xx, is sent again until it is accepted (a 409 after an unanswered attempt means the
first was stored). Then the scenario waits for every accepted approval's StandardPublished and reports:

- sent: deciding votes sent; accepted: those stored;
- published: accepted projects with a StandardPublished; lost: accepted but never published;
- duplicated: projects published under two numbers, or numbers given to two projects (a repeat of
  the same CloudEvent is harmless and not counted);
- gaps: numbers missing between the lowest and the highest allocated in the block;
- catch-up: seconds from the end of the fault until the last accepted approval was published;
- poison not dead-lettered: poison records not found on `<topic>.dlq`.

Any loss, duplicate, gap or missing dead letter fails the suite (exit status 1). It lives in the
bench package because it drives the system exactly as `make bench` does (services as processes,
`regstd local up`'s settings, the bench's HTTP driver); `bench/tests/test_chaos_infra.py` runs the
short version on the test session's stack.
"""

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import AsyncMongoClient

from regstd.bench.cities import City
from regstd.bench.phases import Intake, final_vote, prepare_projects
from regstd.bench.system import System, free_port
from regstd.cli.client import TokenBookFile
from regstd.cli.local import DEMO_PUBLIC_COMMENT_MIN_DAYS, SERVICES
from regstd.contracts import TOPICS
from regstd.contracts.reference import load_reference
from regstd.contracts.topics import INTAKE_PROJECTS, PUBLICATION_STANDARDS, Topic
from regstd.runtime.auth import write_development_tokens
from regstd.runtime.events import InvalidEvent, from_kafka
from regstd.runtime.kafka import declare_topics
from regstd.runtime.testing import read_topic

REPO = Path(__file__).resolve().parents[4]
ENTRY_POINTS = {s.name: s.entry_point for s in SERVICES}
GROUPS = {"project-intake": "project-intake", "publication": "publication"}
POISON_MARK = "x-chaos-poison"
MAX_VALUE_BYTES = 65_536
"""Publication's record size limit in the suite: small enough that an oversized poison record still
fits the broker's own limit (1 MB)."""
AREA = "chengyu"

Say = Callable[[str], None]


@dataclass
class Instance:
    """One service process of the suite."""

    name: str
    service: str
    port: int
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, cwd: Path) -> None:
        """Start the process (detached, its own process group), logging to its file."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        bin_dir = Path(sys.executable).parent
        with open(self.log, "ab") as out:
            out.write(f"--- chaos start {time.strftime('%H:%M:%S')}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [str(bin_dir / ENTRY_POINTS[self.service])],
                env=self.env | {"REGSTD_HTTP_PORT": str(self.port)},
                stdout=out,
                stderr=out,
                cwd=cwd,
                start_new_session=True,
            )

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal this instance's process group (kill -9 by default) and reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    async def ready(self, within_s: float = 120.0) -> None:
        """Wait until /health/ready answers 200; fail with the end of the log."""
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                    tail = self.log.read_text(errors="replace")[-3000:]
                    raise ChaosError(f"{self.name} did not become ready; its log ends:\n{tail}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/health/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.2)


class ChaosError(RuntimeError):
    """The suite could not run (not a finding: findings are in the outcomes)."""


@dataclass
class Outcome:
    """What one scenario measured."""

    scenario: str
    sent: int = 0
    accepted: int = 0
    published: int = 0
    lost: int = 0
    duplicated: int = 0
    gaps: int = 0
    catch_up_s: float = 0.0
    poison_sent: int = 0
    poison_not_dead_lettered: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """No loss, no duplicate, no gap, every poison record dead-lettered, every vote stored."""
        faults = (self.lost, self.duplicated, self.gaps, self.poison_not_dead_lettered)
        return not any(faults) and self.accepted == self.sent and self.error is None

    def line(self) -> str:
        """One line of the report."""
        poison = ""
        if self.poison_sent:
            poison = f" poison={self.poison_sent} not-in-dlq={self.poison_not_dead_lettered}"
        return (
            f"{'PASS' if self.ok else 'FAIL'} {self.scenario:<26} sent={self.sent} accepted={self.accepted} "
            f"published={self.published} lost={self.lost} duplicated={self.duplicated} gaps={self.gaps} "
            f"catch-up={self.catch_up_s:.1f}s{poison}"
            + "".join(f"\n     {n}" for n in [*self.notes, *([self.error] if self.error else [])])
        )


class Chaos:
    """The services of one suite run on a stack, and the faults and measures over them."""

    def __init__(
        self, kafka_bootstrap: str, mongo_url: str, data_dir: Path, *, system: System | None = None
    ) -> None:
        """`system`: the bench's System that started the stack (full suite), for the infrastructure
        faults; without it (the test on the session's stack) only service faults are possible."""
        self.kafka_bootstrap = kafka_bootstrap
        self.mongo_url = mongo_url
        self.data_dir = data_dir
        self.system = system
        self.run = uuid.uuid4().hex[:6]
        self.book_path = data_dir / "chaos-tokens.json"
        self.instances: dict[str, Instance] = {}
        self.say: Say = print
        self.databases = {s: f"chaos_{self.run}_{s.replace('-', '_')}" for s in ENTRY_POINTS}
        self.groups = {s: f"chaos-{self.run}-{g}" for s, g in GROUPS.items()}
        self._starts: dict[TopicPartition, int] = {}
        self._ports = {s: free_port() for s in ENTRY_POINTS}
        self._ports["publication-2"] = free_port()

    # -- services --------------------------------------------------------------------------------

    def env(self, service: str) -> dict[str, str]:
        """A service's environment: this run's databases and consumer groups on the given stack."""
        env = dict(
            os.environ,
            REGSTD_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            REGSTD_MONGO_URL=self.mongo_url,
            REGSTD_TOKENS_FILE=str(self.book_path),
            REGSTD_PUBLIC_COMMENT_MIN_DAYS=DEMO_PUBLIC_COMMENT_MIN_DAYS,
            REGSTD_SPANS_DIR=str(self.data_dir / "spans"),
            REGSTD_MONGO_DATABASE=self.databases[service],
            REGSTD_CONSUMER_MAX_VALUE_BYTES=str(MAX_VALUE_BYTES),
            OTEL_SDK_DISABLED="true",
        )
        if service in self.groups:
            env["REGSTD_CONSUMER_GROUP"] = self.groups[service]
        return env

    def instance(self, name: str, service: str, **extra_env: str) -> Instance:
        """Declare an instance of a service (started by `start`)."""
        port = self._ports.get(name) or free_port()
        instance = Instance(
            name, service, port, self.data_dir / "logs" / f"{name}.log", self.env(service) | extra_env
        )
        self.instances[name] = instance
        return instance

    async def start(self, *names: str) -> None:
        """Start instances and wait until all are ready."""
        for name in names:
            self.instances[name].start(self.data_dir)
        await asyncio.gather(*(self.instances[n].ready() for n in names))

    async def prepare(self) -> None:
        """The token book, and this run's consumer groups positioned at the run's earliest offsets:
        where the replay rewinds to, so that on a shared stack nothing sent before the run is
        theirs to consume (on the suite's own stack, the topics' beginnings)."""
        endpoints = {"kafka": self.kafka_bootstrap, "mongo": self.mongo_url}
        endpoints |= {s: f"http://127.0.0.1:{self._ports[s]}" for s in ENTRY_POINTS}
        write_development_tokens(self.book_path, load_reference(), endpoints)
        await declare_topics(self.kafka_bootstrap, TOPICS.values())  # as the services do at start
        self._starts = await _ends(self.kafka_bootstrap, INTAKE_PROJECTS, PUBLICATION_STANDARDS)
        await _commit(self.kafka_bootstrap, self.groups["publication"], self._starts, INTAKE_PROJECTS.name)
        intake_group = self.groups["project-intake"]
        await _commit(self.kafka_bootstrap, intake_group, self._starts, PUBLICATION_STANDARDS.name)

    async def start_system(self) -> None:
        """`prepare`, then one instance of every service."""
        await self.prepare()
        for service in ENTRY_POINTS:
            self.instance(service, service)
        await self.start(*ENTRY_POINTS)

    def stop_all(self) -> None:
        """SIGTERM every instance (SIGKILL after 30 s)."""
        for instance in self.instances.values():
            instance.kill(signal.SIGTERM)

    # -- faults ----------------------------------------------------------------------------------

    async def kill_and_restart(self, name: str, down_s: float = 2.0) -> None:
        """kill -9 an instance, leave it dead a moment, start it again."""
        await asyncio.to_thread(self.instances[name].kill)
        await asyncio.sleep(down_s)
        await self.start(name)

    async def kill_infra_and_restart(self, component: str, down_s: float = 2.0) -> None:
        """kill -9 Kafka, FerretDB or PostgreSQL (by the pid the stack recorded), then bring the
        stack up again as an operator would (`stack.py up` on the same ports); wait for the services."""
        if self.system is None:
            raise ChaosError("infrastructure faults need the suite's own stack")
        state = json.loads((self.data_dir / "stack.json").read_text())
        pid = state[component]["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.system.restart_infra)
        for instance in self.instances.values():
            if instance.process is not None and instance.process.poll() is None:
                await instance.ready(within_s=180)

    async def replay(self) -> None:
        """Stop publication, rewind its group to the run's earliest offsets, start it again."""
        publication = [n for n, i in self.instances.items() if i.service == "publication" and i.process]
        for name in publication:
            await asyncio.to_thread(self.instances[name].kill, signal.SIGTERM)
        await _commit(self.kafka_bootstrap, self.groups["publication"], self._starts, INTAKE_PROJECTS.name)
        await self.start(*publication)

    async def poison(self) -> list[str]:
        """Send poison records with real headers to intake's topic; their marks."""
        good = {
            "content-type": "application/json",
            "ce_specversion": "1.0",
            "ce_id": "",
            "ce_source": "/regstd/project-intake",
            "ce_type": "cn.regstd.intake.project.finally-approved.v1",
            "ce_subject": "prj-poison",
            "ce_time": "2026-12-01T00:00:00Z",
        }
        cases: dict[str, tuple[bytes, bytes, dict[str, str]]] = {
            "bad-json": (b"prj-poison", b'{"project_id": "prj-poison", ', good),
            "no-ce-type": (b"prj-poison", b"{}", {k: v for k, v in good.items() if k != "ce_type"}),
            "wrong-ce-type": (b"prj-poison", b"{}", good | {"ce_type": "cn.regstd.nobody.nothing.v1"}),
            "oversized": (b"prj-poison", b'{"x": "' + b"a" * (MAX_VALUE_BYTES * 2) + b'"}', good),
            "key-not-subject": (b"prj-other", b"{}", good),
        }
        marks = []
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka_bootstrap, acks="all", max_request_size=1_000_000
        )
        await producer.start()
        try:
            for case, (key, value, headers) in cases.items():
                mark = f"{self.run}-{case}-{uuid.uuid4().hex[:6]}"
                sent = headers | {"ce_id": mark, POISON_MARK: mark}
                await producer.send_and_wait(
                    INTAKE_PROJECTS.name, value, key=key, headers=[(k, v.encode()) for k, v in sent.items()]
                )
                marks.append(mark)
        finally:
            await producer.stop()
        return marks

    # -- a scenario ------------------------------------------------------------------------------

    async def scenario(
        self, name: str, count: int, fault: Callable[[], Awaitable[Any]] | None, *, poison: bool = False
    ) -> Outcome:
        """Prepare `count` projects, send their deciding votes while `fault` runs, and measure.

        A scenario that cannot run to its end (the preparation refused, a service that does not come
        back) is a failed outcome naming the error, and the suite goes on with the next."""
        outcome = Outcome(name)
        try:
            await self._scenario(outcome, count, fault, poison)
        except Exception as error:
            outcome.error = f"the scenario could not run to its end: {error!r}"[:500]
        self.say(outcome.line())
        return outcome

    async def _scenario(
        self, outcome: Outcome, count: int, fault: Callable[[], Awaitable[Any]] | None, poison: bool
    ) -> None:
        name = outcome.scenario
        book = TokenBookFile.load(self.book_path)
        city = City(self.kafka_bootstrap, f"chaos-{self.run}-{name}")
        await city.start()
        limits = httpx.Limits(max_connections=16)
        try:
            # Generous: under a fault on two shared cores, a request may wait long for the store.
            async with httpx.AsyncClient(timeout=60.0, limits=limits) as http:
                intake = Intake(http, self.instances["project-intake"].url, book)
                projects = await prepare_projects(intake, count, self.say)
                self.say(f"{name}: {count} projects prepared; deciding votes go out with the fault")
                voting = asyncio.create_task(self._decide(intake, projects, outcome))
                marks: list[str] = []
                await asyncio.sleep(min(2.0, count / 20))  # the fault strikes while votes go out
                if poison:
                    marks = await self.poison()
                if fault is not None:
                    await fault()
                fault_over = time.monotonic()
                accepted = await voting
            arrived = await _wait_published(city, accepted, within_s=180)
            if arrived:
                outcome.catch_up_s = max(0.0, max(city.arrivals[p].monotonic for p in arrived) - fault_over)
            # The whole topic is the judge: a city that lost its place in a broker crash is not a loss.
            on_topic, outcome.duplicated, outcome.gaps = await self._numbering(set(projects), outcome.notes)
            published = [p for p in accepted if p in on_topic or p in city.arrivals]
            outcome.published = len(published)
            outcome.lost = len(accepted) - len(published)
            if poison:
                outcome.poison_sent = len(marks)
                missing = await _not_dead_lettered(self.kafka_bootstrap, marks)
                outcome.poison_not_dead_lettered = len(missing)
                outcome.notes += [f"not in {INTAKE_PROJECTS.dead_letter}: {m}" for m in missing]
        finally:
            await city.stop()
        if outcome.lost:
            lost = sorted(set(accepted) - set(published))[:5]
            outcome.notes.append(f"lost, e.g.: {', '.join(lost)}")

    async def _decide(self, intake: Intake, projects: list[str], outcome: Outcome) -> list[str]:
        """Send the deciding votes at a steady pace, each until it is stored; the projects stored."""
        accepted: list[str] = []

        async def one(project_id: str, delay: float) -> None:
            await asyncio.sleep(delay)
            outcome.sent += 1
            unanswered = False
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                try:
                    response = await final_vote(intake, project_id)
                except httpx.HTTPError:
                    unanswered = True
                else:
                    if response.status_code < 300 or (response.status_code == 409 and unanswered):
                        accepted.append(project_id)
                        outcome.accepted += 1
                        return
                    if response.status_code < 500:
                        outcome.notes.append(f"{project_id}: {response.status_code} {response.text[:200]}")
                        return
                    unanswered = True
                await asyncio.sleep(0.5)
            outcome.notes.append(f"{project_id}: no vote stored within 240 s")

        pace = 8.0  # votes per second: 100 votes span a fault and its recovery
        await asyncio.gather(*(one(p, i / pace) for i, p in enumerate(projects)))
        return accepted

    async def _numbering(self, projects: set[str], notes: list[str]) -> tuple[set[str], int, int]:
        """These projects published on the topic (from its beginning), how many were published twice,
        and the gaps in publication's allocations of the block."""
        records = await read_topic(self.kafka_bootstrap, PUBLICATION_STANDARDS.name, within=60)
        events: dict[str, dict[str, Any]] = {}  # ce_id -> data, a repeated CloudEvent once
        for record in records:
            try:
                event = from_kafka(record.key, record.value, record.headers)
            except InvalidEvent:
                continue
            if event.data.get("project_id") in projects and event.type.endswith("standard.published.v1"):
                events[event.id] = event.data
        by_project: dict[str, set[int]] = {}
        by_number: dict[int, set[str]] = {}
        for data in events.values():
            by_project.setdefault(data["project_id"], set()).add(data["sequence"])
            by_number.setdefault(data["sequence"], set()).add(data["project_id"])
        twice = [p for p, s in by_project.items() if len(s) > 1]
        twice += [str(n) for n, p in by_number.items() if len(p) > 1]
        if twice:
            notes.append(f"published twice: {', '.join(twice[:5])}")
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.mongo_url)
        try:
            allocations = client[self.databases["publication"]]["allocations"]
            found = allocations.find({"area": AREA}, {"sequence": True})
            numbers = sorted([d["sequence"] async for d in found])
        finally:
            await client.close()
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers)) if numbers else []
        if missing:
            notes.append(f"numbers never allocated in {AREA}: {missing[:10]}")
        return set(by_project), len(twice), len(missing)


# -- the suites -------------------------------------------------------------------------------------


async def short_suite(chaos: Chaos, count: int = 20) -> list[Outcome]:
    """One kill, one poison, one replay: what `make test` runs."""
    return [
        await chaos.scenario("kill -9 publication", count, lambda: chaos.kill_and_restart("publication")),
        await chaos.scenario("poison records", count, None, poison=True),
        await chaos.scenario("replay from earliest", count, chaos.replay),
    ]


async def full_suite(chaos: Chaos, count: int = 100) -> list[Outcome]:
    """Every fault of issue 14, one scenario each."""
    outcomes = []
    for service in ("project-intake", "publication", "harmonization"):
        kill = functools.partial(chaos.kill_and_restart, service)
        outcomes.append(await chaos.scenario(f"kill -9 {service}", count, kill))
    for component, label in (("kafka", "Kafka broker"), ("mongo", "FerretDB"), ("postgres", "PostgreSQL")):
        kill = functools.partial(chaos.kill_infra_and_restart, component)
        outcomes.append(await chaos.scenario(f"kill -9 {label}", count, kill))
    chaos.instance("publication-2", "publication")
    await chaos.start("publication-2")
    outcomes.append(
        await chaos.scenario(
            "two publication instances", count, lambda: chaos.kill_and_restart("publication-2")
        )
    )
    outcomes.append(await chaos.scenario("replay from earliest", count, chaos.replay))
    outcomes.append(await chaos.scenario("poison records", count, None, poison=True))
    return outcomes


def report(outcomes: list[Outcome], say: Say = print) -> bool:
    """Print the table; whether every scenario passed."""
    say("")
    say("scenario                      result")
    for outcome in outcomes:
        say(outcome.line())
    passed = all(o.ok for o in outcomes)
    failed = "FAILED: a loss, duplicate, gap, refused vote or poison not dead-lettered above"
    say("\nall scenarios passed" if passed else f"\n{failed}")
    return passed


def main() -> None:
    """`make chaos`: own stack, the full suite (CHAOS_APPROVALS per scenario, default 100)."""
    count = int(os.environ.get("CHAOS_APPROVALS", "100"))
    # The suite's own Kafka clients complain at every broker kill; the faults are intended, the
    # outcome lines say what matters (the services' own logs are kept when a scenario fails).
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="regstd-chaos-") as tmp:
        data_dir = Path(tmp)
        system = System(REPO, data_dir)
        system.start_infra()
        chaos = Chaos(system.kafka_bootstrap, system.mongo_url, data_dir, system=system)
        chaos.say = say = functools.partial(print, flush=True)  # progress as it happens, also piped
        passed = False
        try:
            outcomes = asyncio.run(_run_full(chaos, count))
            passed = report(outcomes, say)
        finally:
            chaos.stop_all()
            if not passed:
                keep = REPO / "var" / "chaos-logs"
                keep.mkdir(parents=True, exist_ok=True)
                for log in (data_dir / "logs").glob("*.log"):
                    (keep / log.name).write_bytes(log.read_bytes())
                print(f"service logs kept in {keep}")
            system.stop_infra()
    sys.exit(0 if passed else 1)


async def _run_full(chaos: Chaos, count: int) -> list[Outcome]:
    await chaos.start_system()
    return await full_suite(chaos, count)


# -- Kafka and reading back -------------------------------------------------------------------------


async def _ends(bootstrap: str, *topics: Topic) -> dict[TopicPartition, int]:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await reader.start()
    try:
        partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        return dict(await reader.end_offsets(partitions))
    finally:
        await reader.stop()


async def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int], topic: str) -> None:
    """Set a (memberless) group's positions on a topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        mine = {tp: o for tp, o in offsets.items() if tp.topic == topic}
        consumer.assign(list(mine))
        await consumer.commit(mine)
    finally:
        await consumer.stop()


async def _wait_published(city: City, accepted: list[str], within_s: float) -> list[str]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and city.has(set(accepted)) < len(accepted):  # noqa: ASYNC110
        await asyncio.sleep(0.2)  # the city's consumer notes arrivals; polling it is enough here
    return [p for p in accepted if p in city.arrivals]


async def _not_dead_lettered(bootstrap: str, marks: list[str], within_s: float = 60.0) -> list[str]:
    wanted = set(marks)

    def found(records: list[Any]) -> set[str]:
        return {dict(r.headers).get(POISON_MARK, b"").decode() for r in records} & wanted

    records = await read_topic(
        bootstrap, INTAKE_PROJECTS.dead_letter, lambda rs: found(rs) == wanted, within=within_s
    )
    return sorted(wanted - found(records))


if __name__ == "__main__":
    main()
