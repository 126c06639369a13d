"""One trace per business flow, end to end on the real Kafka and FerretDB: the last regulator's
final approval (an HTTP request to intake) is followed through intake's relay, Kafka, publication's
consumer, its relay and a partner city's consumer, in one trace whose spans the local span files
keep; `regstd trace` finds it by standard number in either dash form and by project id. A
dead-lettered message is an error span and counts in the dead-letter metric."""

import asyncio
import json
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from rich.console import Console
from typer.testing import CliRunner

from regstd.cli.main import app as cli
from regstd.cli.subscriber import CityLedger, CitySubscriber, run_subscriber
from regstd.cli.trace import waterfall
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.publication import StandardPublished
from regstd.contracts.reference import PartnerCity
from regstd.contracts.topics import INTAKE_PROJECTS, PUBLICATION_STANDARDS
from regstd.runtime.spanfiles import SpanFiles, SpanRecord
from regstd.runtime.testing import eventually, letters, position_group_at_end

from .test_joint_standard_e2e_infra import (
    System,
    proposal,
    published,
    take_to_final_approval,
    vote,
)
from .test_joint_standard_e2e_infra import system as e2e  # noqa: F401  (the fixture, as `e2e`)

CITY = PartnerCity(code="510100", name_zh="成都市", region="51", areas=("chengyu",))


