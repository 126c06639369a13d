#!/usr/bin/env python3
"""Local infrastructure stack: a real Apache Kafka broker and a real FerretDB server.

Standard library only (Python 3.11+), so it runs with a plain ``python3`` before any
project virtualenv exists.

* Kafka (KRaft, combined broker+controller, single node) runs from the broker's jars
  fetched from Maven Central with Maven's dependency plugin.
* FerretDB (MongoDB wire protocol) is built with the Go toolchain from the Go module proxy
  and stores its documents in a PostgreSQL cluster of its own, run from Debian's
  ``postgresql`` package (installed with apt-get when missing and running as root).

Both builds are cached per user under ``~/.cache/regstd`` (root overridable with
``REGSTD_CACHE``); runtime state (data, configs, logs, ``stack.json``) lives in the data
directory (default ``./var``).

Command line::

    python3 deploy/local/stack.py <install|up|down|status> [--data-dir DIR]
        [--kafka-port N] [--controller-port N] [--mongo-port N] [--json] [--purge]

Importable API: :func:`install`, :func:`up`, :func:`down`, :func:`status` with
:class:`StackConfig`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

KAFKA_VERSION = "4.1.2"
SCALA_BINARY_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
FERRETDB_VERSION = "1.24.2"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
# FerretDB 1.24 updates a document by reading it and writing it back in two steps, so concurrent
# updates of one document lose writes (50 concurrent $inc end as +3) and two conditional updates on
# the same version both succeed. Before building, one process-wide lock is put around its
# read-modify-write paths (update, findAndModify, delete), which makes each of them atomic as in
# MongoDB. See docs/decisions/0006-ferretdb-atomic-updates.md.
FERRETDB_PATCH = "regstd-atomic-writes-2+pushdown-3"
_FERRETDB_LOCK_FILE = """// Added by regstd's deploy/local/stack.py before building (patch {patch}).
package handler

import "sync"

// regstdWriteMu makes each read-modify-write of a document atomic: FerretDB 1.24 reads matching
// documents and writes them back in separate steps, so concurrent writers lose updates.
var regstdWriteMu sync.Mutex
"""
# FerretDB's PostgreSQL backend filters `_id` with JSON containment (`_jsonb->'_id' @> $1`), which
# the unique index on `_jsonb->'_id'` cannot serve, so every read by `_id` scans the table; and it
# never pushes `$in` or `$gt` down to PostgreSQL. The patch filters a string or ObjectId `_id` (never
# an array: containment is equality) and `_id: {$in: [...]}` by equality, and an integer `$gt` on a
# top-level field by jsonb order, which PostgreSQL's index on that field serves. Pushed-down filters
# only narrow what PostgreSQL returns: FerretDB still applies the whole filter to every document, and
# jsonb order keeps every document MongoDB's `$gt` on a number could match (numbers compare as
# numbers, arrays, objects and booleans sort above every number; strings and nulls, which never match,
# below).
_FERRETDB_PUSHDOWN_FILE = """// Added by regstd's deploy/local/stack.py before building (patch {patch}).
package postgresql

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/postgresql/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// regstdIDValue is the JSON form of a string or ObjectId `_id`, as stored; ok is false otherwise.
func regstdIDValue(v any) (string, bool) {{
	switch v.(type) {{
	case string, types.ObjectID:
		return string(must.NotFail(sjson.MarshalSingleValue(v))), true
	}}
	return "", false
}}

// regstdIDEqual filters `_id` by equality, which the `_id` index serves.
func regstdIDEqual(p *metadata.Placeholder, k any, v any) (string, []any) {{
	id, ok := regstdIDValue(v)
	if k != "_id" || !ok {{
		return "", nil
	}}
	return fmt.Sprintf("%s->'_id' = %s", metadata.DefaultColumn, p.Next()), []any{{id}}
}}

// regstdIDIn filters `_id: {{$in: [...]}}` of strings and ObjectIds through the `_id` index.
func regstdIDIn(p *metadata.Placeholder, k string, v any) (string, []any) {{
	values, isArray := v.(*types.Array)
	if k != "_id" || !isArray || values.Len() == 0 {{
		return "", nil
	}}
	var placeholders []string
	var args []any
	for i := 0; i < values.Len(); i++ {{
		id, ok := regstdIDValue(must.NotFail(values.Get(i)))
		if !ok {{
			return "", nil
		}}
		placeholders = append(placeholders, p.Next())
		args = append(args, id)
	}}
	return fmt.Sprintf("%s->'_id' IN (%s)", metadata.DefaultColumn, strings.Join(placeholders, ", ")), args
}}

