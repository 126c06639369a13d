"""Dead letters for operators: list them, show one, and replay chosen ones to their origin topic.

A dead letter is a record the consumer (`regstd.runtime.consumer`) could not decode, validate or
handle, copied unchanged to `<topic>.dlq` with `x-dlq-*` headers saying where it came from and why.
A letter is named by its place on the dead-letter topic, `<dlq topic>:<partition>:<offset>`
(`LetterRef`).

Replaying re-publishes a letter's original key, value and headers (without the `x-dlq-*` ones) to
its origin topic and partition, for every consumer group of that topic: groups that processed the
event already drop it by its CloudEvents id. A replay is recorded on the compacted topic
`<topic>.dlq.replayed`, keyed by the letter's origin position (`<topic>:<partition>:<offset>`), in
the same Kafka transaction as the re-published record: a letter is re-published once however often
it is replayed, also when two consumer groups dead-lettered the same record and also when the
record has no valid CloudEvents id. Consumers read committed records only, so a replay that
crashes before its commit is never seen (decision 30).
"""

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ProducerFenced, TopicAlreadyExistsError

from regstd.contracts import TOPICS
from regstd.contracts.topics import DEAD_LETTER_SUFFIX
from regstd.runtime.consumer import (
    DLQ_ATTEMPTS,
    DLQ_ERROR,
    DLQ_ERROR_TYPE,
    DLQ_FAILED_AT,
    DLQ_GROUP,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_TOPIC,
)

REPLAYED_SUFFIX = ".replayed"
"""`<topic>.dlq.replayed`: the compacted record of the letters already replayed."""

REPLAYED_FROM = "x-regstd-replayed-from"
"""Header on a re-published record: the letter it was replayed from (for tracing it back)."""

DLQ_HEADER_PREFIX = "x-dlq-"

PREVIEW_CHARS = 2000


class DeadLetterError(Exception):
    """An operator's request about dead letters that cannot be done; the message says why."""


class LetterNotFound(DeadLetterError):
    """No dead letter at the named place."""


