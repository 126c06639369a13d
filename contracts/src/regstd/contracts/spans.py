"""Spans as the operator reads them: the records a service's span files hold, as its operator
endpoint (`GET /operator/spans`) answers them, and the one way to lay a trace out as a tree.

The runtime writes and serves them, the `regstd trace` command prints them, the console draws them
as a waterfall across services; all three use these models and `tree_order`, so a trace is laid out
one way everywhere (decision 34).
"""

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

STORE_SYSTEMS = ("mongodb",)


class SpanView(BaseModel):
    """One finished span: where it sits in its trace, which service did what, when, and how it ended."""

    model_config = ConfigDict(frozen=True)

    trace_id: str
    span_id: str
    parent_id: str | None = None
    name: str
    kind: str = "internal"
    service: str = "unknown"
    start_ns: int = Field(description="Start, nanoseconds since the Unix epoch.")
    end_ns: int = Field(description="End, nanoseconds since the Unix epoch.")
    status: str = Field(default="unset", description="`ok`, `error` or `unset`.")
    status_message: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    links: list[dict[str, str]] = Field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        """How long the span took, in milliseconds."""
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def failed(self) -> bool:
        """Whether the span ended in error."""
        return self.status == "error"

    @property
    def is_store_call(self) -> bool:
        """A span of a database command (the pymongo instrumentation's)."""
        return self.kind == "client" and self.attributes.get("db.system") in STORE_SYSTEMS


class TraceSpans(BaseModel):
    """The spans of one trace, in start order."""

    trace_id: str
    spans: list[SpanView]


class FlowSpans(BaseModel):
    """What one service's span files hold of a flow: the traces a query names, oldest first."""

    service: str = Field(description="The service whose span files were read.")
    query: str
    kept_locally: bool = Field(
        description="Whether this service keeps spans in local files; false when they go only to an "
        "OTLP collector (then look in the tracing back end)."
    )
    traces: list[TraceSpans]
    truncated: bool = Field(description="Whether spans were left out to keep the answer within `limit`.")


def tree_order(spans: Iterable[SpanView]) -> list[tuple[int, SpanView]]:
    """The spans depth-first from the roots, children in start order, each with its depth. A span
    whose parent is not among them (another process's file not flushed yet) is shown as a root."""
    listed = list(spans)
    ids = {s.span_id for s in listed}
    children: dict[str | None, list[SpanView]] = {}
    for span in listed:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: (s.start_ns, s.end_ns))
    rows: list[tuple[int, SpanView]] = []
    seen: set[str] = set()

    def visit(parent: str | None, depth: int) -> None:
        for span in children.get(parent, ()):
            if span.span_id in seen:  # a span written twice (a retried export) is shown once
                continue
            seen.add(span.span_id)
            rows.append((depth, span))
            visit(span.span_id, depth + 1)

    visit(None, 0)
    return rows


def merge_traces(answers: Sequence[FlowSpans]) -> dict[str, list[SpanView]]:
    """The traces of several services' answers merged by trace id, each in start order, the trace
    that started first first."""
    merged: dict[str, dict[str, SpanView]] = {}
    for answer in answers:
        for trace in answer.traces:
            spans = merged.setdefault(trace.trace_id, {})
            for span in trace.spans:
                spans.setdefault(span.span_id, span)
    ordered = {t: sorted(s.values(), key=lambda s: (s.start_ns, s.end_ns)) for t, s in merged.items() if s}
    return dict(sorted(ordered.items(), key=lambda item: item[1][0].start_ns))
