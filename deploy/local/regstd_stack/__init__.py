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

Command line (``deploy/local/stack.py`` runs :func:`regstd_stack.cli.main`)::

    python3 deploy/local/stack.py <install|up|down|status> [--data-dir DIR]
        [--kafka-port N] [--controller-port N] [--mongo-port N] [--json] [--purge]

Importable API: :func:`install`, :func:`up`, :func:`down`, :func:`status` with
:class:`StackConfig`.
"""

from __future__ import annotations

from .cli import main
from .common import (
    HOST,
    STACK_FILE,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Log,
    StackConfig,
    StackError,
    cache_root,
)
from .ferretdb import FERRETDB_MODULE, FERRETDB_VERSION, check_mongo, ferretdb_home
from .ferretdb_patch import FERRETDB_PATCH
from .kafka import (
    DEFAULT_KAFKA_HEAP,
    DEPENDENCY_PLUGIN,
    KAFKA_VERSION,
    LOG4J_VERSION,
    MIN_JAVA,
    SCALA_BINARY_VERSION,
    check_kafka,
    kafka_home,
)
from .layout import POSTGRES_SOCKET_PORT
from .lifecycle import down, install, status, up
from .postgres import MIN_POSTGRES, POSTGRES_AS, POSTGRES_PACKAGE

__all__ = [
    "DEFAULT_KAFKA_HEAP",
    "DEPENDENCY_PLUGIN",
    "FERRETDB_MODULE",
    "FERRETDB_PATCH",
    "FERRETDB_VERSION",
    "HOST",
    "KAFKA_VERSION",
    "LOG4J_VERSION",
    "MIN_JAVA",
    "MIN_POSTGRES",
    "POSTGRES_AS",
    "POSTGRES_PACKAGE",
    "POSTGRES_SOCKET_PORT",
    "SCALA_BINARY_VERSION",
    "STACK_FILE",
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "Log",
    "StackConfig",
    "StackError",
    "cache_root",
    "check_kafka",
    "check_mongo",
    "down",
    "ferretdb_home",
    "install",
    "kafka_home",
    "main",
    "status",
    "up",
]
