"""`regstd dlq list|show|replay` against the real broker: the operator sees a letter, reads it, and
replays it once (a second replay is skipped and says so)."""

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from regstd.cli.main import app
from regstd.contracts import Topic
from regstd.runtime.consumer import DLQ_ERROR, DLQ_ERROR_TYPE, DLQ_OFFSET, DLQ_PARTITION, DLQ_TOPIC
from regstd.runtime.kafka import declare_topics
from regstd.runtime.testing import letters, read_topic


async def a_dead_letter(bootstrap: str, topic: Topic) -> None:
    """The letter the consumer would write for a record at offset 5 of partition 1 that is no JSON."""
    await declare_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        headers = {
            "content-type": "application/json",
            DLQ_TOPIC: topic.name,
            DLQ_PARTITION: "1",
            DLQ_OFFSET: "5",
            DLQ_ERROR: "the value is not a JSON object",
            DLQ_ERROR_TYPE: "InvalidEvent",
        }
        await producer.send_and_wait(
            topic.dead_letter, b"{not json", key=b"k-1", headers=[(k, v.encode()) for k, v in headers.items()]
        )
    finally:
        await producer.stop()


def test_a_letter_is_listed_shown_and_replayed_once_from_the_command_line(stack: Any) -> None:
    topic = Topic(f"regstd.test.letters-{letters(8)}.v1", owner="test", partitions=2)
    asyncio.run(a_dead_letter(stack.kafka_bootstrap, topic))
    runner = CliRunner()
    at = ["--bootstrap", stack.kafka_bootstrap]

    listed = runner.invoke(app, ["dlq", "list", "--topic", topic.name, "--json", *at])
    assert listed.exit_code == 0, listed.output
    [letter] = json.loads(listed.output)[topic.dead_letter]
    assert letter["ref"] == f"{topic.dead_letter}:0:0"
    assert letter["origin"] == f"{topic.name}:1:5"
    assert letter["error"] == "InvalidEvent: the value is not a JSON object"
    table = runner.invoke(app, ["dlq", "list", "--topic", topic.name, *at], terminal_width=250)
    assert f"{topic.dead_letter}: 1 letter(s)" in table.output

    shown = runner.invoke(app, ["dlq", "show", letter["ref"], *at])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["value_preview"] == "{not json"
    missing = runner.invoke(app, ["dlq", "show", f"{topic.dead_letter}:0:7", *at])
    assert missing.exit_code == 1
    assert "no dead letter" in missing.output

    first = runner.invoke(app, ["dlq", "replay", letter["ref"], *at], terminal_width=250)
    assert first.exit_code == 0, first.output
    assert "1 replayed, 0 skipped" in first.output
    again = runner.invoke(app, ["dlq", "replay", "--all", "--topic", topic.name, *at], terminal_width=250)
    assert again.exit_code == 0, again.output
    assert "0 replayed, 1 skipped" in again.output
    records = asyncio.run(read_topic(stack.kafka_bootstrap, topic.name))
    assert [(r.partition, r.key, r.value) for r in records] == [(1, b"k-1", b"{not json")]
