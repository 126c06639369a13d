"""Consuming events: the offset is committed only after the handler's effect is stored.

A record is decoded as a CloudEvent and validated against the contract model of its type. A record
that cannot be decoded or validated goes straight to the dead-letter topic; a handler that fails is
retried with bounded backoff and then dead-lettered. In every case the partition moves on, and the
offset is committed only once the effect or the dead letter is acknowledged. If even the dead letter
cannot be written, the error propagates, FastStream seeks back (NACK_ON_ERROR) and the record is
delivered again: nothing acknowledged is ever lost.

Handlers make themselves idempotent through the aggregate store: they skip an event whose id the
aggregate already lists as processed, and store the id with the effect.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from regstd.contracts import EventModel, Topic, event_model_for
from regstd.runtime.events import Delivery, InvalidEvent, from_kafka

log = logging.getLogger(__name__)

Handler = Callable[[Delivery[Any]], Awaitable[None]]

DLQ_TOPIC = "x-dlq-original-topic"
DLQ_PARTITION = "x-dlq-original-partition"
DLQ_OFFSET = "x-dlq-original-offset"
DLQ_GROUP = "x-dlq-consumer-group"
DLQ_ERROR = "x-dlq-error"
DLQ_ERROR_TYPE = "x-dlq-error-type"
DLQ_ATTEMPTS = "x-dlq-attempts"
DLQ_FAILED_AT = "x-dlq-failed-at"


class Record(Protocol):
    """The parts of a Kafka consumer record this module reads (aiokafka's ConsumerRecord has them)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class PermanentError(Exception):
    """A handler's verdict that retrying this event cannot succeed: dead-letter it at once."""


DeadLetterSend = Callable[[str, bytes | None, bytes | None, dict[str, str]], Awaitable[None]]
"""Publishes (topic, key, value, headers) and returns once the broker acknowledged it."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing handler is retried before its event is dead-lettered."""

    max_attempts: int = 5
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after the given failed attempt (1-based): doubling, capped."""
        return float(min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1)))


class EventConsumer:
    """Dispatches one topic's events, by CloudEvents type, to the handlers of one consumer group."""

    def __init__(
        self,
        topic: Topic,
        group_id: str,
        handlers: Mapping[type[EventModel], Handler],
        dead_letter: DeadLetterSend,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self.handlers = {model.event_type: (model, handler) for model, handler in handlers.items()}
        self._dead_letter = dead_letter
        self.retry = retry or RetryPolicy()

    async def handle(self, record: Record) -> None:
        """Process one record to its end: effect stored, ignored, or dead-lettered."""
        try:
            event = from_kafka(record.key, record.value, record.headers)
        except InvalidEvent as error:
            await self.dead_letter(record, error, attempts=1)
            return
        if event.type not in self.handlers:
            if event_model_for(event.type) is None:
                log.info("ignoring an event type this code does not know", extra={"ce_type": event.type})
            return
        model, handler = self.handlers[event.type]
        try:
            data = model.model_validate(event.data)
        except ValidationError as error:
            await self.dead_letter(record, error, attempts=1)
            return
        delivery = Delivery(
            id=event.id,
            type=event.type,
            source=event.source,
            subject=event.subject,
            time=event.time,
            data=data,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            traceparent=event.traceparent,
        )
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                await handler(delivery)
                return
            except PermanentError as error:
                await self.dead_letter(record, error, attempts=attempt)
                return
            except Exception as error:
                if attempt == self.retry.max_attempts:
                    await self.dead_letter(record, error, attempts=attempt)
                    return
                log.warning(
                    "handler failed; retrying",
                    extra={
                        "ce_id": event.id,
                        "ce_type": event.type,
                        "attempt": attempt,
                        "error": repr(error),
                    },
                )
                await asyncio.sleep(self.retry.backoff(attempt))

    async def dead_letter(self, record: Record, error: BaseException, *, attempts: int) -> None:
        """Send the record unchanged to the dead-letter topic, with where it came from and why."""
        headers: dict[str, str] = {}
        for name, raw in record.headers:
            headers[name] = raw.decode("utf-8", "replace")
        headers |= {
            DLQ_TOPIC: record.topic,
            DLQ_PARTITION: str(record.partition),
            DLQ_OFFSET: str(record.offset),
            DLQ_GROUP: self.group_id,
            DLQ_ERROR: str(error)[:2000],
            DLQ_ERROR_TYPE: type(error).__name__,
            DLQ_ATTEMPTS: str(attempts),
            DLQ_FAILED_AT: datetime.now(UTC).isoformat(),
        }
        await self._dead_letter(self.topic.dead_letter, record.key, record.value, headers)
        log.error(
            "dead-lettered a message",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error": repr(error),
            },
        )

    def subscribe(self, broker: KafkaBroker) -> None:
        """Register this consumer on a FastStream broker: manual commits after processing only."""

        async def on_record(message: KafkaMessage) -> None:
            record = message.raw_message
            if isinstance(record, tuple):  # only batch subscribers deliver tuples; this one is not
                raise TypeError("expected one record, got a batch")
            await self.handle(record)

        subscriber = broker.subscriber(
            self.topic.name,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            # Commit after the handler returns; on an escaping error seek back and redeliver.
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=f"{self.group_id}:{self.topic.name}",
        )
        subscriber(on_record)


def broker_dead_letter(broker: KafkaBroker) -> DeadLetterSend:
    """A dead-letter sender that publishes through the broker's idempotent producer and awaits the ack."""

    async def send(topic: str, key: bytes | None, value: bytes | None, headers: dict[str, str]) -> None:
        await broker.publish(value or b"", topic, key=key, headers=headers)

    return send
