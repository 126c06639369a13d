"""The Kafka side every service shares: an idempotent producer with acks=all, and topics declared
explicitly with their partition counts (the broker is set never to auto-create a topic)."""

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from regstd.contracts import Topic

log = logging.getLogger(__name__)

DEAD_LETTER_PARTITIONS = 1


def make_broker(bootstrap: str, client_id: str) -> KafkaBroker:
    """A FastStream Kafka broker whose producer is idempotent and waits for all in-sync replicas."""
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,  # a short wait lets the relay's concurrent sends share a request
        logger=logging.getLogger(f"regstd.kafka.{client_id}"),
        # FastStream's two lines per message ("Received", "Processed") at DEBUG: at INFO they were a
        # JSON log line each in the hot path; the consumer's span and metrics say the same.
        log_level=logging.DEBUG,
    )


class TopicMismatch(RuntimeError):
    """A topic exists with fewer partitions than the registry declares."""


async def declare_topics(bootstrap: str, topics: Iterable[Topic]) -> None:
    """Create each topic and its dead-letter topic if missing; check existing partition counts.

    When every topic exists (every start but the first), this is one metadata request after the
    admin client's connection: names and partition counts come in the same answer."""
    wanted = {t.name: t.partitions for t in topics}
    wanted |= {t.dead_letter: DEAD_LETTER_PARTITIONS for t in topics}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="regstd-topics")
    await admin.start()
    try:
        have = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics()}
        missing = [
            NewTopic(name, num_partitions=n, replication_factor=1)
            for name, n in wanted.items()
            if name not in have
        ]
        if missing:
            # Another instance may declare the same topics between our listing and our request.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            log.info("declared topics", extra={"topics": sorted(t.name for t in missing)})
        # A topic just created (here or by another instance) may list no partitions yet.
        appearing = sorted(name for name in wanted if not have.get(name))
        if appearing:
            have |= await _partition_counts(admin, appearing)
        for name, count in wanted.items():
            if have.get(name, 0) < count:
                raise TopicMismatch(
                    f"topic {name} has {have.get(name, 0)} partitions, the registry declares {count}"
                )
    finally:
        await admin.close()


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: list[str], within_s: float = 10.0
) -> dict[str, int]:
    """Partition counts of the topics, waiting briefly for a new topic's metadata to propagate."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        counts = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(names)}
        if all(counts.get(name, 0) > 0 for name in names) or asyncio.get_running_loop().time() > deadline:
            return counts
        await asyncio.sleep(0.1)


class GroupBusy(RuntimeError):
    """Kafka refused to move a consumer group's position: a member of the group is running."""


async def rewind_group(bootstrap: str, group: str, topic: str) -> None:
    """Commit the beginning of every partition of a topic for a consumer group, so that it reads the
    topic again from there (what retention still keeps). Only while no member of the group runs:
    GroupBusy otherwise."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=f"{group}-rewind")
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, int(p["partition"])) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.commit(dict(await consumer.beginning_offsets(partitions)))
    except KafkaError as error:
        raise GroupBusy(
            f"Kafka refused to rewind group {group} on {topic}: {type(error).__name__}"
        ) from error
    finally:
        await consumer.stop()
