"""Each service's entry point starts against the real stack, declares the topics, and stops cleanly."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from regstd.contracts import TOPICS
from regstd.runtime.testing import free_port

BIN = Path(sys.executable).parent


def _wait_for_log(process: subprocess.Popen[str], message: str, within_s: float) -> list[dict[str, Any]]:
    """Read JSON log lines from stderr until one has the message; fail with what was seen."""
    assert process.stderr is not None
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        try:
            seen.append(json.loads(line))
        except ValueError:
            seen.append({"message": line.strip(), "not_json": True})
        if seen[-1].get("message") == message:
            return seen
    raise AssertionError(f"no {message!r} log line; the service said: {seen}")


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


@pytest.mark.parametrize("entry_point", ["regstd-intake", "regstd-publication", "regstd-harmonization"])
def test_a_service_starts_declares_its_topics_and_stops_on_sigterm(
    stack: Any, entry_point: str, tmp_path: Path
) -> None:
    env = dict(
        os.environ,
        REGSTD_KAFKA_BOOTSTRAP=stack.kafka_bootstrap,
        REGSTD_MONGO_URL=stack.mongo_url,
        REGSTD_MONGO_DATABASE=f"start_{entry_point.replace('-', '_')}",
        REGSTD_HTTP_PORT=str(free_port()),  # so it never collides with a running `make run`
        REGSTD_SPANS_DIR=str(tmp_path / "spans"),  # not the developer's ./var
    )
    process = subprocess.Popen([str(BIN / entry_point)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines = _wait_for_log(process, "runtime started", within_s=60)
        assert all(not line.get("not_json") for line in lines), "every log line is JSON"
        process.send_signal(signal.SIGTERM)
        # Read what it still logs while it stops: a full pipe would hold the process up.
        _, rest = process.communicate(timeout=30)
        assert process.returncode == 0, rest[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    existing = asyncio.run(_topics(stack.kafka_bootstrap))
    for topic in TOPICS.values():
        assert {topic.name, topic.dead_letter} <= existing