// regstdGreater narrows `{{k: {{$gt: n}}}}` with an integer n on a top-level key by jsonb order.
func regstdGreater(p *metadata.Placeholder, k string, v any) (string, []any) {{
	var n int64
	switch v := v.(type) {{
	case int32:
		n = int64(v)
	case int64:
		n = v
	default:
		return "", nil
	}}
	if k == "" || strings.ContainsAny(k, ".$'\\\\") || n > 1<<53 || n < -(1<<53) {{
		return "", nil
	}}
	return fmt.Sprintf("%s->'%s' > %s", metadata.DefaultColumn, k, p.Next()), []any{{fmt.Sprint(n)}}
}}
"""
_FERRETDB_QUERY_GO = "internal/backends/postgresql/query.go"
_FERRETDB_FILTER_EQUAL = (
    "func filterEqual(p *metadata.Placeholder, k any, v any, operator string) (filter string, args []any) {\n"
)
_FERRETDB_OPERATOR_SWITCH = '\t\t\t\tswitch k {\n\t\t\t\tcase "$eq":\n'
_FERRETDB_NEW_CASES = """case "$in":
					if f, a := regstdIDIn(p, rootKey, v); f != "" {
						filters = append(filters, f)
						args = append(args, a...)
					}

				case "$gt":
					if f, a := regstdGreater(p, rootKey, v); f != "" {
						filters = append(filters, f)
						args = append(args, a...)
					}

				case "$eq":"""
_FERRETDB_QUERY_EDITS = {
    # each anchor must occur exactly once; it is replaced by its text
    _FERRETDB_FILTER_EQUAL: _FERRETDB_FILTER_EQUAL
    + '\tif f, a := regstdIDEqual(p, k, v); f != "" {\n\t\treturn f, a\n\t}\n\n',
    _FERRETDB_OPERATOR_SWITCH: _FERRETDB_OPERATOR_SWITCH.replace('case "$eq":', _FERRETDB_NEW_CASES),
}
_FERRETDB_LOCKED_FUNCTIONS = {
    "internal/handler/msg_update.go": "func (h *Handler) updateDocument(",
    "internal/handler/msg_findandmodify.go": "func (h *Handler) findAndModifyDocument(",
    "internal/handler/msg_delete.go": "func (h *Handler) execDelete(",
}

# FerretDB's PostgreSQL backend, not its SQLite one: SQLite reads a whole collection for any
# filter but a bare `_id` and rewrites it for every update, so each call grows with the collection
# (decision 20). PostgreSQL comes from Debian's packages; the oldest major FerretDB 1.24 supports.
MIN_POSTGRES = 13
POSTGRES_PACKAGE = "postgresql"
# As root, PostgreSQL refuses to start; it runs in a user namespace as `nobody`, where the files
# root owns appear as its own.
POSTGRES_AS = "65534"
POSTGRES_SOCKET_PORT = 5432

DEFAULT_KAFKA_HEAP = "-Xms256m -Xmx768m"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
MIN_JAVA = 17

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


def kafka_home() -> Path:
    """Cache directory of the Kafka runtime classpath."""
    return cache_root() / f"kafka-{KAFKA_VERSION}"


def ferretdb_home() -> Path:
    """Cache directory of the FerretDB binary."""
    return cache_root() / f"ferretdb-{FERRETDB_VERSION}"


def _kafka_libs() -> Path:
    return kafka_home() / "libs"


def _kafka_stamp() -> Path:
    return kafka_home() / ".complete"


def _ferretdb_bin() -> Path:
    return ferretdb_home() / "ferretdb"


def _ferretdb_stamp() -> Path:
    return ferretdb_home() / ".complete"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _tail(text: str | bytes, lines: int = 30) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = _ANSI.sub("", text)
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _tail_file(path: Path, since: int = 0, lines: int = 30) -> str:
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
    return _tail(data, lines) or "(nothing logged)"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _require_tool(name: str, what: str, hint: str) -> str:
    found = shutil.which(name)
    if not found:
        raise StackError(f"{what} ({name}) not found on PATH: {hint}")
    return found


def _run(cmd: list[str], *, what: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
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
            f"--- last lines of its output ---\n{_tail(out, 40)}"
        )
    return out


def _require_mvn() -> str:
    return _require_tool("mvn", "Maven", "install it with `apt-get install maven`")


def _require_go() -> str:
    return _require_tool(
        "go",
        "Go toolchain",
        "install Go 1.24 or newer (Debian's `apt-get install golang-go` only if it is that new)",
    )


def _java_major(java: str) -> int:
    out = _run([java, "-version"], what="java -version")
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return 0
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def _require_java() -> str:
    java = _require_tool(
        "java",
        "Java",
        f"Kafka {KAFKA_VERSION} needs Java {MIN_JAVA}+; install it with "
        "`apt-get install openjdk-17-jre-headless`",
    )
    major = _java_major(java)
    if major < MIN_JAVA:
        raise StackError(
            f"Java {major} found at {java}, but Kafka {KAFKA_VERSION} needs Java {MIN_JAVA}+: "
            "install it with `apt-get install openjdk-17-jre-headless` and put it first on PATH"
        )
    return java


@functools.cache
def _postgres_major(bin_dir: Path) -> int:
    """The server's major version, as `postgres --version` prints it (asked once per directory)."""
    out = _run([str(bin_dir / "postgres"), "--version"], what="postgres --version")
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(m.group(1)) if m else 0


def _find_postgres() -> Path | None:
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


def _require_postgres() -> Path:
    bin_dir = _find_postgres()
    if bin_dir is None:
        raise StackError(
            "PostgreSQL's server programs (initdb, postgres) not found: FerretDB keeps its data in "
            f"PostgreSQL {MIN_POSTGRES}+. Install Debian's package with `apt-get install "
            f"{POSTGRES_PACKAGE}` (done for you when running as root) or point REGSTD_POSTGRES_BIN "
            "at the directory holding them"
        )
    major = _postgres_major(bin_dir)
    if major < MIN_POSTGRES:
        raise StackError(f"PostgreSQL {major} found in {bin_dir}, but FerretDB needs {MIN_POSTGRES}+")
    if os.geteuid() == 0:
        _require_tool("unshare", "util-linux unshare", "install it with `apt-get install util-linux`")
    return bin_dir


