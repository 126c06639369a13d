"""Whether the stack is healthy: its recorded processes alive and both servers answering their
protocol checks; and waiting for that after a start."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .common import StackConfig, StackError, file_size, tail_file
from .ferretdb import check_mongo
from .kafka import check_kafka
from .layout import Layout
from .processes import alive
from .state import component_pid, component_port


def service_health(state: dict[str, Any] | None, cfg: StackConfig) -> dict[str, Any]:
    """Check both services: recorded pid alive (when recorded) and real protocol check."""
    result: dict[str, Any] = {}
    for name, checker, default_port in (
        ("kafka", check_kafka, cfg.kafka_port),
        ("mongo", check_mongo, cfg.mongo_port),
    ):
        port = (component_port(state, name) if state else None) or default_port
        pid, ticks = component_pid(state, name)
        backing_pid, backing_ticks = component_pid(state, "postgres") if name == "mongo" else (None, None)
        entry: dict[str, Any] = {"port": port, "pid": pid}
        if pid is not None and not alive(pid, ticks):
            entry.update(healthy=False, reason=f"recorded process {pid} is not running")
        elif backing_pid is not None and not alive(backing_pid, backing_ticks):
            entry.update(healthy=False, reason=f"its PostgreSQL (pid {backing_pid}) is not running")
        else:
            reason = checker(port)
            entry.update(healthy=reason is None, reason=reason)
        result[name] = entry
    return result


def log_offsets(lay: Layout) -> dict[Path, int]:
    return {p: file_size(p) for p in (lay.kafka_server_log, lay.kafka_out, lay.mongo_log, lay.postgres_log)}


def wait_healthy(
    cfg: StackConfig,
    lay: Layout,
    kafka: tuple[int, int],
    mongo: tuple[int, int],
    offsets: dict[Path, int],
) -> None:
    deadline = time.monotonic() + cfg.start_timeout
    pending = {"kafka", "mongo"}
    reasons: dict[str, str] = {}
    logs = {"kafka": (lay.kafka_server_log, lay.kafka_out), "mongo": (lay.mongo_log, lay.postgres_log)}

    def tails(name: str) -> str:
        return "\n".join(f"--- {p} (this start) ---\n{tail_file(p, offsets.get(p, 0))}" for p in logs[name])

    procs = {"kafka": kafka, "mongo": mongo}
    checks = {"kafka": lambda: check_kafka(cfg.kafka_port), "mongo": lambda: check_mongo(cfg.mongo_port)}
    while pending:
        for name in sorted(pending):
            pid, ticks = procs[name]
            if not alive(pid, ticks):
                raise StackError(f"{name} exited during start-up (pid {pid})\n{tails(name)}")
            reason = checks[name]()
            if reason is None:
                pending.discard(name)
            else:
                reasons[name] = reason
        if not pending:
            return
        if time.monotonic() > deadline:
            name = sorted(pending)[0]
            raise StackError(
                f"{name} not healthy after {cfg.start_timeout:.0f} s "
                f"(last check: {reasons.get(name)})\n{tails(name)}"
            )
        time.sleep(0.25)
