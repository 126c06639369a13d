"""Where the stack keeps its files in a data directory."""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from pathlib import Path

from .common import STACK_FILE

POSTGRES_SOCKET_PORT = 5432


@dataclasses.dataclass(frozen=True)
class Layout:
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
