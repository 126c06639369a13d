"""Kafka: its jars fetched with Maven into the cache, its configuration, its start, and its health
check in Kafka's wire protocol (ApiVersions, then Metadata)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import tempfile
import time
from pathlib import Path

from .common import HOST, Log, StackConfig, StackError, cache_root, recv_exact, require_tool, run
from .layout import Layout
from .processes import spawn

KAFKA_VERSION = "4.1.2"
SCALA_BINARY_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
DEFAULT_KAFKA_HEAP = "-Xms256m -Xmx768m"
MIN_JAVA = 17


def kafka_home() -> Path:
    """Cache directory of the Kafka runtime classpath."""
    return cache_root() / f"kafka-{KAFKA_VERSION}"


def kafka_libs() -> Path:
    return kafka_home() / "libs"


def _kafka_stamp() -> Path:
    return kafka_home() / ".complete"


def require_mvn() -> str:
    return require_tool("mvn", "Maven", "install it with `apt-get install maven`")


def _java_major(java: str) -> int:
    out = run([java, "-version"], what="java -version")
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return 0
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def require_java() -> str:
    java = require_tool(
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


def kafka_installed() -> bool:
    libs = kafka_libs()
    return _kafka_stamp().is_file() and (libs / f"kafka_{SCALA_BINARY_VERSION}-{KAFKA_VERSION}.jar").is_file()


def install_kafka(log: Log) -> None:
    if kafka_installed():
        log(f"kafka {KAFKA_VERSION}: cached in {kafka_home()}")
        return
    mvn = require_mvn()
    require_java()
    home = kafka_home()
    home.mkdir(parents=True, exist_ok=True)
    _kafka_stamp().unlink(missing_ok=True)
    started = time.monotonic()
    log(f"kafka {KAFKA_VERSION}: fetching the broker's runtime classpath with Maven into {kafka_libs()} ...")
    partial = home / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="regstd-kafka-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(
            _KAFKA_POM.format(scala=SCALA_BINARY_VERSION, kafka=KAFKA_VERSION, log4j=LOG4J_VERSION)
        )
        run(
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
    shutil.rmtree(kafka_libs(), ignore_errors=True)
    partial.rename(kafka_libs())
    jars = len(list(kafka_libs().glob("*.jar")))
    _kafka_stamp().write_text(f"kafka={KAFKA_VERSION}\nlog4j={LOG4J_VERSION}\njars={jars}\n")
    log(f"kafka {KAFKA_VERSION}: {jars} jars in {time.monotonic() - started:.1f} s")


def _kafka_properties(cfg: StackConfig, lay: Layout) -> str:
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


def _java_cmd(lay: Layout, main: str, *args: str, heap: bool = True) -> list[str]:
    cmd = [require_java()]
    if heap:
        cmd += os.environ.get("REGSTD_KAFKA_HEAP", DEFAULT_KAFKA_HEAP).split()
        cmd += ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError"]
    else:
        cmd += ["-Xmx256m"]
    # The quick compiler only: on two cores, the optimising compiler took about 8 % of all CPU
    # for the broker's first minutes, more than the broker's own request handling (decision 47).
    cmd += ["-XX:TieredStopAtLevel=1"]
    cmd += [
        "-Djava.awt.headless=true",
        # keep logging to the file while the broker shuts down (its own hook logs after log4j's)
        "-Dlog4j2.shutdownHookEnabled=false",
        f"-Dlog4j2.configurationFile={lay.kafka_log4j}",
        f"-Dkafka.logs.dir={lay.kafka_logs}",
        "-cp",
        f"{kafka_libs()}/*",
        main,
        *args,
    ]
    return cmd


def prepare_kafka(cfg: StackConfig, lay: Layout, log: Log) -> None:
    for d in (lay.kafka_data, lay.kafka_logs):
        d.mkdir(parents=True, exist_ok=True)
    lay.kafka_props.write_text(_kafka_properties(cfg, lay))
    lay.kafka_log4j.write_text(_LOG4J2)
    if (lay.kafka_data / "meta.properties").is_file():
        return
    started = time.monotonic()
    cluster_id = (
        run(
            _java_cmd(lay, "kafka.tools.StorageTool", "random-uuid", heap=False),
            what="Kafka StorageTool random-uuid",
        )
        .strip()
        .splitlines()[-1]
        .strip()
    )
    run(
        _java_cmd(
            lay, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(lay.kafka_props), heap=False
        ),
        what="Kafka StorageTool format",
    )
    log(f"kafka: formatted {lay.kafka_data} (cluster id {cluster_id}) in {time.monotonic() - started:.1f} s")


def start_kafka(cfg: StackConfig, lay: Layout) -> tuple[int, int]:
    return spawn(
        _java_cmd(lay, "kafka.Kafka", str(lay.kafka_props)), cwd=lay.kafka_dir, log_path=lay.kafka_out
    )


# --------------------------------------------------------------------------- protocol check


_KAFKA_CLIENT_ID = b"regstd-stack"


def _kafka_call(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, corr, len(_KAFKA_CLIENT_ID)) + _KAFKA_CLIENT_ID
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    resp = recv_exact(sock, size)
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
