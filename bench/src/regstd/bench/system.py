"""The system under test: its own Kafka and FerretDB (deploy/local/stack.py, free ports, a temporary
data directory) and the real services as processes, started as `regstd local up` starts them.

A service is ready when its health endpoint answers 200 (services with HTTP) or it logged
"runtime started" (services without), and its consumer group has members (its consumer is assigned).
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from regstd.cli.local import DEMO_PUBLIC_COMMENT_MIN_DAYS, SERVICES
from regstd.contracts import TOPICS
from regstd.contracts.reference import load_reference
from regstd.contracts.topics import INTAKE_PROJECTS
from regstd.runtime.auth import write_development_tokens
from regstd.runtime.kafka import declare_topics

# The consumer group each service's consumer joins (their settings' defaults); a service without a
# consumer is ready without one.
CONSUMER_GROUPS = {
    "project-intake": "project-intake",
    "publication": "publication",
    "harmonization": "harmonization",
}
READY_LOG = "runtime started"
MB = 1024 * 1024


class BenchError(RuntimeError):
    """The system under test could not be brought up; the message says what to look at."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningService:
    """One service process and what was measured about its start."""

    name: str
    entry_point: str
    port: int | None
    group: str | None
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    spawned_at: float = 0.0
    """Wall-clock time of the spawn, comparable with the times in the service's log lines."""
    log_offset: int = 0
    """Where this start's lines begin in the log file."""
    ready_cpu_s: float = 0.0
    """CPU seconds the process had used when it was found ready (less noisy than wall time on a
    busy machine)."""
    startups_s: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the process has used so far."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        """Resident memory of the process and its children, now."""
        if self.process is None or self.process.poll() is not None:
            return 0
        proc = psutil.Process(self.process.pid)
        total: int = proc.memory_info().rss
        for child in proc.children(recursive=True):
            total += child.memory_info().rss
        return total


class System:
    """Kafka, FerretDB and the services, in a data directory of their own."""

    def __init__(self, repo: Path, data_dir: Path) -> None:
        self.repo = repo
        self.data_dir = data_dir
        self.kafka_bootstrap = ""
        self.mongo_url = ""
        self.book = data_dir / "local.json"
        self._ports: tuple[str, ...] = ()
        logs = data_dir / "logs"
        self.services = {
            s.name: RunningService(
                s.name,
                s.entry_point,
                free_port() if s.port is not None else None,
                CONSUMER_GROUPS.get(s.name),
                logs / f"{s.name}.log",
            )
            for s in SERVICES
        }

    # -- infrastructure -------------------------------------------------------------------------

    def _stack(self, *args: str) -> dict[str, Any]:
        script = self.repo / "deploy" / "local" / "stack.py"
        done = subprocess.run(
            [sys.executable, str(script), *args, "--data-dir", str(self.data_dir), "--json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            raise BenchError(f"stack.py {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
        answer: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
        return answer

    def start_infra(self) -> float:
        """Start Kafka and FerretDB on free ports (cache already warm); seconds it took."""
        began = time.monotonic()
        self._ports = ("--kafka-port", str(free_port()), "--controller-port", str(free_port()))
        self._ports += ("--mongo-port", str(free_port()))
        info = self._stack("up", *self._ports)
        took = time.monotonic() - began
        self.kafka_bootstrap = info["kafka"]["bootstrap"]
        self.mongo_url = info["mongo"]["url"]
        endpoints = {s.name: s.url for s in self.services.values() if s.port is not None}
        endpoints |= {"kafka": self.kafka_bootstrap, "mongo": self.mongo_url}
        write_development_tokens(self.book, load_reference(), endpoints)
        return took

    async def ready_for_groups(self, within_s: float = 60.0) -> None:
        """Declare the topics and wait until the new broker coordinates consumer groups: a fresh
        Kafka creates its offsets topic and loads its coordinators at the first group's request,
        which took 3–6 s. That is the stack's start, once, not a service's: an operator's stack has
        done it long before a service restarts."""
        await declare_topics(self.kafka_bootstrap, TOPICS.values())
        consumer = AIOKafkaConsumer(
            INTAKE_PROJECTS.name,
            bootstrap_servers=self.kafka_bootstrap,
            group_id="regstd-bench-warm-up",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + within_s
            while not consumer.assignment() and time.monotonic() < deadline:
                await consumer.getmany(timeout_ms=100)
        finally:
            await consumer.stop()

    def restart_infra(self) -> None:
        """Bring the stack up again on the same ports after one of its servers died (`stack.py up`
        restarts an unhealthy stack), as an operator would."""
        self._stack("up", *self._ports)

    def stop_infra(self) -> None:
        """Stop Kafka and FerretDB (the data directory goes with the temporary directory)."""
        self._stack("down")

    # -- services -------------------------------------------------------------------------------

    def _env(self, tracing: bool) -> dict[str, str]:
        env = dict(
            os.environ,
            REGSTD_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            REGSTD_MONGO_URL=self.mongo_url,
            REGSTD_TOKENS_FILE=str(self.book),
            REGSTD_PUBLIC_COMMENT_MIN_DAYS=DEMO_PUBLIC_COMMENT_MIN_DAYS,
            # Local span files (when tracing writes them) stay in the temporary data directory.
            REGSTD_SPANS_DIR=str(self.data_dir / "spans"),
        )
        # The switch for the cost of observability: the OpenTelemetry SDK honours it everywhere,
        # whatever export the services configure.
        if tracing:
            env.pop("OTEL_SDK_DISABLED", None)
        else:
            env["OTEL_SDK_DISABLED"] = "true"
        return env

    async def start_services(
        self,
        *,
        tracing: bool,
        within_s: float = 90.0,
        names: Iterable[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> dict[str, float]:
        """Start every service (or those `names` names) at once, as `regstd local up` does, with
        `env` added to their environment; seconds from each process's start until it is ready."""
        starting = [self.services[name] for name in names] if names is not None else [*self.services.values()]
        self._spawn(self._env(tracing) | dict(env or {}), tracing, starting)
        took = await asyncio.gather(*(self._ready(s, within_s) for s in starting))
        for service, seconds in zip(starting, took, strict=True):
            service.startups_s.append(seconds)
        return {s.name: t for s, t in zip(starting, took, strict=True)}

    def _spawn(self, env: dict[str, str], tracing: bool, services: Iterable[RunningService]) -> None:
        bin_dir = Path(sys.executable).parent
        for service in services:
            service.log.parent.mkdir(parents=True, exist_ok=True)
            with open(service.log, "ab") as out:
                out.write(f"--- bench start, tracing={'on' if tracing else 'off'}\n".encode())
                out.flush()
                service.log_offset = out.tell()
                service.started_at = time.monotonic()
                service.spawned_at = time.time()
                service.process = subprocess.Popen(
                    [str(bin_dir / service.entry_point)],
                    env=env | ({"REGSTD_HTTP_PORT": str(service.port)} if service.port else {}),
                    stdout=out,
                    stderr=out,
                    cwd=self.data_dir,  # nothing a service writes by relative path lands in the repo
                    start_new_session=True,
                )

    async def _ready(self, service: RunningService, within_s: float) -> float:
        deadline = service.started_at + within_s
        log_offset = service.log_offset
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                now = time.monotonic()
                if service.process is None or service.process.poll() is not None or now > deadline:
                    tail = service.log.read_text(errors="replace")[-3000:]
                    raise BenchError(f"{service.name} did not become ready; its log ends:\n{tail}")
                if await self._answers(service, http, log_offset) and await self._assigned(service):
                    took = time.monotonic() - service.started_at
                    service.ready_cpu_s = service.cpu_seconds()
                    return took
                await asyncio.sleep(0.02)

    async def _answers(self, service: RunningService, http: httpx.AsyncClient, log_offset: int) -> bool:
        if service.port is None:
            return _logged(service.log, log_offset, READY_LOG)
        try:
            return (await http.get(f"{service.url}/health/ready")).status_code == 200
        except httpx.HTTPError:
            return False

    async def _assigned(self, service: RunningService) -> bool:
        if service.group is None:
            return True
        return await group_is_stable(self.kafka_bootstrap, service.group)

    def stop_services(self, names: Iterable[str] | None = None) -> None:
        """SIGTERM every service's (or those `names` names) process group; SIGKILL what is still
        there after 20 s."""
        stopping = [self.services[name] for name in names] if names is not None else [*self.services.values()]
        for service in stopping:
            process = service.process
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
        for service in stopping:
            process = service.process
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            service.process = None

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each service now, in MB."""
        return {name: s.rss_bytes() / MB for name, s in self.services.items()}

    def pid(self, name: str) -> int | None:
        """The process id of a running service."""
        process = self.services[name].process
        return None if process is None else process.pid

    def pids(self) -> dict[str, int | None]:
        """Each service's process id, None for one not running."""
        return {name: self.pid(name) for name in self.services}


def _logged(path: Path, offset: int, message: str) -> bool:
    with open(path, "rb") as log:
        log.seek(offset)
        return message.encode() in log.read()


async def group_is_stable(bootstrap: str, group: str) -> bool:
    """The consumer group has members and is not rebalancing: its consumers are assigned."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="regstd-bench")
    await admin.start()
    try:
        for response in await admin.describe_consumer_groups([group]):
            for described in response.groups:
                # (error_code, group_id, state, protocol_type, protocol, members, ...)
                if described[1] == group and described[2] == "Stable" and len(described[5]) > 0:
                    return True
        return False
    except Exception:
        return False
    finally:
        await admin.close()


async def lag(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """How many records of a topic the group has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="regstd-bench")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        total = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            total += max(0, ends[tp] - done)
        return total
    finally:
        await consumer.stop()
        await admin.close()
