"""The servers' processes: start one detached, tell whether it still is the one started, stop
process groups, and whether a port is free."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from .common import HOST


def _proc_start_ticks(pid: int) -> int | None:
    """Start time of a process (clock ticks since boot); None once it has fully exited.

    A zombie thread-group leader whose other threads still run (the JVM while it shuts
    down) still counts as running: its ports may still be bound.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        try:
            threads = len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            threads = 0
        if threads <= 1:
            return None
    return int(fields[19])


# Services started by this Python process (import use, e.g. a pytest fixture): kept so that
# they are reaped through their Popen object instead of warning "subprocess still running".
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def alive(pid: int | None, start_ticks: int | None) -> bool:
    """Whether ``pid`` still is the process we started (guards against pid reuse)."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    ticks = _proc_start_ticks(pid)
    if ticks is None:
        return False
    return start_ticks is None or ticks == start_ticks


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def spawn(cmd: list[str], *, cwd: Path, log_path: Path, env: dict[str, str] | None = None) -> tuple[int, int]:
    """Start a detached process (own session/process group); returns (pid, start ticks)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    ticks = _proc_start_ticks(proc.pid) or 0
    return proc.pid, ticks


def stop_groups(pids: list[int], timeout: float, sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal each process group (SIGTERM), wait up to ``timeout``, then SIGKILL the survivors."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
    deadline = time.monotonic() + timeout
    remaining = list(pids)
    while remaining and time.monotonic() < deadline:
        remaining = [p for p in remaining if alive(p, None)]
        if remaining:
            time.sleep(0.1)
    for pid in remaining:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 5
    while remaining and time.monotonic() < kill_deadline:
        remaining = [p for p in remaining if alive(p, None)]
        if remaining:
            time.sleep(0.05)
