"""Tracing without infrastructure: the consumer's span continues the record's trace and ends in error
when the record is dead-lettered; events written by the handler carry the consumer's context on;
the span files keep spans and index business keys; lookups by number accept either dash; the span
file processor writes in a background thread, in order, and loses nothing at shutdown."""

import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from regstd.runtime.consumer import EventConsumer, PermanentError, RetryPolicy
from regstd.runtime.events import TRACEPARENT, Delivery, PendingEvent, new_event, to_kafka
from regstd.runtime.logs import JsonFormatter
from regstd.runtime.metrics import Metrics
from regstd.runtime.spanfiles import (
    SpanFileExporter,
    SpanFileProcessor,
    SpanFiles,
    index_keys,
    lookup_keys,
)
from regstd.runtime.telemetry import annotate, business_attributes, traceparent_of, tracer_provider

from .conftest import ThingFactory
from .test_consumer import DeadLetters, record_of

FAST = RetryPolicy(max_attempts=2, initial_backoff_s=0.001, max_backoff_s=0.001)


def in_memory(service: str = "svc") -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = tracer_provider(service, local=False)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


async def test_the_consumer_span_continues_the_records_trace_and_the_handlers_events_carry_it_on(
    new_thing_event: ThingFactory,
) -> None:
    provider, memory = in_memory()
    tracer = provider.get_tracer("test")
    topic, thing = new_thing_event()
    with tracer.start_as_current_span("request") as request:
        record = record_of(thing(thing_id="t-1", n=1))
    written: list[PendingEvent] = []

    async def handler(delivery: Delivery[Any]) -> None:
        written.append(new_event(thing(thing_id="t-2", n=2)))

    metrics = Metrics()
    consumer = EventConsumer(
        topic, "group", {thing: handler}, DeadLetters(), FAST, tracer=tracer, metrics=metrics
    )
    await consumer.handle(record)

    (span,) = [s for s in memory.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert span.context.trace_id == request.get_span_context().trace_id
    assert span.parent is not None
    assert span.parent.span_id == request.get_span_context().span_id
    assert span.name == f"process {topic.name}"
    attributes = dict(span.attributes or {})
    assert attributes["messaging.system"] == "kafka"
    assert attributes["messaging.destination.name"] == topic.name
    assert attributes["messaging.kafka.message.key"] == "t-1"
    assert attributes["regstd.outcome"] == "processed"
    assert written[0].traceparent is not None
    assert written[0].traceparent.split("-")[1:3] == [
        f"{span.context.trace_id:032x}",
        f"{span.context.span_id:016x}",
    ]
    assert metrics.consumed.labels(topic.name, "group", "processed")._value.get() == 1


async def test_a_dead_lettered_record_ends_its_span_in_error_and_counts(
    new_thing_event: ThingFactory,
) -> None:
    provider, memory = in_memory()
    topic, thing = new_thing_event()

    async def refuse(_: Delivery[Any]) -> None:
        raise PermanentError("can never succeed")

    metrics = Metrics()
    dead = DeadLetters()
    consumer = EventConsumer(
        topic, "group", {thing: refuse}, dead, FAST, tracer=provider.get_tracer("t"), metrics=metrics
    )
    await consumer.handle(record_of(thing(thing_id="t-1", n=1)))

    (span,) = memory.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "dead-lettered: PermanentError: can never succeed"
    assert [e.name for e in span.events] == ["exception"]
    assert dict(span.attributes or {})["regstd.dead_letter.topic"] == topic.dead_letter
    assert len(dead.sent) == 1
    assert metrics.dead_letters.labels(topic.name, "group")._value.get() == 1
    assert metrics.consumed.labels(topic.name, "group", "dead_lettered")._value.get() == 1


async def test_a_log_line_inside_consumer_handling_carries_the_trace_and_span_ids(
    new_thing_event: ThingFactory,
) -> None:
    provider, memory = in_memory()
    topic, thing = new_thing_event()
    lines: list[str] = []
    formatter = JsonFormatter("svc")

    async def handler(_: Delivery[Any]) -> None:
        record = logging.LogRecord("h", logging.INFO, __file__, 1, "handling", None, None)
        lines.append(formatter.format(record))

    consumer = EventConsumer(
        topic, "g", {thing: handler}, DeadLetters(), FAST, tracer=provider.get_tracer("t")
    )
    await consumer.handle(record_of(thing(thing_id="t-1", n=1)))
    (span,) = memory.get_finished_spans()
    entry = json.loads(lines[0])
    assert entry["trace_id"] == f"{span.context.trace_id:032x}"
    assert entry["span_id"] == f"{span.context.span_id:016x}"


def test_the_relays_traceparent_replaces_the_stored_one_on_the_wire(new_thing_event: ThingFactory) -> None:
    _, thing = new_thing_event()
    event = new_event(thing(thing_id="t", n=1))
    stored = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    relayed = "00-" + "1" * 32 + "-" + "3" * 16 + "-01"
    with_stored = PendingEvent(**{**event.__dict__, "traceparent": stored})
    assert to_kafka(with_stored).headers[TRACEPARENT] == stored
    assert to_kafka(with_stored, traceparent=relayed).headers[TRACEPARENT] == relayed


def test_business_attributes_come_from_event_data_and_from_handlers() -> None:
    data = {
        "project_id": "prj-1",
        "standard_id": "std-1",
        "area": "chengyu",
        "parties": ["50", "51"],
        "stage": "final_approval",
        "numbers": [{"party": "50", "number": "DB50/T 10001—2026"}],
    }
    assert business_attributes(data) == {
        "regstd.project_id": "prj-1",
        "regstd.standard_id": "std-1",
        "regstd.area": "chengyu",
        "regstd.parties": ["50", "51"],
        "regstd.ballot_stage": "final_approval",
        "regstd.standard_numbers": ["DB50/T 10001—2026"],
    }
    provider, memory = in_memory()
    with provider.get_tracer("t").start_as_current_span("handling"):
        annotate(project_id="prj-2", party="51", ballot_stage="project_approval")
    annotate(project_id="outside any span")  # no span: nothing happens, nothing fails
    (span,) = memory.get_finished_spans()
    assert dict(span.attributes or {}) == {
        "regstd.project_id": "prj-2",
        "regstd.party": "51",
        "regstd.ballot_stage": "project_approval",
    }


def test_a_store_call_outside_any_flow_is_not_kept_but_inside_one_it_is() -> None:
    provider, memory = in_memory()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("find", kind=SpanKind.CLIENT):
        pass
    with (
        tracer.start_as_current_span("request", kind=SpanKind.SERVER),
        tracer.start_as_current_span("find", kind=SpanKind.CLIENT),
    ):
        pass
    assert sorted(s.name for s in memory.get_finished_spans()) == ["find", "request"]


def test_tracing_is_off_with_otel_sdk_disabled(monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    provider = tracer_provider("svc", local=True)
    with provider.get_tracer("t").start_as_current_span("request") as span:
        assert not span.get_span_context().is_valid
        assert traceparent_of(span) is None
        assert new_event_traceparent() is None


def new_event_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    from opentelemetry import propagate

    propagate.inject(carrier)
    return carrier.get(TRACEPARENT)


# -- span files ---------------------------------------------------------------------------------


def write_flow(directory: Path) -> tuple[str, str]:
    """Two services write one flow (request → send → process) and an unrelated trace."""
    intake = TracerProvider(resource=tracer_provider("project-intake", local=False).resource)
    publication = TracerProvider(resource=tracer_provider("publication", local=False).resource)
    intake.add_span_processor(SimpleSpanProcessor(SpanFileExporter(directory, "project-intake")))
    publication.add_span_processor(SimpleSpanProcessor(SpanFileExporter(directory, "publication")))
    with intake.get_tracer("t").start_as_current_span("POST /projects", kind=SpanKind.SERVER) as request:
        request.set_attribute("regstd.project_id", "prj-a")
        with intake.get_tracer("t").start_as_current_span("send x", kind=SpanKind.PRODUCER) as send:
            send.set_attribute("regstd.project_id", "prj-a")
    with publication.get_tracer("t").start_as_current_span(
        "process x", context=trace.set_span_in_context(send), kind=SpanKind.CONSUMER
    ) as process:
        process.set_attributes(
            {"regstd.standard_numbers": ["DB51/T 10001—2026"], "regstd.standard_id": "std-a"}
        )
        process.set_status(StatusCode.ERROR, "boom")
    with intake.get_tracer("t").start_as_current_span("other") as other:
        other.set_attribute("regstd.project_id", "prj-b")
    return f"{request.get_span_context().trace_id:032x}", f"{other.get_span_context().trace_id:032x}"


def test_the_span_files_keep_every_span_and_index_each_key_once_per_trace(tmp_path: Path) -> None:
    flow, _ = write_flow(tmp_path)
    spans = [json.loads(line) for line in (tmp_path / "project-intake.jsonl").read_text().splitlines()]
    assert [s["name"] for s in spans] == ["send x", "POST /projects", "other"]
    assert spans[0]["parent_id"] == spans[1]["span_id"]
    assert spans[1]["service"] == "project-intake"
    assert spans[1]["end_ns"] >= spans[1]["start_ns"]
    index = [json.loads(line) for line in (tmp_path / "project-intake.index.jsonl").read_text().splitlines()]
    assert {"key": "project:prj-a", "trace_id": flow} in index
    assert len([e for e in index if e["key"] == "project:prj-a"]) == 1  # two spans, one entry
    published = [json.loads(line) for line in (tmp_path / "publication.index.jsonl").read_text().splitlines()]
    assert {e["key"] for e in published} == {"standard:std-a", "number:DB51/T 10001—2026"}


def test_a_lookup_finds_the_flow_by_number_in_either_dash_form_by_project_and_by_trace_id(
    tmp_path: Path,
) -> None:
    flow, other = write_flow(tmp_path)
    files = SpanFiles(tmp_path)
    for query in ("DB51/T 10001—2026", "DB51/T 10001-2026", "db51/t 10001－2026", "prj-a", "std-a", flow):
        found = files.lookup(query)
        assert list(found) == [flow], query
        assert [s.name for s in found[flow]] == ["POST /projects", "send x", "process x"]
        assert {s.service for s in found[flow]} == {"project-intake", "publication"}
    assert list(files.lookup("prj-b")) == [other]
    assert files.lookup("prj-unknown") == {}
    assert files.lookup("DB50/T 99—2026") == {}
    assert SpanFiles(tmp_path / "absent").lookup("prj-a") == {}


def test_lookup_keys_read_numbers_with_the_shared_rules() -> None:
    assert lookup_keys(" DB50/T 10001-2026 ") == ["number:DB50/T 10001—2026"]
    assert lookup_keys("prj-abc") == ["project:prj-abc", "standard:prj-abc"]
    assert index_keys({"regstd.standard_numbers": ["not a number", "DB50 1-2026"]}) == ["number:DB50 1—2026"]


# -- the span file processor: spans leave the hot path -------------------------------------------


class SlowExporter(SpanExporter):
    """Records each batch it is given, in order; `gate` holds a write until the test opens it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.shut = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.gate.wait(5)
        self.batches.append([s.name for s in spans])
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut = True


def lines(path: Path, field: str) -> list[Any]:
    """One field of every JSON line of a file."""
    return [json.loads(line)[field] for line in path.read_text().splitlines()]


def processed(exporter: SpanExporter, **options: Any) -> tuple[TracerProvider, SpanFileProcessor]:
    provider = TracerProvider()
    processor = SpanFileProcessor(exporter, **options)
    provider.add_span_processor(processor)
    return provider, processor


def test_ending_a_span_does_not_wait_for_the_write_and_the_thread_writes_in_order() -> None:
    exporter = SlowExporter()
    exporter.gate.clear()  # a write in the background thread blocks until the gate opens
    provider, _ = processed(exporter, every_s=0.01)
    tracer = provider.get_tracer("t")
    for name in ("a", "b", "c"):
        with tracer.start_as_current_span(name):
            pass  # returns although no write can finish
    assert exporter.batches == []
    exporter.gate.set()
    deadline = time.monotonic() + 5
    while sum(len(b) for b in exporter.batches) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [name for batch in exporter.batches for name in batch] == ["a", "b", "c"]
    provider.shutdown()


def test_force_flush_writes_everything_ended_so_far_and_shutdown_loses_nothing(tmp_path: Path) -> None:
    provider, processor = processed(SpanFileExporter(tmp_path, "svc"), every_s=60)  # no timed write
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("first") as first:
        first.set_attribute("regstd.project_id", "prj-a")
    assert not (tmp_path / "svc.jsonl").exists()  # nothing written while it ended
    assert processor.force_flush()
    assert lines(tmp_path / "svc.jsonl", "name") == ["first"]
    for i in range(200):
        with tracer.start_as_current_span(f"span-{i}"):
            pass
    provider.shutdown()  # the queued 200 are written on the way out
    assert lines(tmp_path / "svc.jsonl", "name") == ["first", *(f"span-{i}" for i in range(200))]
    index = [json.loads(line) for line in (tmp_path / "svc.index.jsonl").read_text().splitlines()]
    assert [e["key"] for e in index] == ["project:prj-a"]
    with tracer.start_as_current_span("after stop"):
        pass
    assert processor.force_flush()
    assert len((tmp_path / "svc.jsonl").read_text().splitlines()) == 201


def test_a_full_queue_drops_new_spans_and_counts_them() -> None:
    exporter = SlowExporter()
    provider, processor = processed(exporter, every_s=60, max_queued=2)
    tracer = provider.get_tracer("t")
    for name in ("a", "b", "c"):
        with tracer.start_as_current_span(name):
            pass
    assert processor.dropped == 1
    provider.shutdown()
    assert exporter.batches == [["a", "b"]]
    assert exporter.shut


def test_the_service_provider_writes_span_files_through_the_processor(tmp_path: Path) -> None:
    provider = tracer_provider("svc", spans_dir=tmp_path, local=True)
    assert any(isinstance(p, SpanFileProcessor) for p in provider._active_span_processor._span_processors)
    with provider.get_tracer("t").start_as_current_span("request"):
        pass
    provider.shutdown()
    assert lines(tmp_path / "svc.jsonl", "service") == ["svc"]
