"""Session fixtures shared by every test in the workspace.

Tests marked `infra` run against a real Kafka broker and a real FerretDB that this file starts once
per test session, on free ports in a temporary directory, with `deploy/local/stack.py`; it stops them
afterwards, also when tests fail. So `make test` works while `make run` is up. When the stack cannot
start (Java, Maven or Go missing, a download failing), every infra test errors with the reason.
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from regstd.runtime.testing import free_port

ROOT = Path(__file__).parent
STACK_SCRIPT = ROOT / "deploy" / "local" / "stack.py"


@dataclass(frozen=True)
class Stack:
    """Where the test session's infrastructure listens."""

    kafka_bootstrap: str
    mongo_url: str
    data_dir: Path


def _stack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(STACK_SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the real stack carries the `infra` marker, so `-m "not infra"` works."""
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.infra)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A real Kafka broker and FerretDB for this test session."""
    data_dir = tmp_path_factory.mktemp("stack")
    ports = [
        "--kafka-port", str(free_port()),
        "--controller-port", str(free_port()),
        "--mongo-port", str(free_port()),
    ]  # fmt: skip
    started = _stack("up", "--data-dir", str(data_dir), *ports, "--json")
    if started.returncode != 0:
        _stack("down", "--data-dir", str(data_dir))
        pytest.fail(
            "could not start the real Kafka and FerretDB for the infra tests "
            f"(deploy/local/stack.py up exited {started.returncode}):\n{started.stderr}{started.stdout}",
            pytrace=False,
        )
    try:
        info = json.loads(started.stdout)
        yield Stack(info["kafka"]["bootstrap"], info["mongo"]["url"], data_dir)
    finally:
        stopped = _stack("down", "--data-dir", str(data_dir))
        if stopped.returncode != 0:
            print(f"stack down failed: {stopped.stderr}", file=sys.stderr)
