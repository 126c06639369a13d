"""A partner city's subscriber against the real broker: stopped mid-stream and restarted, it misses
nothing and prints nothing twice."""

import asyncio
import random
import string
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker

from regstd.cli.subscriber import CityLedger, CitySubscriber, run_subscriber
from regstd.contracts.common import TextReference
from regstd.contracts.publication import PartyNumber, StandardPublished
from regstd.contracts.reference import PartnerCity
from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.runtime.events import new_event, to_kafka
from regstd.runtime.kafka import declare_topics
from regstd.runtime.testing import letters


def standard(area: str, sequence: int, category: str = "transport") -> StandardPublished:
    return StandardPublished(
        standard_id=f"std-{area}-{sequence}",
        project_id=f"prj-{area}-{sequence}",
        area=area,
        parties=["50", "51"],
        numbers=[
            PartyNumber(party="50", number=f"DB50/T {sequence}—2026"),
            PartyNumber(party="51", number=f"DB51/T {sequence}—2026"),
        ],
        sequence=sequence,
        year=2026,
        title_zh=f"测试标准{sequence}",
        category=category,
        kind="recommended",
        publication_date=date(2026, 11, 22),
        implementation_date=date(2027, 2, 20),
        text=TextReference(location=f"https://texts.example/{sequence}.pdf", sha256="0" * 64),
        published_at=datetime(2026, 11, 22, 2, 0, tzinfo=UTC),
    )


async def publish(bootstrap: str, events: list[StandardPublished]) -> None:
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    await broker.start()
    try:
        for event in events:
            record = to_kafka(new_event(event))
            await broker.publish(record.value, record.topic, key=record.key, headers=record.headers)
    finally:
        await broker.stop()


async def test_a_city_restarted_mid_stream_misses_nothing_and_prints_nothing_twice(
    stack: Any, tmp_path: Path
) -> None:
    area = "zz" + letters(8)  # this test's own traffic
    city = PartnerCity(
        code="9" + "".join(random.choices(string.digits, k=5)), name_zh="测试市", region="51", areas=(area,)
    )
    await declare_topics(stack.kafka_bootstrap, [PUBLICATION_STANDARDS])
    await publish(stack.kafka_bootstrap, [standard(area, 10001 + i) for i in range(30)])
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

    await run_until(12)  # stopped mid-stream
    assert 12 <= len(printed) < 30
    await publish(stack.kafka_bootstrap, [standard(area, 10031 + i) for i in range(20)])
    await run_until(50)  # restarted with the same group and ledger

    assert len(printed) == 50, "every wanted standard printed"
    assert len(set(printed)) == 50, "nothing printed twice"
    assert all("agriculture" not in line and "elsewhere" not in line for line in printed), "filters hold"
    ledger = CityLedger(ledger_path)
    try:
        recorded = [sid for sid, _, _ in ledger.standards()]  # order holds per partition, not across them
        assert sorted(recorded) == [f"std-{area}-{10001 + i}" for i in range(50)]
    finally:
        ledger.close()