def _install_postgres(log: Log) -> None:
    """Install Debian's PostgreSQL server when it is missing and we may (root with apt-get)."""
    if _find_postgres() is not None or os.environ.get("REGSTD_POSTGRES_BIN"):
        return
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        _require_postgres()  # raises with the instructions
    assert apt is not None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_cmd = [apt, "install", "-y", "-q", "--no-install-recommends", POSTGRES_PACKAGE]
    log(f"postgresql: installing Debian's {POSTGRES_PACKAGE} package with apt-get ...")
    try:
        _run(install_cmd, what=f"apt-get install {POSTGRES_PACKAGE}", env=env)
    except StackError:
        # the package lists may be stale or absent on a fresh machine
        _run([apt, "update", "-q"], what="apt-get update", env=env)
        _run(install_cmd, what=f"apt-get install {POSTGRES_PACKAGE}", env=env)
    log(f"postgresql: installed ({_require_postgres()})")


# --------------------------------------------------------------------------- install

_KAFKA_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>regstd.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def _kafka_installed() -> bool:
    libs = _kafka_libs()
    return _kafka_stamp().is_file() and (libs / f"kafka_{SCALA_BINARY_VERSION}-{KAFKA_VERSION}.jar").is_file()


def _install_kafka(log: Log) -> None:
    if _kafka_installed():
        log(f"kafka {KAFKA_VERSION}: cached in {kafka_home()}")
        return
    mvn = _require_mvn()
    _require_java()
    home = kafka_home()
    home.mkdir(parents=True, exist_ok=True)
    _kafka_stamp().unlink(missing_ok=True)
    started = time.monotonic()
    log(f"kafka {KAFKA_VERSION}: fetching the broker's runtime classpath with Maven into {_kafka_libs()} ...")
    partial = home / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="regstd-kafka-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(
            _KAFKA_POM.format(scala=SCALA_BINARY_VERSION, kafka=KAFKA_VERSION, log4j=LOG4J_VERSION)
        )
        _run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={partial}",
                "-DincludeScope=runtime",
            ],
            what=f"Maven download of Kafka {KAFKA_VERSION}",
            cwd=Path(tmp),
        )
    if not (partial / f"kafka_{SCALA_BINARY_VERSION}-{KAFKA_VERSION}.jar").is_file():
        raise StackError(
            f"Maven finished but {partial} has no kafka_{SCALA_BINARY_VERSION}-{KAFKA_VERSION}.jar"
        )
    shutil.rmtree(_kafka_libs(), ignore_errors=True)
    partial.rename(_kafka_libs())
    jars = len(list(_kafka_libs().glob("*.jar")))
    _kafka_stamp().write_text(f"kafka={KAFKA_VERSION}\nlog4j={LOG4J_VERSION}\njars={jars}\n")
    log(f"kafka {KAFKA_VERSION}: {jars} jars in {time.monotonic() - started:.1f} s")


def _ferretdb_installed() -> bool:
    stamp = _ferretdb_stamp()
    return (
        stamp.is_file()
        and f"patch={FERRETDB_PATCH}" in stamp.read_text()
        and os.access(_ferretdb_bin(), os.X_OK)
    )


def _patch_ferretdb(src: Path) -> None:
    """Make FerretDB's document writes atomic and its `_id` filters indexed (see FERRETDB_PATCH).

    Fails if the source no longer has the exact places the patch edits.
    """
    (src / "internal" / "handler" / "regstd_write_lock.go").write_text(
        _FERRETDB_LOCK_FILE.format(patch=FERRETDB_PATCH)
    )
    (src / "internal" / "backends" / "postgresql" / "regstd_pushdown.go").write_text(
        _FERRETDB_PUSHDOWN_FILE.format(patch=FERRETDB_PATCH)
    )
    query = src / _FERRETDB_QUERY_GO
    code = query.read_text()
    for anchor, replacement in _FERRETDB_QUERY_EDITS.items():
        if code.count(anchor) != 1:
            raise StackError(f"cannot patch FerretDB: {_FERRETDB_QUERY_GO} no longer has {anchor!r}")
        code = code.replace(anchor, replacement)
    query.write_text(code)
    for relative, signature in _FERRETDB_LOCKED_FUNCTIONS.items():
        path = src / relative
        code = path.read_text()
        if code.count(signature) != 1:
            raise StackError(f"cannot patch FerretDB: {relative} no longer has {signature!r}")
        body = code.index(") {\n", code.index(signature)) + len(") {\n")
        lock = "\tregstdWriteMu.Lock()\n\tdefer regstdWriteMu.Unlock()\n\n"
        path.write_text(code[:body] + lock + code[body:])


