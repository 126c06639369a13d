"""A partner city's subscriber against the real broker: stopped mid-stream and restarted, it misses
nothing and prints nothing twice; a widened filter replays what the narrower one skipped, once each."""

import asyncio
import random
import string
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker

from regstd.cli.subscriber import CityLedger, CitySubscriber, run_subscriber
from regstd.contracts.publication import StandardPublished
from regstd.contracts.reference import PartnerCity
from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.runtime.events import new_event, to_kafka
from regstd.runtime.kafka import GroupBusy, declare_topics, rewind_group
from regstd.runtime.testing import consumed_to_end, eventually, letters

from .standards import standard


async def publish(bootstrap: str, events: list[StandardPublished]) -> None:
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    await broker.start()
    try:
        for event in events:
            record = to_kafka(new_event(event))
            await broker.publish(record.value, record.topic, key=record.key, headers=record.headers)
    finally:
        await broker.stop()


FIRST = 200
"""Standards on the topic before the city's first run."""


async def test_a_city_restarted_mid_stream_misses_nothing_and_prints_nothing_twice(
    stack: Any, tmp_path: Path
) -> None:
    area = "zz" + letters(8)  # this test's own traffic
    city = PartnerCity(
        code="9" + "".join(random.choices(string.digits, k=5)), name_zh="测试市", region="51", areas=(area,)
    )
    await declare_topics(stack.kafka_bootstrap, [PUBLICATION_STANDARDS])
    await publish(stack.kafka_bootstrap, [standard(area, 10001 + i) for i in range(FIRST)])
    await publish(stack.kafka_bootstrap, [standard("elsewhere", 1)])
    await publish(stack.kafka_bootstrap, [standard(area, 20001, category="agriculture")])

    printed: list[str] = []
    ledger_path = tmp_path / "city.sqlite"

    async def run_until(count: int, categories: tuple[str, ...] = ("transport",)) -> None:
        stop = asyncio.Event()

        def announce(line: str) -> None:
            printed.append(line)
            if len(printed) >= count:
                stop.set()

        ledger = CityLedger(ledger_path)
        subscriber = CitySubscriber(city, ledger, categories=categories, announce=announce)
        try:
            await asyncio.wait_for(run_subscriber(subscriber, stack.kafka_bootstrap, stop), 60)
        finally:
            ledger.close()

    # Stopped mid-stream: the records being handled end, those not started come again. So many
    # that the records already fetched cannot all have started when the stop comes.
    await run_until(12)
    assert 12 <= len(printed) < FIRST
    await publish(stack.kafka_bootstrap, [standard(area, 10001 + FIRST + i) for i in range(20)])
    await run_until(FIRST + 20)  # restarted with the same group and ledger

    assert len(printed) == FIRST + 20, "every wanted standard printed"
    assert len(set(printed)) == FIRST + 20, "nothing printed twice"
    assert all("agriculture" not in line and "elsewhere" not in line for line in printed), "filters hold"
    ledger = CityLedger(ledger_path)
    try:
        recorded = [sid for sid, _, _ in ledger.standards()]  # order holds per partition, not across them
        assert sorted(recorded) == [f"std-{area}-{10001 + i}" for i in range(FIRST + 20)]
    finally:
        ledger.close()


async def test_a_widened_filter_replays_what_the_narrower_one_skipped_once_each(
    stack: Any, tmp_path: Path
) -> None:
    # Regression (issue 13): widening a subscriber's filter never delivered what it had skipped.
    area = "zz" + letters(8)
    city = PartnerCity(
        code="9" + "".join(random.choices(string.digits, k=5)), name_zh="测试市", region="51", areas=(area,)
    )
    group = f"city-{city.code}"
    await declare_topics(stack.kafka_bootstrap, [PUBLICATION_STANDARDS])
    await publish(stack.kafka_bootstrap, [standard(area, 30001 + i) for i in range(3)])
    await publish(
        stack.kafka_bootstrap, [standard(area, 40001 + i, category="agriculture") for i in range(2)]
    )
    ledger_path = tmp_path / "city.sqlite"

    async def run(categories: tuple[str, ...], *, replay: bool, lines: int) -> list[str]:
        """Subscribe until `lines` are printed and the group has consumed the topic to its end."""
        printed: list[str] = []
        stop = asyncio.Event()
        ledger = CityLedger(ledger_path)
        subscriber = CitySubscriber(city, ledger, categories=categories, announce=printed.append)

        async def done() -> bool:
            return len(printed) >= lines and await consumed_to_end(stack.kafka_bootstrap, group, topic)

        async def watch() -> None:
            await eventually(done, f"{lines} lines printed and the topic consumed", within=90)
            stop.set()

        topic = PUBLICATION_STANDARDS.name
        watcher = asyncio.create_task(watch())
        try:
            await asyncio.wait_for(
                run_subscriber(subscriber, stack.kafka_bootstrap, stop, replay_skipped=replay), 90
            )
        finally:
            watcher.cancel()
            ledger.close()
        return printed

    first = await run(("transport",), replay=False, lines=3)
    assert sorted(line.split("  ")[0] for line in first) == [
        f"[{city.code} 测试市] DB50/T {30001 + i}—2026 = DB51/T {30001 + i}—2026" for i in range(3)
    ]
    offered = await run((), replay=False, lines=1)  # widened: offered, nothing delivered yet
    assert len(offered) == 1
    assert "also accepts categories all, which an earlier filter skipped" in offered[0]
    assert "--replay-skipped" in offered[0]

    replayed = await run((), replay=True, lines=3)
    assert "replaying the topic from its beginning" in replayed[0]
    assert sorted(line.split("  ")[0] for line in replayed[1:]) == [
        f"[{city.code} 测试市] DB50/T {40001 + i}—2026 = DB51/T {40001 + i}—2026" for i in range(2)
    ], "each skipped standard once, nothing received before again"
    again = await run((), replay=False, lines=0)
    assert again == [], "after the replay nothing is offered or delivered again"
    ledger = CityLedger(ledger_path)
    try:
        assert sorted(sid for sid, _, _ in ledger.standards()) == sorted(
            [f"std-{area}-{30001 + i}" for i in range(3)] + [f"std-{area}-{40001 + i}" for i in range(2)]
        )
    finally:
        ledger.close()


async def test_a_replay_is_refused_while_the_citys_subscriber_runs(stack: Any, tmp_path: Path) -> None:
    area = "zz" + letters(8)
    city = PartnerCity(code="9" + "".join(random.choices(string.digits, k=5)), name_zh="测试市", region="51",
                       areas=(area,))  # fmt: skip
    await declare_topics(stack.kafka_bootstrap, [PUBLICATION_STANDARDS])
    await publish(stack.kafka_bootstrap, [standard(area, 50001)])
    received = asyncio.Event()
    stop = asyncio.Event()
    ledger = CityLedger(tmp_path / "city.sqlite")
    subscriber = CitySubscriber(city, ledger, announce=lambda _: received.set())
    running = asyncio.create_task(run_subscriber(subscriber, stack.kafka_bootstrap, stop))
    try:
        await asyncio.wait_for(received.wait(), 60)
        with pytest.raises(GroupBusy, match=f"Kafka refused to rewind group city-{city.code}"):
            await rewind_group(stack.kafka_bootstrap, subscriber.group_id, PUBLICATION_STANDARDS.name)
    finally:
        stop.set()
        await running
        ledger.close()
