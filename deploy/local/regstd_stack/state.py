"""``<data-dir>/stack.json``: the endpoints and pids of the running stack."""

from __future__ import annotations

import json
from typing import Any

from .common import StackConfig
from .ferretdb import FERRETDB_VERSION
from .kafka import KAFKA_VERSION
from .layout import Layout
from .postgres import postgres_major, require_postgres


def read_state(lay: Layout) -> dict[str, Any] | None:
    try:
        data = json.loads(lay.stack_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_state(lay: Layout, state: dict[str, Any]) -> None:
    tmp = lay.stack_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(lay.stack_file)


def state_for(
    cfg: StackConfig,
    lay: Layout,
    kafka: tuple[int, int],
    mongo: tuple[int, int] | None,
    postgres: tuple[int, int],
) -> dict[str, Any]:
    mongo_pid, mongo_start = mongo or (None, None)
    return {
        "kafka": {
            "bootstrap": cfg.kafka_bootstrap,
            "pid": kafka[0],
            "pid_start": kafka[1],
            "port": cfg.kafka_port,
            "controller_port": cfg.controller_port,
            "version": KAFKA_VERSION,
            "log": str(lay.kafka_server_log),
        },
        "mongo": {
            "url": cfg.mongo_url,
            "pid": mongo_pid,
            "pid_start": mongo_start,
            "port": cfg.mongo_port,
            "version": f"ferretdb {FERRETDB_VERSION} on PostgreSQL {postgres_major(require_postgres())}",
            "log": str(lay.mongo_log),
        },
        "postgres": {
            "pid": postgres[0],
            "pid_start": postgres[1],
            "data": str(lay.postgres_data),
            "socket_dir": str(lay.postgres_socket_dir),
            "log": str(lay.postgres_log),
        },
        "data_dir": str(lay.root),
    }


def component_pid(state: dict[str, Any] | None, name: str) -> tuple[int | None, int | None]:
    if not state or not isinstance(state.get(name), dict):
        return None, None
    comp: dict[str, Any] = state[name]
    pid, ticks = comp.get("pid"), comp.get("pid_start")
    return (pid if isinstance(pid, int) else None), (ticks if isinstance(ticks, int) else None)


def component_port(state: dict[str, Any], name: str) -> int | None:
    comp = state.get(name)
    if isinstance(comp, dict) and isinstance(comp.get("port"), int):
        port: int = comp["port"]
        return port
    return None
