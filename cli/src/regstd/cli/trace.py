"""`regstd trace`: a business flow as a waterfall in the terminal, read from the local span files.

The query is a trace id, a standard number (any dash) or a project or standard id; the span files'
index turns a business key into trace ids (`regstd.runtime.spanfiles`); the tree is laid out by
`regstd.contracts.spans.tree_order`, as the console's waterfall is. Each trace prints as one
table: spans as a tree (parent above child), the service and kind of each hop, when it started
after the trace began, how long it took, a bar on the trace's time line, and errors.
"""

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from regstd.contracts.spans import SpanView as SpanRecord
from regstd.contracts.spans import tree_order
from regstd.runtime import telemetry

BAR_WIDTH = 28
_SHOWN_ATTRIBUTES = (
    (telemetry.PROJECT_ID, "project"),
    (telemetry.STANDARD_NUMBERS, "numbers"),
    (telemetry.BALLOT_STAGE, "stage"),
    (telemetry.PARTY, "party"),
)


def _bar(span: SpanRecord, start: int, total: int) -> str:
    offset = round((span.start_ns - start) / total * BAR_WIDTH) if total else 0
    length = max(1, round((span.end_ns - span.start_ns) / total * BAR_WIDTH)) if total else 1
    offset = min(offset, BAR_WIDTH - 1)
    return (" " * offset + "█" * min(length, BAR_WIDTH - offset)).ljust(BAR_WIDTH)


def _notes(span: SpanRecord) -> Text:
    notes = Text()
    if span.failed:
        notes.append(f"ERROR {span.status_message or ''}".strip(), style="bold red")
        notes.append(" ")
    for attribute, label in _SHOWN_ATTRIBUTES:
        value = span.attributes.get(attribute)
        if value:
            shown = " = ".join(value) if isinstance(value, list) else str(value)
            notes.append(f"{label}={shown} ", style="dim")
    retries = sum(1 for e in span.events if "retry" in e.get("name", ""))
    if retries:
        notes.append(f"retries={retries} ", style="yellow")
    return notes


def waterfall(trace_id: str, spans: Sequence[SpanRecord], *, show_store: bool = True) -> RenderableType:
    """One trace as a table: its header line, then one row per span, parents above children."""
    shown = [s for s in spans if show_store or not s.is_store_call]
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    total = end - start
    services = sorted({s.service for s in spans})
    errors = sum(1 for s in spans if s.failed)
    table = Table(
        title=(
            f"trace {trace_id}  {total / 1e6:.1f} ms  {len(spans)} spans  "
            f"services: {', '.join(services)}" + (f"  errors: {errors}" if errors else "")
        ),
        title_justify="left",
        show_lines=False,
        expand=False,
    )
    table.add_column("span", no_wrap=True)
    table.add_column("service", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("at ms", justify="right")
    table.add_column("ms", justify="right")
    table.add_column("timeline", no_wrap=True)
    table.add_column("notes")
    for depth, span in tree_order(shown):
        style = "red" if span.failed else ("dim" if span.is_store_call else "")
        table.add_row(
            Text("  " * depth + span.name, style=style),
            span.service,
            span.kind,
            f"{(span.start_ns - start) / 1e6:.1f}",
            f"{span.duration_ms:.1f}",
            Text(_bar(span, start, total), style="red" if span.failed else "cyan"),
            _notes(span),
        )
    return table


def waterfalls(traces: dict[str, list[SpanRecord]], *, show_store: bool = True) -> RenderableType:
    """Every trace found, oldest first."""
    return Group(*(waterfall(t, spans, show_store=show_store) for t, spans in traces.items() if spans))
