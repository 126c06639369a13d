"""Hand-over after a crash (issue 14, item 5): events saved by an instance that is killed with -9
before its relay publishes them are published by another instance within 10 s, and while the first
instance lived, its renewed leases kept the other away."""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from regstd.bench.chaos import Chaos
from regstd.cli.client import TokenBookFile
from regstd.contracts.topics import INTAKE_PROJECTS
from regstd.runtime.testing import drop_databases

REQUIREMENT_S = 10.0
LEASE_S = 5.0  # the default lease (RuntimeSettings.relay_lease_s)


async def _first_of(consumer: AIOKafkaConsumer, subject: str, within_s: float) -> float | None:
    """The monotonic time a record about `subject` arrives, or None if none within `within_s`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=100)).values():
            if any(dict(r.headers).get("ce_subject") == subject.encode() for r in records):
                return time.monotonic()
    return None


async def test_events_of_an_instance_killed_before_publishing_are_published_by_the_other_within_10_s(
    stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chaos = Chaos(stack.kafka_bootstrap, stack.mongo_url, tmp_path)
    await chaos.prepare()
    # "dying" holds what it saves (its relay pauses before sending, renewing its leases meanwhile)
    dying = chaos.instance("intake-dying", "project-intake", REGSTD_RELAY_PUBLISH_DELAY_S="3600")
    chaos.instance("intake-live", "project-intake")
    reader = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, group_id=None)
    try:
        await chaos.start("intake-dying", "intake-live")
        await reader.start()
        partitions = [TopicPartition(INTAKE_PROJECTS.name, p) for p in range(INTAKE_PROJECTS.partitions)]
        reader.assign(partitions)
        await reader.seek_to_end(*partitions)
        for tp in partitions:
            await reader.position(tp)  # fixed now, before the save

        book = TokenBookFile.load(chaos.book_path)
        async with httpx.AsyncClient(timeout=30) as http:
            created = await http.post(
                f"{dying.url}/projects",
                headers={"Authorization": f"Bearer {book.token('50')}"},
                json={
                    "area": "chengyu",
                    "parties": ["50", "51"],
                    "title_zh": f"川渝地区交接测试{chaos.run}规范",
                    "scope": "规定了交接测试的技术要求。",
                    "category": "transport",
                    "kind": "recommended",
                    "proposing_organisations": ["交接测试"],
                },
            )
        assert created.status_code == 201, created.text
        project_id = created.json()["project_id"]

        early = await _first_of(reader, project_id, within_s=LEASE_S + 1.5)
        assert early is None, "while its holder lives and renews the lease, no other instance publishes"

        await asyncio.to_thread(dying.kill)
        killed = time.monotonic()
        published = await _first_of(reader, project_id, within_s=REQUIREMENT_S)
        assert published is not None, f"no other instance published the event within {REQUIREMENT_S} s"
        with capsys.disabled():
            print(
                f"\nhand-over after kill -9: published by the other instance {published - killed:.1f} s later"
            )
    finally:
        await reader.stop()
        chaos.stop_all()
        await drop_databases(stack.mongo_url, *chaos.databases.values())
