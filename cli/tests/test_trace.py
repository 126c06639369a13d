"""The waterfall of `regstd trace`: spans as a tree in start order, errors marked, store calls optional."""

from rich.console import Console

from regstd.cli.trace import waterfall
from regstd.contracts.spans import tree_order as ordered
from regstd.runtime.spanfiles import SpanRecord

MS = 1_000_000


def span(
    span_id: str, parent: str | None, name: str, service: str, start: int, end: int, **extra: object
) -> SpanRecord:
    return SpanRecord(
        trace_id="a" * 32,
        span_id=span_id,
        parent_id=parent,
        name=name,
        kind=str(extra.pop("kind", "internal")),
        service=service,
        start_ns=start * MS,
        end_ns=end * MS,
        status=str(extra.pop("status", "unset")),
        status_message=extra.pop("status_message", None),  # type: ignore[arg-type]
        attributes=dict(extra.pop("attributes", {})),  # type: ignore[call-overload]
    )


FLOW = [
    span("c", "b", "process regstd.intake.projects.v1", "publication", 50, 60, kind="consumer",
         status="error", status_message="dead-lettered: ValidationError"),
    span("a", None, "POST /projects", "project-intake", 0, 20, kind="server",
         attributes={"regstd.project_id": "prj-1"}),
    span("d", "a", "db.find", "project-intake", 2, 4, kind="client", attributes={"db.system": "mongodb"}),
    span("b", "a", "send regstd.intake.projects.v1", "project-intake", 25, 30, kind="producer"),
    span("x", "missing", "process elsewhere", "city-510100", 70, 80, kind="consumer"),
]  # fmt: skip


def test_spans_are_ordered_depth_first_by_start_and_orphans_become_roots() -> None:
    rows = [(depth, s.span_id) for depth, s in ordered(FLOW)]
    assert rows == [(0, "a"), (1, "d"), (1, "b"), (2, "c"), (0, "x")]


def render(**options: bool) -> str:
    console = Console(record=True, width=220)
    console.print(waterfall("a" * 32, FLOW, **options))
    return console.export_text()


def test_the_waterfall_shows_services_hops_durations_and_errors() -> None:
    text = render()
    assert f"trace {'a' * 32}  80.0 ms  5 spans" in text
    assert "services: city-510100, project-intake, publication  errors: 1" in text
    lines = [line for line in text.splitlines() if line.startswith("│")]
    names = [line.split("│")[1].rstrip() for line in lines]
    assert names == [
        " POST /projects",
        "   db.find",
        "   send regstd.intake.projects.v1",
        "     process regstd.intake.projects.v1",
        " process elsewhere",
    ]
    consumer = lines[3]
    assert "publication" in consumer
    assert "ERROR dead-lettered: ValidationError" in consumer
    assert " 50.0 " in consumer  # starts 50 ms in
    assert " 10.0 " in consumer  # takes 10 ms
    assert "project=prj-1" in lines[0]


def test_store_calls_can_be_left_out() -> None:
    assert "db.find" not in render(show_store=False)
