"""Where a decision's latency goes, read from the spans the services wrote in the tracing-on run.

One decision is one trace (decision 13): intake's request span (the last final-approval vote) →
intake's send span of `ProjectFinallyApproved` → publication's process span of it → publication's
send span of `StandardPublished`; the arrival at the city is the bench's own consumer's wall time.
The stages follow each other from span start to span start, so they add up to the whole way from
the request's start to the city:

- `request`: the vote's HTTP request in intake;
- `intake_outbox`: from the response to intake's relay sending the approval;
- `to_publication`: from that send to publication's consumer starting on it (produce, broker,
  fetch, and any queue in front of the consumer);
- `publication`: publication handling it (numbering, storing the standard);
- `publication_outbox`: from there to publication's relay sending `StandardPublished`;
- `to_city`: from that send to the city consumer having it.

Pure functions over span records, unit-tested; reading the files is `regstd.runtime.spanfiles`.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from regstd.bench.stats import Summary
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.publication import StandardPublished
from regstd.runtime.spanfiles import SpanRecord

STAGES = ("request", "intake_outbox", "to_publication", "publication", "publication_outbox", "to_city")
_EVENT_TYPE = "cloudevents.event_type"
_PROJECT = "regstd.project_id"


def _one(
    spans: Sequence[SpanRecord], service: str, kind: str, event_type: str | None = None
) -> SpanRecord | None:
    for span in spans:
        wanted = event_type is None or span.attributes.get(_EVENT_TYPE) == event_type
        if span.service == service and span.kind == kind and wanted:
            return span
    return None


def decision_stages(trace: Sequence[SpanRecord], arrived_wall_s: float) -> dict[str, float] | None:
    """The stages of one decision's trace in seconds; None when the trace is not a whole decision
    (another step of the project, or spans missing)."""
    request = _one(trace, "project-intake", "server")
    approval_sent = _one(trace, "project-intake", "producer", ProjectFinallyApproved.event_type)
    processed = _one(trace, "publication", "consumer", ProjectFinallyApproved.event_type)
    published = _one(trace, "publication", "producer", StandardPublished.event_type)
    if request is None or approval_sent is None or processed is None or published is None:
        return None
    arrived_ns = arrived_wall_s * 1e9
    marks = [
        request.start_ns,
        request.end_ns,
        approval_sent.start_ns,
        processed.start_ns,
        processed.end_ns,
        published.start_ns,
        arrived_ns,
    ]
    return {stage: (marks[i + 1] - marks[i]) / 1e9 for i, stage in enumerate(STAGES)}


def breakdown(spans: Iterable[SpanRecord], arrivals: Mapping[str, float]) -> dict[str, Any]:
    """Each stage summarised over the decisions whose trace is whole: `arrivals` maps a decided
    project to the wall time (seconds) its standard reached the city."""
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    project_of: dict[str, str] = {}
    for span in spans:
        if span.kind in ("internal", "client"):
            continue  # store calls and the like: not stages of their own
        traces[span.trace_id].append(span)
        project = span.attributes.get(_PROJECT)
        if span.kind == "server" and isinstance(project, str) and project in arrivals:
            project_of[span.trace_id] = project
    per_stage: dict[str, list[float]] = {stage: [] for stage in STAGES}
    decisions = 0
    for trace_id, project in project_of.items():
        stages = decision_stages(traces[trace_id], arrivals[project])
        if stages is None:
            continue
        decisions += 1
        for stage, seconds in stages.items():
            per_stage[stage].append(seconds)
    return {
        "decisions": decisions,
        "stages": {stage: Summary.of_seconds(values).to_json() for stage, values in per_stage.items()},
    }
