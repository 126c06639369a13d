"""What every part of the stack shares: its error, its configuration, the cache root, and helpers
to log, run a build step, read the end of a log, hold a lock and read from a socket."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0

HOST = "127.0.0.1"
STACK_FILE = "stack.json"

Log = Callable[[str], None]


class StackError(Exception):
    """A prerequisite is missing, a download/build failed, or a service did not come up."""


# --------------------------------------------------------------------------- config


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise StackError(f"environment variable {name}={raw!r} is not a port number") from None


@dataclasses.dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its state and which loopback ports it listens on."""

    data_dir: Path | str = Path("var")
    kafka_port: int = 9092
    controller_port: int = 9093
    mongo_port: int = 27017
    start_timeout: float = START_TIMEOUT_S
    stop_timeout: float = STOP_TIMEOUT_S

    @classmethod
    def from_env(cls, **overrides: Any) -> StackConfig:
        """Build a config from ``REGSTD_*`` environment variables; non-None overrides win."""
        values: dict[str, Any] = {
            "data_dir": Path(os.environ.get("REGSTD_DATA_DIR") or "var"),
            "kafka_port": _env_int("REGSTD_KAFKA_PORT", 9092),
            "controller_port": _env_int("REGSTD_KAFKA_CONTROLLER_PORT", 9093),
            "mongo_port": _env_int("REGSTD_MONGO_PORT", 27017),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(values["data_dir"])
        return cls(**values)

    @property
    def root(self) -> Path:
        """The data directory as an absolute path."""
        return Path(self.data_dir).expanduser().resolve()

    @property
    def kafka_bootstrap(self) -> str:
        """Kafka bootstrap address."""
        return f"{HOST}:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        """MongoDB connection URL for FerretDB."""
        return f"mongodb://{HOST}:{self.mongo_port}/"

    def validate(self) -> None:
        """Reject out-of-range or colliding ports."""
        ports = {"kafka": self.kafka_port, "controller": self.controller_port, "mongo": self.mongo_port}
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise StackError(f"{name} port {port} is out of range 1-65535")
        if len(set(ports.values())) != len(ports):
            raise StackError(f"ports must be distinct, got {ports}")


def cache_root() -> Path:
    """Per-user cache root for downloaded/built software (``REGSTD_CACHE`` overrides)."""
    env = os.environ.get("REGSTD_CACHE")
    return Path(env).expanduser().resolve() if env else Path.home() / ".cache" / "regstd"


def log_to_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def tail(text: str | bytes, lines: int = 30) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = _ANSI.sub("", text)
    return "\n".join(text.rstrip().splitlines()[-lines:])


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def tail_file(path: Path, since: int = 0, lines: int = 30) -> str:
    """Last lines of a log file, only from byte ``since`` on (unless it was rotated meanwhile)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            start = since if since <= size else 0
            fh.seek(max(start, size - 64 * 1024))
            data = fh.read()
    except OSError:
        return f"(no log at {path})"
    return tail(data, lines) or "(nothing logged)"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def require_tool(name: str, what: str, hint: str) -> str:
    found = shutil.which(name)
    if not found:
        raise StackError(f"{what} ({name}) not found on PATH: {hint}")
    return found


def run(cmd: list[str], *, what: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a build/download step; on failure raise StackError with the tail of its output."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
    except OSError as exc:
        raise StackError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise StackError(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- last lines of its output ---\n{tail(out, 40)}"
        )
    return out


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return bytes(buf)