@dataclass(frozen=True)
class LetterRef:
    """Where a dead letter sits: its dead-letter topic, partition and offset."""

    topic: str
    partition: int
    offset: int

    @classmethod
    def parse(cls, text: str) -> "LetterRef":
        """Read `<topic>:<partition>:<offset>` or `<topic>:<offset>` (partition 0; a dead-letter
        topic has one). The topic may be the origin topic or its `.dlq` topic."""
        parts = text.strip().split(":")
        try:
            if len(parts) == 3:
                topic, partition, offset = parts[0], int(parts[1]), int(parts[2])
            elif len(parts) == 2:
                topic, partition, offset = parts[0], 0, int(parts[1])
            else:
                raise ValueError(text)
        except ValueError:
            raise DeadLetterError(
                f"{text!r} is not a letter reference: use <topic>:<partition>:<offset>, "
                "e.g. regstd.intake.projects.v1.dlq:0:3"
            ) from None
        if not topic or partition < 0 or offset < 0:
            raise DeadLetterError(f"{text!r}: the topic must be named, partition and offset not negative")
        return cls(dead_letter_topic(topic), partition, offset)

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Replay:
    """The record of one replayed letter, kept on `<topic>.dlq.replayed`."""

    letter: str
    replayed_at: str
    partition: int
    offset: int


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter: the record as it was received, and what the consumer said about it."""

    ref: LetterRef
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    timestamp: datetime
    replayed: Replay | None = None

    @property
    def origin_topic(self) -> str | None:
        """The topic the record was consumed from."""
        return self.headers.get(DLQ_TOPIC)

    @property
    def origin_partition(self) -> int | None:
        """The partition the record was consumed from."""
        return _int(self.headers.get(DLQ_PARTITION))

    @property
    def origin_offset(self) -> int | None:
        """The record's offset on its origin partition."""
        return _int(self.headers.get(DLQ_OFFSET))

    @property
    def origin(self) -> str | None:
        """`<topic>:<partition>:<offset>` of the original record; None for a record the runtime's
        consumer did not dead-letter (it names no origin and cannot be replayed)."""
        if self.origin_topic is None or self.origin_partition is None or self.origin_offset is None:
            return None
        return f"{self.origin_topic}:{self.origin_partition}:{self.origin_offset}"

    @property
    def group(self) -> str | None:
        """The consumer group that gave up on it."""
        return self.headers.get(DLQ_GROUP)

    @property
    def error(self) -> str:
        """Why: the error's type and message."""
        kind, message = self.headers.get(DLQ_ERROR_TYPE, ""), self.headers.get(DLQ_ERROR, "")
        return f"{kind}: {message}" if kind else message

    @property
    def attempts(self) -> int | None:
        """How often the handler was tried (1 for a record that did not decode)."""
        return _int(self.headers.get(DLQ_ATTEMPTS))

    @property
    def failed_at(self) -> str:
        """When the consumer gave up (ISO 8601, UTC); else the dead-letter record's timestamp."""
        return self.headers.get(DLQ_FAILED_AT) or self.timestamp.isoformat()

    @property
    def event_id(self) -> str | None:
        """The CloudEvents id, when the record had one."""
        return self.headers.get("ce_id")

    @property
    def event_type(self) -> str | None:
        """The CloudEvents type, when the record had one."""
        return self.headers.get("ce_type")

    @property
    def original_headers(self) -> dict[str, str]:
        """The headers the record had on its origin topic (without the consumer's `x-dlq-*`)."""
        return {k: v for k, v in self.headers.items() if not k.startswith(DLQ_HEADER_PREFIX)}

    def preview(self, chars: int = PREVIEW_CHARS) -> str:
        """The value as text (undecodable bytes replaced), cut to `chars` characters."""
        text = (self.value or b"").decode("utf-8", "replace")
        return text if len(text) <= chars else f"{text[:chars]}… ({len(self.value or b'')} bytes)"

    def summary(self) -> dict[str, Any]:
        """The letter's listing line as JSON-able values."""
        return {
            "ref": str(self.ref),
            "origin": self.origin,
            "group": self.group,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "error": self.error,
            "attempts": self.attempts,
            "failed_at": self.failed_at,
            "replayed": None if self.replayed is None else self.replayed.replayed_at,
        }

    def details(self) -> dict[str, Any]:
        """Everything about the letter as JSON-able values: key, headers, value preview."""
        return self.summary() | {
            "key": None if self.key is None else self.key.decode("utf-8", "replace"),
            "headers": self.headers,
            "value_bytes": len(self.value or b""),
            "value_preview": self.preview(),
            "replay": None if self.replayed is None else vars(self.replayed),
        }


@dataclass(frozen=True)
class ReplayOutcome:
    """What replaying one letter did: re-published it now, or found it replayed before."""

    letter: str
    origin: str
    replayed_now: bool
    replay: Replay


@dataclass(frozen=True)
class _Reader:
    """A consumer outside any group that reads committed records only, and an admin client."""

    consumer: AIOKafkaConsumer
    admin: AIOKafkaAdminClient

    async def partitions(self, topic: str) -> list[TopicPartition]:
        """The partitions of a topic; none when it does not exist."""
        [described] = await self.admin.describe_topics([topic])
        return [TopicPartition(topic, int(p["partition"])) for p in described.get("partitions") or ()]


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of a topic; a dead-letter topic names itself."""
    return topic if topic.endswith(DEAD_LETTER_SUFFIX) else topic + DEAD_LETTER_SUFFIX


def replayed_topic(dead_letter: str) -> str:
    """Where the replays of a dead-letter topic's letters are recorded."""
    return dead_letter + REPLAYED_SUFFIX


