"""The stack's commands as functions: install, up, down and status."""

from __future__ import annotations

import concurrent.futures
import shutil
import signal
import time
from collections.abc import Callable
from typing import Any

from .common import HOST, Log, StackConfig, StackError, cache_root, locked, log_to_stderr
from .ferretdb import ferretdb_bin, ferretdb_installed, install_ferretdb, require_go, start_mongo
from .health import log_offsets, service_health, wait_healthy
from .kafka import (
    install_kafka,
    kafka_installed,
    kafka_libs,
    prepare_kafka,
    require_java,
    require_mvn,
    start_kafka,
)
from .layout import Layout
from .postgres import (
    find_postgres,
    install_postgres,
    prepare_postgres,
    require_postgres,
    start_postgres,
    wait_postgres,
)
from .processes import alive, port_free, stop_groups
from .state import component_pid, component_port, read_state, state_for, write_state


def install(log: Log | None = None) -> dict[str, str]:
    """Fetch Kafka's jars and build FerretDB into the per-user cache (no-op when cached).

    Installs Debian's PostgreSQL server first when it is missing (as root, with apt-get).
    Returns the locations: ``{"kafka_libs": ..., "ferretdb": ..., "postgres": ...}``.
    """
    say = log or log_to_stderr
    with locked(cache_root() / ".install.lock"):
        started = time.monotonic()
        # check every prerequisite first, so a missing one is not found only after a download
        needed: list[Callable[[], str]] = []
        if not kafka_installed():
            needed += [require_mvn, require_java]
        if not ferretdb_installed():
            needed.append(require_go)
        install_postgres(say)
        needed.append(lambda: str(require_postgres()))
        missing: list[str] = []
        for require in needed:
            try:
                require()
            except StackError as exc:
                missing.append(str(exc))
        if missing:
            raise StackError("missing prerequisites:\n  - " + "\n  - ".join(missing))
        # Maven mostly waits on the network, the Go build mostly on the CPU: run them side by side
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(install_kafka, say), pool.submit(install_ferretdb, say)]
        errors: list[str] = []
        for future in futures:
            try:
                future.result()
            except StackError as exc:
                errors.append(str(exc))
        if errors:
            raise StackError("\n\n".join(errors))
        say(f"install: done in {time.monotonic() - started:.1f} s (cache {cache_root()})")
    return {
        "kafka_libs": str(kafka_libs()),
        "ferretdb": str(ferretdb_bin()),
        "postgres": str(require_postgres()),
    }


def _stop_recorded(lay: Layout, state: dict[str, Any] | None, timeout: float) -> list[str]:
    stopped: list[str] = []
    pids: list[int] = []
    for name in ("kafka", "mongo"):
        pid, ticks = component_pid(state, name)
        if pid is not None and alive(pid, ticks):
            pids.append(pid)
            stopped.append(f"{name} (pid {pid})")
    stop_groups(pids, timeout)
    # PostgreSQL after its only client; SIGINT is its fast shutdown (SIGTERM waits for clients)
    pid, ticks = component_pid(state, "postgres")
    if pid is not None and alive(pid, ticks):
        stop_groups([pid], timeout, signal.SIGINT)
        stopped.append(f"postgres (pid {pid})")
    lay.stack_file.unlink(missing_ok=True)
    return stopped


