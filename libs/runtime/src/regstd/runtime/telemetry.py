"""Tracing set-up in one place: a tracer provider named after the service, exporting over OTLP.

Export is configured by the standard `OTEL_*` environment variables; with no
`OTEL_EXPORTER_OTLP_ENDPOINT` (or traces endpoint) set, spans are created but not exported.
"""

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

_OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configure_tracing(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Install the global tracer provider for this service and return it."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "regstd"})
    )
    if exporter is None and any(os.environ.get(name) for name in _OTLP_ENDPOINT_VARIABLES):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
