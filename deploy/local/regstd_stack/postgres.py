"""PostgreSQL, where FerretDB keeps its documents: found (or installed with apt-get), a cluster made
once per data directory, started on a Unix socket only, and waited for until it accepts connections."""

from __future__ import annotations

import functools
import os
import re
import shutil
import time
from pathlib import Path

from .common import Log, StackConfig, StackError, require_tool, run, tail_file
from .layout import POSTGRES_SOCKET_PORT, Layout
from .processes import alive, spawn

# FerretDB's PostgreSQL backend, not its SQLite one: SQLite reads a whole collection for any
# filter but a bare `_id` and rewrites it for every update, so each call grows with the collection
# (decision 20). PostgreSQL comes from Debian's packages; the oldest major FerretDB 1.24 supports.
MIN_POSTGRES = 13
POSTGRES_PACKAGE = "postgresql"
# As root, PostgreSQL refuses to start; it runs in a user namespace as `nobody`, where the files
# root owns appear as its own.
POSTGRES_AS = "65534"


@functools.cache
def postgres_major(bin_dir: Path) -> int:
    """The server's major version, as `postgres --version` prints it (asked once per directory)."""
    out = run([str(bin_dir / "postgres"), "--version"], what="postgres --version")
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(m.group(1)) if m else 0


def find_postgres() -> Path | None:
    """The directory with PostgreSQL's server programs: ``REGSTD_POSTGRES_BIN``, Debian's, or PATH."""
    override = os.environ.get("REGSTD_POSTGRES_BIN")
    if override:
        candidates = [Path(override)]
    else:
        debian = Path("/usr/lib/postgresql").glob("*/bin")
        candidates = sorted(debian, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)[::-1]
        initdb = shutil.which("initdb")
        if initdb:
            candidates.append(Path(initdb).resolve().parent)
    for bin_dir in candidates:
        if all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "postgres")):
            return bin_dir
    return None


def require_postgres() -> Path:
    bin_dir = find_postgres()
    if bin_dir is None:
        raise StackError(
            "PostgreSQL's server programs (initdb, postgres) not found: FerretDB keeps its data in "
            f"PostgreSQL {MIN_POSTGRES}+. Install Debian's package with `apt-get install "
            f"{POSTGRES_PACKAGE}` (done for you when running as root) or point REGSTD_POSTGRES_BIN "
            "at the directory holding them"
        )
    major = postgres_major(bin_dir)
    if major < MIN_POSTGRES:
        raise StackError(f"PostgreSQL {major} found in {bin_dir}, but FerretDB needs {MIN_POSTGRES}+")
    if os.geteuid() == 0:
        require_tool("unshare", "util-linux unshare", "install it with `apt-get install util-linux`")
    return bin_dir


def install_postgres(log: Log) -> None:
    """Install Debian's PostgreSQL server when it is missing and we may (root with apt-get)."""
    if find_postgres() is not None or os.environ.get("REGSTD_POSTGRES_BIN"):
        return
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        require_postgres()  # raises with the instructions
    assert apt is not None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_cmd = [apt, "install", "-y", "-q", "--no-install-recommends", POSTGRES_PACKAGE]
    log(f"postgresql: installing Debian's {POSTGRES_PACKAGE} package with apt-get ...")
    try:
        run(install_cmd, what=f"apt-get install {POSTGRES_PACKAGE}", env=env)
    except StackError:
        # the package lists may be stale or absent on a fresh machine
        run([apt, "update", "-q"], what="apt-get update", env=env)
        run(install_cmd, what=f"apt-get install {POSTGRES_PACKAGE}", env=env)
    log(f"postgresql: installed ({require_postgres()})")


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as `nobody` in a user namespace."""
    if os.geteuid() != 0:
        return cmd
    unshare = require_tool("unshare", "util-linux unshare", "install it with `apt-get install util-linux`")
    return [unshare, "--user", f"--map-user={POSTGRES_AS}", f"--map-group={POSTGRES_AS}", *cmd]


def prepare_postgres(lay: Layout, log: Log) -> None:
    lay.postgres_dir.mkdir(parents=True, exist_ok=True)
    lay.postgres_socket_dir.mkdir(parents=True, exist_ok=True)
    if (lay.postgres_data / "PG_VERSION").is_file():
        return
    started = time.monotonic()
    shutil.rmtree(lay.postgres_data, ignore_errors=True)  # a half-made cluster from a crash
    initdb = str(require_postgres() / "initdb")
    run(
        _as_postgres_user(
            [initdb, "-D", str(lay.postgres_data), "-U", "regstd", "-A", "trust", "-E", "UTF8", "--locale=C"]
        ),
        what="PostgreSQL initdb",
    )
    log(f"postgresql: created a cluster in {lay.postgres_data} in {time.monotonic() - started:.1f} s")


def start_postgres(lay: Layout) -> tuple[int, int]:
    # Unix socket only: no TCP port to pick or collide; durability as shipped (fsync, synchronous
    # commit), since FerretDB acknowledges a write once PostgreSQL has committed it.
    cmd = _as_postgres_user(
        [
            str(require_postgres() / "postgres"),
            "-D",
            str(lay.postgres_data),
            "-k",
            str(lay.postgres_socket_dir),
            "-p",
            str(POSTGRES_SOCKET_PORT),
            "-c",
            "listen_addresses=",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=128MB",
            # FerretDB's statements are prepared once and run many times with new values. After
            # five runs PostgreSQL may keep one plan for any value, and it chose a scan of the whole
            # table for the relays' `_outbox_count > 0`: a table of large documents looks small when
            # they are stored aside (TOAST), but the scan reads each one. Planning for the values
            # given costs tens of microseconds on these one-table statements (decision 47).
            "-c",
            "plan_cache_mode=force_custom_plan",
            # Statistics soon after a bulk load, so that those plans see how few documents match.
            "-c",
            "autovacuum_naptime=10s",
            "-c",
            "log_min_messages=warning",
            *os.environ.get("REGSTD_POSTGRES_EXTRA", "").split(),
        ]
    )
    return spawn(cmd, cwd=lay.postgres_dir, log_path=lay.postgres_log)


def _postgres_ready(lay: Layout) -> bool:
    """The postmaster writes `ready` into line 8 of postmaster.pid once it accepts connections."""
    try:
        lines = (lay.postgres_data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def wait_postgres(cfg: StackConfig, lay: Layout, postgres: tuple[int, int], offset: int) -> None:
    deadline = time.monotonic() + cfg.start_timeout
    while not _postgres_ready(lay):
        if not alive(*postgres):
            raise StackError(
                f"postgresql exited during start-up (pid {postgres[0]})\n"
                f"--- {lay.postgres_log} (this start) ---\n{tail_file(lay.postgres_log, offset)}"
            )
        if time.monotonic() > deadline:
            raise StackError(f"postgresql not ready after {cfg.start_timeout:.0f} s; see {lay.postgres_log}")
        time.sleep(0.05)