def known_dead_letter_topics() -> list[str]:
    """The dead-letter topics of every registered topic."""
    return sorted(topic.dead_letter for topic in TOPICS.values())


async def list_letters(
    bootstrap: str, topics: Iterable[str] | None = None, *, limit: int | None = None
) -> dict[str, list[DeadLetter]]:
    """The dead letters of each topic (origin or `.dlq` names; default: every registered topic),
    oldest first; with `limit`, the latest `limit` of each. A topic that does not exist has none."""
    names = sorted({dead_letter_topic(t) for t in topics}) if topics else known_dead_letter_topics()
    listed: dict[str, list[DeadLetter]] = {}
    async with _reader(bootstrap) as reader:
        for name in names:
            replays = await _replays(reader, name)
            letters = [_letter(record, replays) for record in await _read_all(reader, name)]
            listed[name] = letters[-limit:] if limit else letters
    return listed


async def show_letter(bootstrap: str, ref: LetterRef | str) -> DeadLetter:
    """One dead letter in full; LetterNotFound when there is none at `ref`."""
    where = LetterRef.parse(ref) if isinstance(ref, str) else ref
    async with _reader(bootstrap) as reader:
        record = await _read_one(reader, where)
        return _letter(record, await _replays(reader, where.topic))


async def replay_letters(
    bootstrap: str, refs: Sequence[LetterRef | str] = (), *, all_of: str | None = None
) -> list[ReplayOutcome]:
    """Re-publish the named letters (or every letter of the topic `all_of`) to their origin topic,
    partition and key, with their original value and headers; each at most once, ever.

    Letters of one dead-letter topic are replayed in one Kafka transaction together with their
    replay records: either all of them are re-published and recorded, or none. A concurrent replay
    of the same topic fences this one (DeadLetterError: run it again, it skips what the other did).
    """
    wanted = [LetterRef.parse(r) if isinstance(r, str) else r for r in refs]
    if not wanted and all_of is None:
        raise DeadLetterError("name the letters to replay, or a topic with --all")
    outcomes: list[ReplayOutcome] = []
    async with _reader(bootstrap) as reader:
        by_topic: dict[str, list[DeadLetter]] = {}
        if all_of is not None:
            name = dead_letter_topic(all_of)
            by_topic[name] = [_letter(r, {}) for r in await _read_all(reader, name)]
        for where in wanted:
            by_topic.setdefault(where.topic, []).append(_letter(await _read_one(reader, where), {}))
        for name, letters in by_topic.items():
            for letter in letters:
                if letter.origin is None:
                    raise DeadLetterError(f"letter {letter.ref} names no origin topic: it cannot be replayed")
            await _ensure_replayed_topic(reader, name)
            outcomes += await _replay_topic(bootstrap, reader, name, letters)
    return outcomes


async def _replay_topic(
    bootstrap: str, reader: _Reader, dead_letter: str, letters: list[DeadLetter]
) -> list[ReplayOutcome]:
    # Starting a producer with this transactional id fences (and aborts) any earlier one's open
    # transaction: the replays read next are all that ever committed.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=f"regstd-dlq-replay-{dead_letter}",
        enable_idempotence=True,
        acks="all",
    )
    await producer.start()
    try:
        done = await _replays(reader, dead_letter)
        outcomes: list[ReplayOutcome] = []
        async with producer.transaction():
            for letter in letters:
                origin = letter.origin
                assert origin is not None  # checked by the caller
                if origin in done:
                    outcomes.append(ReplayOutcome(str(letter.ref), origin, False, done[origin]))
                    continue
                headers = letter.original_headers | {REPLAYED_FROM: str(letter.ref)}
                sent = await producer.send_and_wait(
                    letter.origin_topic or "",
                    letter.value,
                    key=letter.key,
                    partition=letter.origin_partition,
                    headers=[(k, v.encode("utf-8")) for k, v in headers.items()],
                )
                replay = Replay(
                    letter=str(letter.ref),
                    replayed_at=datetime.now(UTC).isoformat(),
                    partition=sent.partition,
                    offset=sent.offset,
                )
                await producer.send_and_wait(
                    replayed_topic(dead_letter), json.dumps(vars(replay)).encode(), key=origin.encode()
                )
                done[origin] = replay
                outcomes.append(ReplayOutcome(str(letter.ref), origin, True, replay))
        return outcomes
    except ProducerFenced as error:
        raise DeadLetterError(
            f"another replay of {dead_letter} ran at the same time; run this one again"
        ) from error
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def _reader(bootstrap: str) -> AsyncIterator[_Reader]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="regstd-dlq")
    await consumer.start()
    try:
        await admin.start()
        try:
            yield _Reader(consumer, admin)
        finally:
            await admin.close()
    finally:
        await consumer.stop()