def only(spans: list[SpanRecord], **wanted: Any) -> SpanRecord:
    """The one span with these properties (attributes by their dotted names in `attributes`)."""
    attributes = wanted.pop("attributes", {})
    found = [
        s
        for s in spans
        if all(getattr(s, k) == v for k, v in wanted.items())
        and all(s.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, f"expected one span with {wanted} {attributes}, found {len(found)}"
    return found[0]


async def test_one_trace_follows_the_final_approval_to_a_partner_city(
    e2e: System,  # noqa: F811  (the imported fixture)
    stack: Any,
    tmp_path: Path,
) -> None:
    system = e2e
    # The city starts at the topic's end: other tests of the session publish standards with the same
    # numbers (each has fresh databases), and their flows are not this one.
    city_group = f"city-traces-{letters()}"
    await position_group_at_end(stack.kafka_bootstrap, city_group, PUBLICATION_STANDARDS.name)
    body = proposal("chengyu", ["50", "51"], "川渝地区公路隧道照明技术规范")
    project = await system.ok("intake", "POST", "/projects", "50", json=body)
    pid = await take_to_final_approval(system, project, ["50", "51"])
    await vote(system, pid, "final_approval", "50", "approve")
    await vote(system, pid, "final_approval", "51", "approve")  # this request starts the flow
    standard = await published(system, pid)
    numbers = [n["number"] for n in standard["numbers"]]

    ledger = CityLedger(tmp_path / "city.sqlite")
    stop = asyncio.Event()
    city_tracer = system.tracer_provider("city-510100").get_tracer("test")

    def announce(_: str) -> None:
        if any(sid == standard["standard_id"] for sid, _, _ in ledger.standards()):
            stop.set()

    subscriber = CitySubscriber(CITY, ledger, announce=announce, group_id=city_group,
                                tracer=city_tracer)  # fmt: skip
    try:
        await asyncio.wait_for(run_subscriber(subscriber, stack.kafka_bootstrap, stop), 60)
    finally:
        ledger.close()

    files = SpanFiles(system.spans_dir)

    async def whole_trace() -> dict[str, list[SpanRecord]] | None:
        system.flush_spans()
        found = files.lookup(numbers[1])
        spans = next(iter(found.values()), [])
        return found if any(s.service == "city-510100" for s in spans) else None

    traces = await eventually(whole_trace, "the city's span in the standard's trace", within=60)
    assert len(traces) == 1, f"the number names one flow, found traces {list(traces)}"
    ((trace_id, spans),) = traces.items()

    # The shape: request → intake's send → publication's process → its send → the city's process.
    request = only(spans, service="project-intake", kind="server")
    assert request.parent_id is None
    assert request.name == "POST /projects/{project_id}/ballots/{stage}/positions"
    assert request.attributes["regstd.project_id"] == pid
    assert request.attributes["regstd.ballot_stage"] == "final_approval"
    assert request.attributes["http.response.status_code"] < 300
    approval = {"cloudevents.event_type": ProjectFinallyApproved.event_type}
    approval_sent = only(spans, service="project-intake", kind="producer", attributes=approval)
    assert approval_sent.parent_id == request.span_id
    assert approval_sent.name == f"send {INTAKE_PROJECTS.name}"
    assert approval_sent.attributes["messaging.system"] == "kafka"
    assert approval_sent.attributes["messaging.destination.name"] == INTAKE_PROJECTS.name
    assert approval_sent.attributes["messaging.kafka.message.key"] == pid
    approval_processed = only(spans, service="publication", kind="consumer", attributes=approval)
    assert approval_processed.parent_id == approval_sent.span_id
    assert approval_processed.attributes["messaging.operation"] == "process"
    assert approval_processed.attributes["regstd.outcome"] == "processed"
    assert approval_processed.attributes["regstd.project_id"] == pid
    assert approval_processed.attributes["regstd.area"] == "chengyu"
    assert approval_processed.attributes["regstd.standard_numbers"] == numbers  # set by the handler
    store_calls = [s for s in spans if s.kind == "client" and s.parent_id == approval_processed.span_id]
    assert store_calls, "the publication handler's store calls are spans under its consumer span"
    assert all(s.attributes["db.system"] == "mongodb" for s in store_calls)
    published_sent = only(spans, service="publication", kind="producer")
    assert published_sent.parent_id == approval_processed.span_id
    assert published_sent.attributes["messaging.destination.name"] == PUBLICATION_STANDARDS.name
    assert published_sent.attributes["regstd.standard_numbers"] == numbers
    assert published_sent.attributes["regstd.standard_id"] == standard["standard_id"]
    city = only(spans, service="city-510100", kind="consumer",
                attributes={"cloudevents.event_type": StandardPublished.event_type})  # fmt: skip
    assert city.parent_id == published_sent.span_id
    assert city.attributes["regstd.standard_numbers"] == numbers
    assert {s.trace_id for s in spans} == {trace_id}
    assert not [s for s in spans if s.failed]

    # Found by either dash form and by the project id (among the project's other flows).
    hyphen = numbers[0].replace("—", "-")
    assert list(files.lookup(hyphen)) == [trace_id]
    assert trace_id in files.lookup(pid)
    assert len(files.lookup(pid)) > 1, "every step of the project is a flow of its own"

    console = Console(record=True, width=200)
    console.print(waterfall(trace_id, spans, show_store=False))
    lines = console.export_text().splitlines()
    rows = [line for line in lines if line.startswith("│")]
    order = [
        next(i for i, row in enumerate(rows) if all(part in row for part in needles))
        for needles in (
            ("POST /projects", "project-intake"),
            (f"send {INTAKE_PROJECTS.name}", "project-intake"),
            (f"process {INTAKE_PROJECTS.name}", "publication"),
            (f"send {PUBLICATION_STANDARDS.name}", "publication"),
            (f"process {PUBLICATION_STANDARDS.name}", "city-510100"),
        )
    ]
    assert order == sorted(order), "\n".join(lines)

    for query in (hyphen, numbers[1], pid):
        result = CliRunner().invoke(cli, ["trace", query, "--spans-dir", str(system.spans_dir)],
                                    env={"COLUMNS": "220"})  # fmt: skip
        assert result.exit_code == 0, result.output
        assert trace_id in result.output
        assert "city-510100" in result.output
    missing = CliRunner().invoke(cli, ["trace", "prj-000000000000", "--spans-dir", str(system.spans_dir)])
    assert missing.exit_code == 1
    assert "no stored trace" in missing.output


async def test_a_dead_lettered_message_is_an_error_span_and_counts_in_the_metric(
    e2e: System,  # noqa: F811  (the imported fixture)
    stack: Any,
) -> None:
    """A final approval that fails its contract, sent inside a trace of the test's own: publication
    dead-letters it in a consumer span of that trace, ending in error, and counts it."""
    system = e2e
    tracer = system.tracer_provider("test-sender").get_tracer("test")
    pid = f"prj-{letters(12)}"
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        with tracer.start_as_current_span("send a broken approval") as sender:
            context = sender.get_span_context()
            traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
            headers = {
                "ce_specversion": "1.0",
                "ce_id": f"broken-{pid}",
                "ce_source": "/regstd/test",
                "ce_type": ProjectFinallyApproved.event_type,
                "ce_subject": pid,
                "ce_time": "2026-01-01T00:00:00Z",
                "content-type": "application/json",
                "traceparent": traceparent,
            }
            await producer.send_and_wait(
                INTAKE_PROJECTS.name,
                json.dumps({"project_id": pid, "area": "chengyu"}).encode(),  # most fields missing
                key=pid.encode(),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
    finally:
        await producer.stop()
    trace_id = f"{context.trace_id:032x}"
    files = SpanFiles(system.spans_dir)

    async def error_span() -> SpanRecord | None:
        system.flush_spans()
        spans = files.lookup(trace_id).get(trace_id, [])
        return next((s for s in spans if s.service == "publication" and s.kind == "consumer"), None)

    span: SpanRecord = await eventually(
        error_span, "publication's consumer span of the broken approval", within=60
    )
    assert span.failed
    assert "dead-lettered" in (span.status_message or "")
    assert span.attributes["regstd.dead_letter.topic"] == INTAKE_PROJECTS.dead_letter
    assert span.attributes["regstd.project_id"] == pid
    assert span.parent_id == f"{context.span_id:016x}"

    for client in (system.intake, system.publication):
        assert (await client.get("/health/ready")).json() == {"status": "ready", "kafka": True, "store": True}
    metrics = (await system.publication.get("/metrics")).text
    assert "regstd_outbox_backlog{" in metrics
    dead = [line for line in metrics.splitlines() if line.startswith("regstd_dead_letters_total{")]
    assert any(
        f'topic="{INTAKE_PROJECTS.name}"' in line and float(line.rsplit(" ", 1)[1]) >= 1 for line in dead
    ), metrics
    consumed = [line for line in metrics.splitlines() if line.startswith("regstd_messages_consumed_total{")]
    assert any('outcome="dead_lettered"' in line and INTAKE_PROJECTS.name in line for line in consumed), (
        metrics
    )
    assert trace.get_current_span().get_span_context().is_valid is False  # the test left no span open
