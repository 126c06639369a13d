"""Events as they sit in an outbox and as they cross Kafka (CloudEvents 1.0, binary content mode).

An outgoing event is fixed when the handler that caused it runs: its id, time and the trace context
of that moment are stored in the aggregate's outbox, so a relay that publishes it later (or twice)
sends exactly the same event.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import uuid4

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from opentelemetry import propagate

from regstd.contracts import EventModel

CONTENT_TYPE = "application/json"
TRACEPARENT = "traceparent"
_JSON = JSONFormat()

EventT = TypeVar("EventT", bound=EventModel)


class InvalidEvent(ValueError):
    """A Kafka record that is not a well-formed regstd CloudEvent; retrying cannot help."""


@dataclass(frozen=True)
class PendingEvent:
    """An outgoing event waiting in an aggregate's outbox for the relay."""

    id: str
    type: str
    source: str
    subject: str
    topic: str
    time: datetime
    data: dict[str, Any]
    traceparent: str | None = None

    def to_document(self) -> dict[str, Any]:
        """The outbox entry as stored in the aggregate document."""
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "topic": self.topic,
            "time": self.time,
            "data": self.data,
            "traceparent": self.traceparent,
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> "PendingEvent":
        """Read an outbox entry back; stored times come back naive UTC from BSON."""
        time: datetime = doc["time"]
        if time.tzinfo is None:
            time = time.replace(tzinfo=UTC)
        return cls(
            id=doc["id"],
            type=doc["type"],
            source=doc["source"],
            subject=doc["subject"],
            topic=doc["topic"],
            time=time,
            data=doc["data"],
            traceparent=doc.get("traceparent"),
        )


def new_event(event: EventModel, *, now: datetime | None = None) -> PendingEvent:
    """Fix an event for the outbox: a fresh id, the time, and the current trace context."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return PendingEvent(
        id=str(uuid4()),
        type=event.event_type,
        source=event.source(),
        subject=event.subject,
        topic=event.topic.name,
        time=(now or datetime.now(UTC)).astimezone(UTC),
        data=event.model_dump(mode="json"),
        traceparent=carrier.get(TRACEPARENT),
    )


@dataclass(frozen=True)
class KafkaRecord:
    """What is sent to or read from Kafka for one event: key, value and headers."""

    topic: str
    key: bytes
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)


def to_kafka(event: PendingEvent, *, traceparent: str | None = None) -> KafkaRecord:
    """The Kafka record of an event in the CloudEvents binary content mode, keyed by subject.

    `traceparent` (the relay's send span) replaces the one stored with the event, so that the
    consumer's span is a child of the send; without it the stored one travels.
    """
    cloud_event = CloudEvent(
        attributes={
            "specversion": "1.0",
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": event.time,
            "datacontenttype": CONTENT_TYPE,
        },
        data=event.data,
    )
    message = ce_kafka.to_binary(cloud_event, _JSON, key_mapper=lambda _: event.subject)
    headers = {name: value.decode("utf-8") for name, value in message.headers.items()}
    if traceparent or event.traceparent:
        headers[TRACEPARENT] = traceparent or event.traceparent or ""
    return KafkaRecord(
        topic=event.topic, key=event.subject.encode("utf-8"), value=message.value, headers=headers
    )


@dataclass(frozen=True)
class Delivery(Generic[EventT]):
    """One received event: its CloudEvents attributes, typed data and where it came from."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: EventT
    topic: str
    partition: int
    offset: int
    traceparent: str | None = None


@dataclass(frozen=True)
class ReceivedCloudEvent:
    """A decoded CloudEvent whose data has not been validated against a model yet."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: dict[str, Any]
    traceparent: str | None


def from_kafka(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> ReceivedCloudEvent:
    """Decode a Kafka record in the CloudEvents binary mode; raise InvalidEvent when it is not one."""
    try:
        header_map = {name: raw.decode("utf-8") for name, raw in headers}
    except UnicodeDecodeError as error:
        raise InvalidEvent(f"a header is not UTF-8: {error}") from error
    for required in ("ce_specversion", "ce_id", "ce_source", "ce_type"):
        if required not in header_map:
            raise InvalidEvent(f"missing header {required}: not a CloudEvent in binary mode")
    if header_map["ce_specversion"] != "1.0":
        raise InvalidEvent(f"unsupported CloudEvents specversion {header_map['ce_specversion']!r}")
    content_type = header_map.get("content-type", "")
    if not content_type.startswith(CONTENT_TYPE):
        raise InvalidEvent(f"content-type must be {CONTENT_TYPE}, got {content_type!r}")
    ce_headers = {
        name: raw.encode("utf-8")
        for name, raw in header_map.items()
        if name.startswith("ce_") or name == "content-type"
    }
    try:
        cloud_event = ce_kafka.from_binary(
            ce_kafka.KafkaMessage(headers=ce_headers, key=key, value=value or b""), _JSON
        )
    except (BaseCloudEventException, ValueError, TypeError) as error:
        raise InvalidEvent(f"undecodable CloudEvent: {error}") from error
    data = cloud_event.get_data()
    if not isinstance(data, dict):
        raise InvalidEvent("the value is not a JSON object")
    subject = cloud_event.get_subject()
    if not subject:
        raise InvalidEvent("missing header ce_subject: the id of the event's aggregate")
    if key != subject.encode("utf-8"):
        raise InvalidEvent(f"the key {key!r} does not match ce_subject {subject!r}")
    time = cloud_event.get_time()
    if time is None:
        raise InvalidEvent("missing header ce_time")
    return ReceivedCloudEvent(
        id=cloud_event.get_id(),
        type=cloud_event.get_type(),
        source=cloud_event.get_source(),
        subject=subject,
        time=time,
        data=data,
        traceparent=header_map.get(TRACEPARENT),
    )