def _install_ferretdb(log: Log) -> None:
    if _ferretdb_installed():
        log(f"ferretdb {FERRETDB_VERSION}: cached in {ferretdb_home()}")
        return
    go = _require_go()
    home = ferretdb_home()
    home.mkdir(parents=True, exist_ok=True)
    _ferretdb_stamp().unlink(missing_ok=True)
    started = time.monotonic()
    log(f"ferretdb {FERRETDB_VERSION}: building with Go into {_ferretdb_bin()} (takes a few minutes) ...")
    env = dict(os.environ, GOWORK="off", GO111MODULE="on")
    with tempfile.TemporaryDirectory(prefix="regstd-ferretdb-") as tmp:
        # `go install ...@vX` builds a binary that panics at start-up: build/version/version.txt
        # is generated by FerretDB's release tooling, not part of the module. So take the module
        # source from the module proxy, add that file, and build it as the main module (with its
        # own go.mod/go.sum, i.e. exactly the dependency versions FerretDB released with).
        out = _run(
            [go, "mod", "download", "-json", f"{FERRETDB_MODULE}@v{FERRETDB_VERSION}"],
            what=f"Go module download of FerretDB v{FERRETDB_VERSION}",
            cwd=Path(tmp),
            env=env,
        )
        try:
            info = json.loads(out)
            mod_dir = Path(info["Dir"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StackError(f"unexpected `go mod download -json` output:\n{_tail(out)}") from exc
        commit = str((info.get("Origin") or {}).get("Hash") or "")
        src = Path(tmp) / "src"
        shutil.copytree(mod_dir, src, symlinks=True)
        for dirpath, _dirs, files in os.walk(src):
            os.chmod(dirpath, 0o755)
            for name in files:
                os.chmod(os.path.join(dirpath, name), 0o644)
        version_dir = src / "build" / "version"
        (version_dir / "version.txt").write_text(f"v{FERRETDB_VERSION}\n")
        if commit:
            (version_dir / "commit.txt").write_text(commit + "\n")
        _patch_ferretdb(src)
        partial = home / "ferretdb.partial"
        partial.unlink(missing_ok=True)
        _run(
            [go, "build", "-buildvcs=false", "-mod=readonly", "-o", str(partial), "./cmd/ferretdb"],
            what=f"Go build of FerretDB v{FERRETDB_VERSION}",
            cwd=src,
            env=env,
        )
    version_out = _run([str(partial), "--version"], what="built ferretdb --version")
    if f"v{FERRETDB_VERSION}" not in version_out:
        raise StackError(f"built FerretDB reports an unexpected version:\n{_tail(version_out)}")
    partial.rename(_ferretdb_bin())
    _ferretdb_stamp().write_text(f"ferretdb=v{FERRETDB_VERSION}\ncommit={commit}\npatch={FERRETDB_PATCH}\n")
    log(f"ferretdb {FERRETDB_VERSION}: built in {time.monotonic() - started:.1f} s")


def install(log: Log | None = None) -> dict[str, str]:
    """Fetch Kafka's jars and build FerretDB into the per-user cache (no-op when cached).

    Installs Debian's PostgreSQL server first when it is missing (as root, with apt-get).
    Returns the locations: ``{"kafka_libs": ..., "ferretdb": ..., "postgres": ...}``.
    """
    say = log or _stderr
    with _locked(cache_root() / ".install.lock"):
        started = time.monotonic()
        # check every prerequisite first, so a missing one is not found only after a download
        needed: list[Callable[[], str]] = []
        if not _kafka_installed():
            needed += [_require_mvn, _require_java]
        if not _ferretdb_installed():
            needed.append(_require_go)
        _install_postgres(say)
        needed.append(lambda: str(_require_postgres()))
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
            futures = [pool.submit(_install_kafka, say), pool.submit(_install_ferretdb, say)]
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
        "kafka_libs": str(_kafka_libs()),
        "ferretdb": str(_ferretdb_bin()),
        "postgres": str(_require_postgres()),
    }


# --------------------------------------------------------------------------- protocol checks


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return bytes(buf)


_KAFKA_CLIENT_ID = b"regstd-stack"


def _kafka_call(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, corr, len(_KAFKA_CLIENT_ID)) + _KAFKA_CLIENT_ID
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    resp = _recv_exact(sock, size)
    (got,) = struct.unpack_from(">i", resp, 0)
    if got != corr:
        raise ConnectionError(f"kafka: correlation id {got} != {corr}")
    return resp[4:]


def _kafka_api_versions(sock: socket.socket) -> dict[int, tuple[int, int]]:
    """ApiVersions v0; returns {api_key: (min, max)} or raises on a non-zero error code."""
    resp = _kafka_call(sock, 18, 0, 1, b"")
    (error,) = struct.unpack_from(">h", resp, 0)
    if error != 0:
        raise ConnectionError(f"kafka: ApiVersions error code {error}")
    (count,) = struct.unpack_from(">i", resp, 2)
    table: dict[int, tuple[int, int]] = {}
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", resp, 6 + 6 * i)
        table[key] = (lo, hi)
    return table


def _read_str(buf: bytes, pos: int) -> tuple[str | None, int]:
    (n,) = struct.unpack_from(">h", buf, pos)
    pos += 2
    if n < 0:
        return None, pos
    return buf[pos : pos + n].decode("utf-8", "replace"), pos + n


def _kafka_metadata(sock: socket.socket, versions: dict[int, tuple[int, int]]) -> tuple[list[int], int]:
    """Metadata (no topics) with a non-flexible version 4..8; returns (broker ids, controller id)."""
    lo, hi = versions.get(3, (0, -1))
    version = max(lo, 4)
    if version > min(hi, 8):
        raise ConnectionError(f"kafka: no Metadata version in 4..8 supported (broker offers {lo}..{hi})")
    body = struct.pack(">ib", 0, 0)  # topics: empty array (none), allow_auto_topic_creation=false
    if version >= 8:
        body += struct.pack(">bb", 0, 0)  # include cluster/topic authorized operations
    resp = _kafka_call(sock, 3, version, 2, body)
    pos = 4  # throttle_time_ms
    (n_brokers,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    brokers: list[int] = []
    for _ in range(n_brokers):
        (node_id,) = struct.unpack_from(">i", resp, pos)
        _host, pos = _read_str(resp, pos + 4)
        pos += 4  # port
        _rack, pos = _read_str(resp, pos)
        brokers.append(node_id)
    _cluster_id, pos = _read_str(resp, pos)
    (controller_id,) = struct.unpack_from(">i", resp, pos)
    return brokers, controller_id


def check_kafka(port: int, timeout: float = 3.0) -> str | None:
    """Real protocol check: ApiVersions (error 0) plus Metadata listing the broker.

    Returns None when healthy, otherwise a short reason.
    """
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            versions = _kafka_api_versions(sock)
            brokers, _controller = _kafka_metadata(sock, versions)
    except (OSError, ConnectionError, struct.error) as exc:
        return f"{type(exc).__name__}: {exc}"
    if not brokers:
        return "metadata lists no live broker yet"
    return None


def _bson_ping() -> bytes:
    body = b"\x10ping\x00" + struct.pack("<i", 1)
    body += b"\x02$db\x00" + struct.pack("<i", len(b"admin") + 1) + b"admin\x00"
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


_BSON_FIXED = {
    0x01: 8,
    0x07: 12,
    0x08: 1,
    0x09: 8,
    0x0A: 0,
    0x10: 4,
    0x11: 8,
    0x12: 8,
    0x13: 16,
    0x7F: 0,
    0xFF: 0,
}


def _bson_top_level(doc: bytes) -> dict[str, Any]:
    """Decode the scalar top-level fields of a BSON document (nested values are skipped)."""
    out: dict[str, Any] = {}
    (total,) = struct.unpack_from("<i", doc, 0)
    pos = 4
    while pos < total - 1:
        kind = doc[pos]
        end = doc.index(b"\x00", pos + 1)
        name = doc[pos + 1 : end].decode("utf-8", "replace")
        pos = end + 1
        if kind == 0x01:
            out[name] = struct.unpack_from("<d", doc, pos)[0]
        elif kind == 0x08:
            out[name] = doc[pos] != 0
        elif kind == 0x10:
            out[name] = struct.unpack_from("<i", doc, pos)[0]
        elif kind == 0x12:
            out[name] = struct.unpack_from("<q", doc, pos)[0]
        elif kind == 0x02:
            (n,) = struct.unpack_from("<i", doc, pos)
            out[name] = doc[pos + 4 : pos + 3 + n].decode("utf-8", "replace")
        if kind in _BSON_FIXED:
            pos += _BSON_FIXED[kind]
        elif kind in (0x02, 0x0D, 0x0E):
            pos += 4 + struct.unpack_from("<i", doc, pos)[0]
        elif kind in (0x03, 0x04, 0x0F):
            pos += struct.unpack_from("<i", doc, pos)[0]
        elif kind == 0x05:
            pos += 5 + struct.unpack_from("<i", doc, pos)[0]
        elif kind == 0x0B:  # regex: two cstrings
            pos = doc.index(b"\x00", doc.index(b"\x00", pos) + 1) + 1
        else:
            break
    return out


def check_mongo(port: int, timeout: float = 3.0) -> str | None:
    """Real protocol check: OP_MSG ``{ping: 1, $db: "admin"}`` must answer ``ok: 1``.

    Returns None when healthy, otherwise a short reason.
    """
    payload = struct.pack("<I", 0) + b"\x00" + _bson_ping()
    request = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(request)
            length, _req, response_to, opcode = struct.unpack("<iiii", _recv_exact(sock, 16))
            body = _recv_exact(sock, length - 16)
    except (OSError, ConnectionError, struct.error) as exc:
        return f"{type(exc).__name__}: {exc}"
    if opcode != 2013 or response_to != 1 or len(body) < 10 or body[4] != 0:
        return f"unexpected reply (opcode {opcode}, responseTo {response_to})"
    try:
        doc = _bson_top_level(body[5:])
    except (ValueError, IndexError, struct.error) as exc:
        return f"cannot decode reply: {exc}"
    ok = doc.get("ok")
    if isinstance(ok, int | float) and ok == 1:
        return None
    return f"ping answered ok={ok!r} {doc.get('errmsg', '')}".strip()


# --------------------------------------------------------------------------- processes


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


def _alive(pid: int | None, start_ticks: int | None) -> bool:
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


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _spawn(
    cmd: list[str], *, cwd: Path, log_path: Path, env: dict[str, str] | None = None
) -> tuple[int, int]:
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


def _stop_groups(pids: list[int], timeout: float, sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal each process group (SIGTERM), wait up to ``timeout``, then SIGKILL the survivors."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
    deadline = time.monotonic() + timeout
    remaining = list(pids)
    while remaining and time.monotonic() < deadline:
        remaining = [p for p in remaining if _alive(p, None)]
        if remaining:
            time.sleep(0.1)
    for pid in remaining:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 5
    while remaining and time.monotonic() < kill_deadline:
        remaining = [p for p in remaining if _alive(p, None)]
        if remaining:
            time.sleep(0.05)


# --------------------------------------------------------------------------- layout


@dataclasses.dataclass(frozen=True)
class _Layout:
    root: Path

    @property
    def stack_file(self) -> Path:
        return self.root / STACK_FILE

    @property
    def lock_file(self) -> Path:
        return self.root / ".stack.lock"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_logs(self) -> Path:
        return self.kafka_dir / "logs"

    @property
    def kafka_server_log(self) -> Path:
        return self.kafka_logs / "server.log"

    @property
    def kafka_out(self) -> Path:
        return self.kafka_logs / "kafka.out"

    @property
    def kafka_props(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def kafka_log4j(self) -> Path:
        return self.kafka_dir / "log4j2.properties"

    @property
    def mongo_dir(self) -> Path:
        return self.root / "ferretdb"

    @property
    def mongo_state(self) -> Path:
        return self.mongo_dir / "state"

    @property
    def mongo_log(self) -> Path:
        return self.mongo_dir / "ferretdb.log"

    @property
    def postgres_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def postgres_data(self) -> Path:
        return self.postgres_dir / "data"

    @property
    def postgres_log(self) -> Path:
        return self.postgres_dir / "postgres.log"

    @property
    def postgres_socket_dir(self) -> Path:
        """Where the server's Unix socket lives: a socket path may not exceed 107 bytes."""
        own = self.postgres_dir
        if len(str(own)) + len(f"/.s.PGSQL.{POSTGRES_SOCKET_PORT}") < 100:
            return own
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"regstd-pg-{digest}"


def _kafka_properties(cfg: StackConfig, lay: _Layout) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{cfg.controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{cfg.kafka_port},CONTROLLER://{HOST}:{cfg.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{cfg.kafka_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(lay.kafka_data),
        "num.partitions": "3",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        # The group coordinator holds each offset commit up to this long to batch it with others
        # (5 ms by default). Our consumers commit after every record, so the wait was most of a
        # record's time in a consumer: commit at once instead (decision 20).
        "group.coordinator.append.linger.ms": "0",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "log.retention.hours": "168",
    }
    lines = ["# generated by deploy/local/stack.py on every `up`; edits are overwritten"]
    lines += [f"{k}={v}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


_LOG4J2 = """# generated by deploy/local/stack.py: broker logs go to a file, nothing to stdout
status = warn
name = regstd-kafka
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def _java_cmd(lay: _Layout, main: str, *args: str, heap: bool = True) -> list[str]:
    cmd = [_require_java()]
    if heap:
        cmd += os.environ.get("REGSTD_KAFKA_HEAP", DEFAULT_KAFKA_HEAP).split()
        cmd += ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError"]
    else:
        cmd += ["-Xmx256m", "-XX:TieredStopAtLevel=1"]
    cmd += [
        "-Djava.awt.headless=true",
        # keep logging to the file while the broker shuts down (its own hook logs after log4j's)
        "-Dlog4j2.shutdownHookEnabled=false",
        f"-Dlog4j2.configurationFile={lay.kafka_log4j}",
        f"-Dkafka.logs.dir={lay.kafka_logs}",
        "-cp",
        f"{_kafka_libs()}/*",
        main,
        *args,
    ]
    return cmd


def _prepare_kafka(cfg: StackConfig, lay: _Layout, log: Log) -> None:
    for d in (lay.kafka_data, lay.kafka_logs):
        d.mkdir(parents=True, exist_ok=True)
    lay.kafka_props.write_text(_kafka_properties(cfg, lay))
    lay.kafka_log4j.write_text(_LOG4J2)
    if (lay.kafka_data / "meta.properties").is_file():
        return
    started = time.monotonic()
    cluster_id = (
        _run(
            _java_cmd(lay, "kafka.tools.StorageTool", "random-uuid", heap=False),
            what="Kafka StorageTool random-uuid",
        )
        .strip()
        .splitlines()[-1]
        .strip()
    )
    _run(
        _java_cmd(
            lay, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(lay.kafka_props), heap=False
        ),
        what="Kafka StorageTool format",
    )
    log(f"kafka: formatted {lay.kafka_data} (cluster id {cluster_id}) in {time.monotonic() - started:.1f} s")


def _start_kafka(cfg: StackConfig, lay: _Layout) -> tuple[int, int]:
    return _spawn(
        _java_cmd(lay, "kafka.Kafka", str(lay.kafka_props)), cwd=lay.kafka_dir, log_path=lay.kafka_out
    )


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as `nobody` in a user namespace."""
    if os.geteuid() != 0:
        return cmd
    unshare = _require_tool("unshare", "util-linux unshare", "install it with `apt-get install util-linux`")
    return [unshare, "--user", f"--map-user={POSTGRES_AS}", f"--map-group={POSTGRES_AS}", *cmd]


def _prepare_postgres(lay: _Layout, log: Log) -> None:
    lay.postgres_dir.mkdir(parents=True, exist_ok=True)
    lay.postgres_socket_dir.mkdir(parents=True, exist_ok=True)
    if (lay.postgres_data / "PG_VERSION").is_file():
        return
    started = time.monotonic()
    shutil.rmtree(lay.postgres_data, ignore_errors=True)  # a half-made cluster from a crash
    initdb = str(_require_postgres() / "initdb")
    _run(
        _as_postgres_user(
            [initdb, "-D", str(lay.postgres_data), "-U", "regstd", "-A", "trust", "-E", "UTF8", "--locale=C"]
        ),
        what="PostgreSQL initdb",
    )
    log(f"postgresql: created a cluster in {lay.postgres_data} in {time.monotonic() - started:.1f} s")


def _start_postgres(lay: _Layout) -> tuple[int, int]:
    # Unix socket only: no TCP port to pick or collide; durability as shipped (fsync, synchronous
    # commit), since FerretDB acknowledges a write once PostgreSQL has committed it.
    cmd = _as_postgres_user(
        [
            str(_require_postgres() / "postgres"),
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
            "-c",
            "log_min_messages=warning",
            *os.environ.get("REGSTD_POSTGRES_EXTRA", "").split(),
        ]
    )
    return _spawn(cmd, cwd=lay.postgres_dir, log_path=lay.postgres_log)


def _postgres_ready(lay: _Layout) -> bool:
    """The postmaster writes `ready` into line 8 of postmaster.pid once it accepts connections."""
    try:
        lines = (lay.postgres_data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _wait_postgres(cfg: StackConfig, lay: _Layout, postgres: tuple[int, int], offset: int) -> None:
    deadline = time.monotonic() + cfg.start_timeout
    while not _postgres_ready(lay):
        if not _alive(*postgres):
            raise StackError(
                f"postgresql exited during start-up (pid {postgres[0]})\n"
                f"--- {lay.postgres_log} (this start) ---\n{_tail_file(lay.postgres_log, offset)}"
            )
        if time.monotonic() > deadline:
            raise StackError(f"postgresql not ready after {cfg.start_timeout:.0f} s; see {lay.postgres_log}")
        time.sleep(0.05)


def _start_mongo(cfg: StackConfig, lay: _Layout) -> tuple[int, int]:
    lay.mongo_state.mkdir(parents=True, exist_ok=True)
    # pgx's pool defaults to four connections on two cores; every service instance and the relays
    # share this server, so allow more before a request waits for a connection.
    postgres_url = "postgres://regstd@/postgres?" + urllib.parse.urlencode(
        {"host": str(lay.postgres_socket_dir), "port": POSTGRES_SOCKET_PORT, "pool_max_conns": 50}
    )
    cmd = [
        str(_ferretdb_bin()),
        "--handler=postgresql",
        f"--postgresql-url={postgres_url}",
        f"--listen-addr={HOST}:{cfg.mongo_port}",
        "--debug-addr=" + os.environ.get("REGSTD_FERRETDB_DEBUG_ADDR", "-"),
        "--telemetry=disable",
        f"--state-dir={lay.mongo_state}",
        "--log-level=info",
        "--log-format=text",
    ]
    return _spawn(cmd, cwd=lay.mongo_dir, log_path=lay.mongo_log)


# --------------------------------------------------------------------------- state file


def _read_state(lay: _Layout) -> dict[str, Any] | None:
    try:
        data = json.loads(lay.stack_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_state(lay: _Layout, state: dict[str, Any]) -> None:
    tmp = lay.stack_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(lay.stack_file)


def _state_for(
    cfg: StackConfig,
    lay: _Layout,
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
            "version": f"ferretdb {FERRETDB_VERSION} on PostgreSQL {_postgres_major(_require_postgres())}",
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


def _component_pid(state: dict[str, Any] | None, name: str) -> tuple[int | None, int | None]:
    if not state or not isinstance(state.get(name), dict):
        return None, None
    comp: dict[str, Any] = state[name]
    pid, ticks = comp.get("pid"), comp.get("pid_start")
    return (pid if isinstance(pid, int) else None), (ticks if isinstance(ticks, int) else None)


def _component_port(state: dict[str, Any], name: str) -> int | None:
    comp = state.get(name)
    if isinstance(comp, dict) and isinstance(comp.get("port"), int):
        port: int = comp["port"]
        return port
    return None


def _health(state: dict[str, Any] | None, cfg: StackConfig) -> dict[str, Any]:
    """Check both services: recorded pid alive (when recorded) and real protocol check."""
    result: dict[str, Any] = {}
    for name, checker, default_port in (
        ("kafka", check_kafka, cfg.kafka_port),
        ("mongo", check_mongo, cfg.mongo_port),
    ):
        port = (_component_port(state, name) if state else None) or default_port
        pid, ticks = _component_pid(state, name)
        backing_pid, backing_ticks = _component_pid(state, "postgres") if name == "mongo" else (None, None)
        entry: dict[str, Any] = {"port": port, "pid": pid}
        if pid is not None and not _alive(pid, ticks):
            entry.update(healthy=False, reason=f"recorded process {pid} is not running")
        elif backing_pid is not None and not _alive(backing_pid, backing_ticks):
            entry.update(healthy=False, reason=f"its PostgreSQL (pid {backing_pid}) is not running")
        else:
            reason = checker(port)
            entry.update(healthy=reason is None, reason=reason)
        result[name] = entry
    return result


# --------------------------------------------------------------------------- commands


def _stop_recorded(lay: _Layout, state: dict[str, Any] | None, timeout: float) -> list[str]:
    stopped: list[str] = []
    pids: list[int] = []
    for name in ("kafka", "mongo"):
        pid, ticks = _component_pid(state, name)
        if pid is not None and _alive(pid, ticks):
            pids.append(pid)
            stopped.append(f"{name} (pid {pid})")
    _stop_groups(pids, timeout)
    # PostgreSQL after its only client; SIGINT is its fast shutdown (SIGTERM waits for clients)
    pid, ticks = _component_pid(state, "postgres")
    if pid is not None and _alive(pid, ticks):
        _stop_groups([pid], timeout, signal.SIGINT)
        stopped.append(f"postgres (pid {pid})")
    lay.stack_file.unlink(missing_ok=True)
    return stopped


def _log_offsets(lay: _Layout) -> dict[Path, int]:
    return {p: _file_size(p) for p in (lay.kafka_server_log, lay.kafka_out, lay.mongo_log, lay.postgres_log)}


def _wait_healthy(
    cfg: StackConfig,
    lay: _Layout,
    kafka: tuple[int, int],
    mongo: tuple[int, int],
    offsets: dict[Path, int],
) -> None:
    deadline = time.monotonic() + cfg.start_timeout
    pending = {"kafka", "mongo"}
    reasons: dict[str, str] = {}
    logs = {"kafka": (lay.kafka_server_log, lay.kafka_out), "mongo": (lay.mongo_log, lay.postgres_log)}

    def tails(name: str) -> str:
        return "\n".join(f"--- {p} (this start) ---\n{_tail_file(p, offsets.get(p, 0))}" for p in logs[name])

    procs = {"kafka": kafka, "mongo": mongo}
    checks = {"kafka": lambda: check_kafka(cfg.kafka_port), "mongo": lambda: check_mongo(cfg.mongo_port)}
    while pending:
        for name in sorted(pending):
            pid, ticks = procs[name]
            if not _alive(pid, ticks):
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


def up(config: StackConfig | None = None, log: Log | None = None) -> dict[str, Any]:
    """Start Kafka and FerretDB for ``config`` (installing if needed) and wait until healthy.

    Idempotent: a healthy stack already recorded in the data dir is reported, not restarted.
    Returns the content of ``<data-dir>/stack.json``.
    """
    cfg = config or StackConfig.from_env()
    cfg.validate()
    say = log or _stderr
    lay = _Layout(cfg.root)
    lay.root.mkdir(parents=True, exist_ok=True)
    with _locked(lay.lock_file):
        state = _read_state(lay)
        if state is not None:
            health = _health(state, cfg)
            if all(h["healthy"] for h in health.values()):
                recorded = (
                    _component_port(state, "kafka"),
                    (state.get("kafka") or {}).get("controller_port"),
                    _component_port(state, "mongo"),
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
            if not _port_free(port):
                raise StackError(
                    f"port {port} on {HOST} (wanted for {what}) is already in use by another process: "
                    "stop it, or pick other ports with --kafka-port/--controller-port/--mongo-port "
                    "(REGSTD_KAFKA_PORT, REGSTD_KAFKA_CONTROLLER_PORT, REGSTD_MONGO_PORT)"
                )

        if not (_kafka_installed() and _ferretdb_installed() and _find_postgres()):
            install(say)

        started = time.monotonic()
        _prepare_kafka(cfg, lay, say)
        _prepare_postgres(lay, say)
        kafka: tuple[int, int] | None = None
        mongo: tuple[int, int] | None = None
        postgres: tuple[int, int] | None = None
        offsets = _log_offsets(lay)
        try:
            postgres = _start_postgres(lay)
            kafka = _start_kafka(cfg, lay)
            _write_state(lay, _state_for(cfg, lay, kafka, None, postgres))
            _wait_postgres(cfg, lay, postgres, offsets[lay.postgres_log])
            mongo = _start_mongo(cfg, lay)
            state = _state_for(cfg, lay, kafka, mongo, postgres)
            _write_state(lay, state)
            _wait_healthy(cfg, lay, kafka, mongo, offsets)
        except BaseException:
            _stop_groups([p[0] for p in (kafka, mongo) if p is not None], cfg.stop_timeout)
            if postgres is not None:
                _stop_groups([postgres[0]], cfg.stop_timeout, signal.SIGINT)
            lay.stack_file.unlink(missing_ok=True)
            raise
        say(f"stack up in {time.monotonic() - started:.1f} s")
        return state


def down(config: StackConfig | None = None, purge: bool = False, log: Log | None = None) -> list[str]:
    """Stop the stack recorded in the data dir (idempotent); keeps data unless ``purge``.

    Returns descriptions of the processes that were stopped.
    """
    cfg = config or StackConfig.from_env()
    say = log or _stderr
    lay = _Layout(cfg.root)
    if not lay.root.exists():
        say(f"nothing to stop: {lay.root} does not exist")
        return []
    with _locked(lay.lock_file):
        started = time.monotonic()
        stopped = _stop_recorded(lay, _read_state(lay), cfg.stop_timeout)
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
    lay = _Layout(cfg.root)
    state = _read_state(lay)
    health = _health(state, cfg)
    return {
        "healthy": all(h["healthy"] for h in health.values()),
        "recorded": state is not None,
        "data_dir": str(lay.root),
        "kafka": {"bootstrap": f"{HOST}:{health['kafka']['port']}", **health["kafka"]},
        "mongo": {"url": f"mongodb://{HOST}:{health['mongo']['port']}/", **health["mongo"]},
    }


# --------------------------------------------------------------------------- CLI


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


if __name__ == "__main__":
    sys.exit(main())