async def _read_all(kafka: _Reader, topic: str) -> list[Any]:
    """Every record of a topic from its beginning to its end as of now; none if it does not exist."""
    partitions = await kafka.partitions(topic)
    if not partitions:
        return []
    reader = kafka.consumer
    reader.assign(partitions)
    await reader.seek_to_beginning(*partitions)
    ends = await reader.end_offsets(partitions)
    records: list[Any] = []
    while not all([await reader.position(tp) >= end for tp, end in ends.items()]):
        for tp, batch in (await reader.getmany(*partitions, timeout_ms=500)).items():
            records += [r for r in batch if r.offset < ends[tp]]
    return sorted(records, key=lambda r: (r.partition, r.offset))


async def _read_one(kafka: _Reader, where: LetterRef) -> Any:
    partitions = await kafka.partitions(where.topic)
    reader = kafka.consumer
    tp = TopicPartition(where.topic, where.partition)
    if tp not in partitions:
        raise LetterNotFound(f"no dead letter at {where}: {where.topic} has no partition {where.partition}")
    reader.assign([tp])
    end = (await reader.end_offsets([tp]))[tp]
    start = (await reader.beginning_offsets([tp]))[tp]
    if not start <= where.offset < end:
        raise LetterNotFound(f"no dead letter at {where}: the partition holds offsets {start} to {end - 1}")
    reader.seek(tp, where.offset)
    while True:
        batch = (await reader.getmany(tp, timeout_ms=500)).get(tp, [])
        for record in batch:
            if record.offset == where.offset:
                return record
            if record.offset > where.offset:  # compacted or a transaction marker: not a letter
                raise LetterNotFound(f"no dead letter at {where}")
        if await reader.position(tp) >= end:
            raise LetterNotFound(f"no dead letter at {where}")


async def _replays(reader: _Reader, dead_letter: str) -> dict[str, Replay]:
    replays: dict[str, Replay] = {}
    for record in await _read_all(reader, replayed_topic(dead_letter)):
        if record.key is not None and record.value is not None:
            replays[record.key.decode()] = Replay(**json.loads(record.value))
    return replays


async def _ensure_replayed_topic(kafka: _Reader, dead_letter: str) -> None:
    if await kafka.partitions(replayed_topic(dead_letter)):
        return
    with contextlib.suppress(TopicAlreadyExistsError):
        await kafka.admin.create_topics(
            [
                NewTopic(
                    replayed_topic(dead_letter),
                    num_partitions=1,
                    replication_factor=1,
                    topic_configs={"cleanup.policy": "compact"},
                )
            ]
        )


def _letter(record: Any, replays: dict[str, Replay]) -> DeadLetter:
    headers = {name: raw.decode("utf-8", "replace") for name, raw in record.headers}
    letter = DeadLetter(
        ref=LetterRef(record.topic, record.partition, record.offset),
        key=record.key,
        value=record.value,
        headers=headers,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
    )
    origin = letter.origin
    if origin is not None and origin in replays:
        return dataclasses.replace(letter, replayed=replays[origin])
    return letter


def _int(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None
