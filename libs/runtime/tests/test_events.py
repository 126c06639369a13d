"""Events cross Kafka as CloudEvents 1.0 in binary content mode and come back unchanged."""

import json
from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from regstd.runtime.events import InvalidEvent, PendingEvent, from_kafka, new_event, to_kafka

from .conftest import ThingFactory


def headers_of(record_headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in record_headers.items()]


def test_an_event_becomes_a_binary_mode_cloudevent(new_thing_event: ThingFactory) -> None:
    topic, thing = new_thing_event()
    pending = new_event(thing(thing_id="t-1", n=3), now=datetime(2026, 11, 22, 8, 30, tzinfo=UTC))
    record = to_kafka(pending)

    assert record.topic == topic.name
    assert record.key == b"t-1"
    assert json.loads(record.value) == {"thing_id": "t-1", "n": 3}
    assert record.headers["ce_specversion"] == "1.0"
    assert record.headers["ce_id"] == pending.id
    assert record.headers["ce_source"] == "/regstd/test"
    assert record.headers["ce_type"] == thing.event_type
    assert record.headers["ce_subject"] == "t-1"
    assert record.headers["ce_time"] == "2026-11-22T08:30:00Z"
    assert record.headers["content-type"] == "application/json"


def test_a_received_event_has_the_attributes_that_were_sent(new_thing_event: ThingFactory) -> None:
    _, thing = new_thing_event()
    pending = new_event(thing(thing_id="t-2", n=1))
    record = to_kafka(pending)
    received = from_kafka(record.key, record.value, headers_of(record.headers))
    assert (received.id, received.type, received.subject) == (pending.id, pending.type, "t-2")
    assert received.time == pending.time.replace(microsecond=received.time.microsecond)
    assert received.data == {"thing_id": "t-2", "n": 1}


def test_the_trace_context_of_the_writer_travels_with_the_event(new_thing_event: ThingFactory) -> None:
    _, thing = new_thing_event()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        pending = new_event(thing(thing_id="t-3", n=1))
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert pending.traceparent is not None
    assert pending.traceparent.split("-")[1] == trace_id
    record = to_kafka(pending)
    assert record.headers["traceparent"] == pending.traceparent
    assert from_kafka(record.key, record.value, headers_of(record.headers)).traceparent == pending.traceparent
    assert trace.get_current_span().get_span_context().is_valid is False


def test_an_outbox_entry_survives_the_store_round_trip(new_thing_event: ThingFactory) -> None:
    _, thing = new_thing_event()
    pending = new_event(thing(thing_id="t-4", n=2))
    stored = pending.to_document()
    stored["time"] = stored["time"].replace(tzinfo=None)  # BSON gives naive UTC back
    assert PendingEvent.from_document(stored) == pending


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([], b"{}", "missing header ce_specversion"),
        (
            [("ce_specversion", b"0.3"), ("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t")],
            b"{}",
            "unsupported CloudEvents specversion",
        ),
        (
            [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t")],
            b"{}",
            "content-type must be application/json",
        ),
        (
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", b"1"),
                ("ce_source", b"/x"),
                ("ce_type", b"t"),
                ("ce_time", b"2026-11-22T00:00:00Z"),
                ("content-type", b"application/json"),
            ],
            b"{not json",
            "not a JSON object",
        ),
        ([("ce_id", b"\xff")], b"{}", "not UTF-8"),
    ],
)
def test_a_record_that_is_not_a_cloudevent_is_refused(
    headers: list[tuple[str, bytes]], value: bytes, reason: str
) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        from_kafka(b"k", value, headers)
