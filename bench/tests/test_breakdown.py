"""Reading a decision's stages from its spans: they follow each other and add up to the whole way;
a trace that is not a whole decision is left out."""

from typing import Any

import pytest

from regstd.bench.breakdown import STAGES, breakdown, decision_stages
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.publication import StandardPublished
from regstd.runtime.spanfiles import SpanRecord

MS = 1_000_000


def span(trace: str, service: str, kind: str, start_ms: int, end_ms: int, **attributes: Any) -> SpanRecord:
    return SpanRecord(
        trace_id=trace,
        span_id=f"{trace}-{service}-{kind}-{start_ms}",
        parent_id=None,
        name=f"{kind} span",
        kind=kind,
        service=service,
        start_ns=start_ms * MS,
        end_ns=end_ms * MS,
        status="unset",
        attributes=attributes,
    )


def decision(trace: str, project: str, at_ms: int) -> list[SpanRecord]:
    approved = {"cloudevents.event_type": ProjectFinallyApproved.event_type}
    published = {"cloudevents.event_type": StandardPublished.event_type}
    return [
        span(trace, "project-intake", "server", at_ms, at_ms + 10, **{"regstd.project_id": project}),
        span(trace, "project-intake", "client", at_ms + 1, at_ms + 3, **{"db.system": "mongodb"}),
        span(trace, "project-intake", "producer", at_ms + 14, at_ms + 20, **approved),
        span(trace, "publication", "consumer", at_ms + 25, at_ms + 45, **approved),
        span(trace, "publication", "producer", at_ms + 47, at_ms + 50, **published),
    ]


def test_the_stages_follow_each_other_from_request_to_city() -> None:
    stages = decision_stages(decision("t1", "prj-1", 1_000), arrived_wall_s=1.060)
    assert stages is not None
    assert list(stages) == list(STAGES)
    expected = {
        "request": 10,
        "intake_outbox": 4,
        "to_publication": 11,
        "publication": 20,
        "publication_outbox": 2,
        "to_city": 13,
    }
    assert {k: round(v * 1000) for k, v in stages.items()} == expected
    assert sum(stages.values()) == pytest.approx(0.060)


def test_only_whole_decisions_of_the_decided_projects_count() -> None:
    other_step = decision("t2", "prj-2", 2_000)[:2]  # a vote that published nothing
    not_decided = decision("t3", "prj-3", 3_000)  # its standard never reached the city
    spans = [*decision("t1", "prj-1", 1_000), *other_step, *not_decided]
    found = breakdown(spans, {"prj-1": 1.060, "prj-2": 2.5})
    assert found["decisions"] == 1
    assert found["stages"]["publication"]["p50_ms"] == pytest.approx(20)
    assert found["stages"]["to_city"]["count"] == 1
