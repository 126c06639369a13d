"""Tracing in one place: a tracer provider per service, where its spans go, and the attributes every
span of a business flow carries.

Where spans go:
- over OTLP to any collector when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
  `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set;
- to a JSON-lines file `<spans dir>/<service>.jsonl` with a small business-key index beside it
  (`regstd.runtime.spanfiles`) when no collector is configured, so that `regstd trace` can read
  them with nothing installed; `REGSTD_LOCAL_SPANS=true` keeps the file next to OTLP as well.

`OTEL_SDK_DISABLED=true` turns tracing off (the SDK then hands out no-op tracers): the switch for
measuring what tracing costs.

Spans a service never asked for are not kept: a store call with no surrounding span (the relay's
poll, a background scan finding nothing) would otherwise start a trace of its own every second.
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

_OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
DEFAULT_SPANS_DIR = Path("var/spans")
INSTRUMENTATION = "regstd.runtime"

# Business attributes: the words an operator searches by.
PROJECT_ID = "regstd.project_id"
STANDARD_ID = "regstd.standard_id"
STANDARD_NUMBERS = "regstd.standard_numbers"
AREA = "regstd.area"
PARTY = "regstd.party"
PARTIES = "regstd.parties"
BALLOT_STAGE = "regstd.ballot_stage"
EVENT_TYPE = "cloudevents.event_type"
EVENT_ID = "cloudevents.event_id"
SERVICE = "service.name"


def tracing_disabled() -> bool:
    """Whether `OTEL_SDK_DISABLED=true` switched tracing off."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def otlp_configured() -> bool:
    """Whether the standard OTEL_* variables name a collector."""
    return any(os.environ.get(name) for name in _OTLP_ENDPOINT_VARIABLES)


def keeps_local_spans() -> bool:
    """Whether this process's spans go to the local span files (see `tracer_provider`): tracing is
    on, and either `REGSTD_LOCAL_SPANS` asks for them or no collector is configured."""
    if tracing_disabled():
        return False
    wanted = _local_spans_wanted()
    return (not otlp_configured()) if wanted is None else wanted


def _local_spans_wanted() -> bool | None:
    raw = os.environ.get("REGSTD_LOCAL_SPANS", "").strip().lower()
    return None if not raw else raw in ("1", "true", "yes", "on")


class _NoOrphanStoreCalls(Sampler):
    """The root sampler: keeps every trace except one that would start with a client call (a store
    command no flow asked for, such as the relay's poll)."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        decision = Decision.DROP if kind == SpanKind.CLIENT else Decision.RECORD_AND_SAMPLE
        return SamplingResult(decision, attributes if decision != Decision.DROP else None)

    def get_description(self) -> str:
        return "NoOrphanStoreCalls"


def tracer_provider(
    service: str,
    *,
    spans_dir: Path | None = None,
    local: bool | None = None,
    exporters: Iterable[SpanExporter] = (),
) -> TracerProvider:
    """A tracer provider for one service, exporting where the environment says (see the module).

    `local` forces the span file on or off; None means the environment decides (on unless only a
    collector is configured). Extra `exporters` (tests) are added as they are.
    """
    from regstd.runtime.spanfiles import SpanFileExporter, SpanFileProcessor

    provider = TracerProvider(
        resource=Resource.create({SERVICE: service, "service.namespace": "regstd"}),
        sampler=ParentBased(root=_NoOrphanStoreCalls()),
    )
    if tracing_disabled():
        return provider
    if otlp_configured():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if local is None:
        local = _local_spans_wanted()
    if local is None:
        local = not otlp_configured()
    if local:
        directory = spans_dir or DEFAULT_SPANS_DIR
        provider.add_span_processor(SpanFileProcessor(SpanFileExporter(directory, service)))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    return provider


def configure_tracing(
    service: str, *, spans_dir: Path | None = None, exporter: SpanExporter | None = None
) -> TracerProvider:
    """Install this process's global tracer provider for the service and return it."""
    provider = tracer_provider(service, spans_dir=spans_dir, exporters=[exporter] if exporter else [])
    trace.set_tracer_provider(provider)
    return provider


def business_attributes(data: Mapping[str, Any]) -> dict[str, Any]:
    """The business attributes of an event's data: project, standard, numbers, area, party, stage."""
    found: dict[str, Any] = {}
    for field, attribute in (
        ("project_id", PROJECT_ID),
        ("standard_id", STANDARD_ID),
        ("area", AREA),
        ("party", PARTY),
        ("stage", BALLOT_STAGE),
    ):
        value = data.get(field)
        if isinstance(value, str) and value:
            found[attribute] = value
    parties = data.get("parties")
    if isinstance(parties, list) and all(isinstance(p, str) for p in parties):
        found[PARTIES] = list(parties)
    numbers = data.get("numbers")
    if isinstance(numbers, list):
        found[STANDARD_NUMBERS] = [
            n["number"] for n in numbers if isinstance(n, Mapping) and isinstance(n.get("number"), str)
        ]
    return found


def annotate(
    *,
    project_id: str | None = None,
    standard_id: str | None = None,
    standard_numbers: Sequence[str] | None = None,
    area: str | None = None,
    party: str | None = None,
    ballot_stage: str | None = None,
) -> None:
    """Put business attributes on the current span (an HTTP request or a consumed event), so that
    `regstd trace` finds the flow by them. Does nothing outside a recording span."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    values: dict[str, Any] = {
        PROJECT_ID: project_id,
        STANDARD_ID: standard_id,
        STANDARD_NUMBERS: list(standard_numbers) if standard_numbers is not None else None,
        AREA: area,
        PARTY: party,
        BALLOT_STAGE: ballot_stage,
    }
    span.set_attributes({k: v for k, v in values.items() if v is not None})


def traceparent_of(span: trace.Span) -> str | None:
    """The W3C traceparent of a span, to send with the message it produced."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
