"""The command line: ``stack.py <install|up|down|status>``, its options, output and exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import STACK_FILE, StackConfig, StackError
from .lifecycle import down, install, status, up


def _describe(state: dict[str, Any]) -> str:
    k, m = state["kafka"], state["mongo"]
    return (
        f"kafka   {k['bootstrap']}  (Kafka {k.get('version', '?')}, pid {k['pid']}, log {k.get('log')})\n"
        f"mongo   {m['url']}  ({m.get('version', '?')}, pid {m['pid']}, log {m.get('log')})\n"
        f"data    {state['data_dir']}  (state in {Path(state['data_dir']) / STACK_FILE})"
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stack.py",
        description="Install, start, check and stop a local Kafka broker and FerretDB (MongoDB) server.",
    )
    p.add_argument("command", choices=["install", "up", "down", "status"])
    p.add_argument("--data-dir", type=Path, help="state directory (env REGSTD_DATA_DIR, default ./var)")
    p.add_argument(
        "--kafka-port", type=int, help="Kafka PLAINTEXT port (env REGSTD_KAFKA_PORT, default 9092)"
    )
    p.add_argument(
        "--controller-port",
        type=int,
        help="KRaft controller port (env REGSTD_KAFKA_CONTROLLER_PORT, default 9093)",
    )
    p.add_argument("--mongo-port", type=int, help="FerretDB port (env REGSTD_MONGO_PORT, default 27017)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON only on stdout")
    p.add_argument("--purge", action="store_true", help="down: also delete the Kafka/FerretDB data")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        cfg = StackConfig.from_env(
            data_dir=args.data_dir,
            kafka_port=args.kafka_port,
            controller_port=args.controller_port,
            mongo_port=args.mongo_port,
        )
        if args.command == "install":
            paths = install()
            if args.json:
                print(json.dumps(paths))
            return 0
        if args.command == "up":
            state = up(cfg)
            print(json.dumps(state) if args.json else _describe(state))
            return 0
        if args.command == "down":
            stopped = down(cfg, purge=args.purge)
            if args.json:
                print(json.dumps({"stopped": stopped, "purged": args.purge}))
            return 0
        result = status(cfg)
        if args.json:
            print(json.dumps(result))
        else:
            for name, where in (("kafka", result["kafka"]["bootstrap"]), ("mongo", result["mongo"]["url"])):
                h = result[name]
                pid = f" pid {h['pid']}" if h["pid"] else ""
                text = "healthy" if h["healthy"] else f"DOWN ({h['reason']})"
                print(f"{name:<7} {where:<28} {text}{pid}")
        return 0 if result["healthy"] else 1
    except StackError as exc:
        print(f"stack.py {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stack.py {args.command}: interrupted", file=sys.stderr)
        return 130