def up(config: StackConfig | None = None, log: Log | None = None) -> dict[str, Any]:
    """Start Kafka and FerretDB for ``config`` (installing if needed) and wait until healthy.

    Idempotent: a healthy stack already recorded in the data dir is reported, not restarted.
    Returns the content of ``<data-dir>/stack.json``.
    """
    cfg = config or StackConfig.from_env()
    cfg.validate()
    say = log or log_to_stderr
    lay = Layout(cfg.root)
    lay.root.mkdir(parents=True, exist_ok=True)
    with locked(lay.lock_file):
        state = read_state(lay)
        if state is not None:
            health = service_health(state, cfg)
            if all(h["healthy"] for h in health.values()):
                recorded = (
                    component_port(state, "kafka"),
                    (state.get("kafka") or {}).get("controller_port"),
                    component_port(state, "mongo"),
                )
                wanted = (cfg.kafka_port, cfg.controller_port, cfg.mongo_port)
                if recorded != wanted:
                    raise StackError(
                        f"the stack in {lay.root} is already running on kafka/controller/mongo ports "
                        f"{recorded}, not {wanted}: run `down` first to change ports"
                    )
                say(f"stack in {lay.root} is already running and healthy")
                return state
            stopped = _stop_recorded(lay, state, cfg.stop_timeout)
            if stopped:
                say(f"restarting unhealthy stack: stopped {', '.join(stopped)}")

        for what, port in (
            ("kafka", cfg.kafka_port),
            ("kafka controller", cfg.controller_port),
            ("mongo (FerretDB)", cfg.mongo_port),
        ):
            if not port_free(port):
                raise StackError(
                    f"port {port} on {HOST} (wanted for {what}) is already in use by another process: "
                    "stop it, or pick other ports with --kafka-port/--controller-port/--mongo-port "
                    "(REGSTD_KAFKA_PORT, REGSTD_KAFKA_CONTROLLER_PORT, REGSTD_MONGO_PORT)"
                )

        if not (kafka_installed() and ferretdb_installed() and find_postgres()):
            install(say)

        started = time.monotonic()
        prepare_kafka(cfg, lay, say)
        prepare_postgres(lay, say)
        kafka: tuple[int, int] | None = None
        mongo: tuple[int, int] | None = None
        postgres: tuple[int, int] | None = None
        offsets = log_offsets(lay)
        try:
            postgres = start_postgres(lay)
            kafka = start_kafka(cfg, lay)
            write_state(lay, state_for(cfg, lay, kafka, None, postgres))
            wait_postgres(cfg, lay, postgres, offsets[lay.postgres_log])
            mongo = start_mongo(cfg, lay)
            state = state_for(cfg, lay, kafka, mongo, postgres)
            write_state(lay, state)
            wait_healthy(cfg, lay, kafka, mongo, offsets)
        except BaseException:
            stop_groups([p[0] for p in (kafka, mongo) if p is not None], cfg.stop_timeout)
            if postgres is not None:
                stop_groups([postgres[0]], cfg.stop_timeout, signal.SIGINT)
            lay.stack_file.unlink(missing_ok=True)
            raise
        say(f"stack up in {time.monotonic() - started:.1f} s")
        return state


def down(config: StackConfig | None = None, purge: bool = False, log: Log | None = None) -> list[str]:
    """Stop the stack recorded in the data dir (idempotent); keeps data unless ``purge``.

    Returns descriptions of the processes that were stopped.
    """
    cfg = config or StackConfig.from_env()
    say = log or log_to_stderr
    lay = Layout(cfg.root)
    if not lay.root.exists():
        say(f"nothing to stop: {lay.root} does not exist")
        return []
    with locked(lay.lock_file):
        started = time.monotonic()
        stopped = _stop_recorded(lay, read_state(lay), cfg.stop_timeout)
        if stopped:
            say(f"stopped {', '.join(stopped)} in {time.monotonic() - started:.1f} s")
        else:
            say(f"nothing running for {lay.root}")
        if purge:
            for d in (lay.kafka_dir, lay.mongo_dir, lay.postgres_dir, lay.postgres_socket_dir):
                shutil.rmtree(d, ignore_errors=True)
            say(f"purged {lay.kafka_dir}, {lay.mongo_dir} and {lay.postgres_dir}")
    return stopped


def status(config: StackConfig | None = None) -> dict[str, Any]:
    """Health of both services; ``result["healthy"]`` is True only if both are healthy.

    Uses the endpoints recorded in ``<data-dir>/stack.json`` when present, else the config's ports.
    """
    cfg = config or StackConfig.from_env()
    lay = Layout(cfg.root)
    state = read_state(lay)
    health = service_health(state, cfg)
    return {
        "healthy": all(h["healthy"] for h in health.values()),
        "recorded": state is not None,
        "data_dir": str(lay.root),
        "kafka": {"bootstrap": f"{HOST}:{health['kafka']['port']}", **health["kafka"]},
        "mongo": {"url": f"mongodb://{HOST}:{health['mongo']['port']}/", **health["mongo"]},
    }
