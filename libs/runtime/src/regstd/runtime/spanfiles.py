"""Spans kept on local disk when no collector is configured, and finding them again by business key.

Each service appends its finished spans as JSON lines to `<dir>/<service>.jsonl` and, for spans
that carry a business attribute, a line `{"key": ..., "trace_id": ...}` to `<dir>/<service>.index.jsonl`:
keys are `project:<project id>`, `standard:<standard id>` and `number:<canonical number>`. The
index is small (a few lines per flow, written once per key and trace), so a lookup by business key
reads only the index files; the spans of the traces found are then read with a byte-level filter on
the trace id before any JSON is parsed. See decision 0014.
"""

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from regstd.contracts.numbers import InvalidNumber, number_key
from regstd.contracts.spans import SpanView
from regstd.runtime import telemetry

INDEX_SUFFIX = ".index.jsonl"
SPANS_SUFFIX = ".jsonl"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_REMEMBERED_KEYS = 100_000  # the exporter forgets which keys it indexed beyond this (it re-writes some)


def index_keys(attributes: Mapping[str, Any]) -> list[str]:
    """The index keys of a span's business attributes."""
    keys: list[str] = []
    if isinstance(project := attributes.get(telemetry.PROJECT_ID), str):
        keys.append(f"project:{project}")
    if isinstance(standard := attributes.get(telemetry.STANDARD_ID), str):
        keys.append(f"standard:{standard}")
    for number in attributes.get(telemetry.STANDARD_NUMBERS) or ():
        try:
            keys.append(f"number:{number_key(str(number))}")
        except InvalidNumber:
            continue
    return keys


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """One finished span as a JSON-ready record."""
    context = span.get_span_context()
    assert context is not None  # a finished SDK span always has one
    resource = span.resource.attributes if span.resource else {}
    return {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "kind": span.kind.name.lower(),
        "service": str(resource.get(telemetry.SERVICE, "unknown")),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name.lower(),
        "status_message": span.status.description,
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "events": [
            {
                "name": e.name,
                "time_ns": e.timestamp,
                "attributes": {k: _plain(v) for k, v in (e.attributes or {}).items()},
            }
            for e in span.events
        ],
        "links": [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in span.links
        ],
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class SpanFileExporter(SpanExporter):
    """Appends finished spans of one service to `<dir>/<service>.jsonl` and indexes business keys."""

    def __init__(self, directory: Path, service: str) -> None:
        self.directory = directory
        self.spans_path = directory / f"{service}{SPANS_SUFFIX}"
        self.index_path = directory / f"{service}{INDEX_SUFFIX}"
        self._indexed: set[tuple[str, str]] = set()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write the batch: one append to the span file, one to the index (O_APPEND: instances of
        the same service sharing the directory do not overwrite each other)."""
        lines: list[str] = []
        index: list[str] = []
        for span in spans:
            record = span_record(span)
            lines.append(json.dumps(record, ensure_ascii=False, default=str))
            for key in index_keys(record["attributes"]):
                if (key, record["trace_id"]) not in self._indexed:
                    self._indexed.add((key, record["trace_id"]))
                    index.append(json.dumps({"key": key, "trace_id": record["trace_id"]}, ensure_ascii=False))
        if len(self._indexed) > _REMEMBERED_KEYS:
            self._indexed.clear()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _append(self.spans_path, lines)
            _append(self.index_path, index)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release: every batch opens and closes its files."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Every export is written when it returns."""
        return True


def _append(path: Path, lines: list[str]) -> None:
    if not lines:
        return
    data = ("\n".join(lines) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


SpanRecord = SpanView
"""A span as read back from a span file (the operator's view of it, `regstd.contracts.spans`)."""


def lookup_keys(query: str) -> list[str]:
    """The index keys a query may mean: a standard number (any dash), a project or standard id."""
    query = query.strip()
    try:
        return [f"number:{number_key(query)}"]
    except InvalidNumber:
        return [f"project:{query}", f"standard:{query}"]


class SpanFiles:
    """The span files in one directory, read for `regstd trace` (every service's) and for a
    service's operator endpoint (`services`: only its own files)."""

    def __init__(self, directory: Path, services: Iterable[str] | None = None) -> None:
        self.directory = directory
        self.services = None if services is None else frozenset(services)

    def _files(self, index: bool) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p
            for p in self.directory.iterdir()
            if p.name.endswith(INDEX_SUFFIX) == index
            and p.name.endswith(SPANS_SUFFIX)
            and (self.services is None or _service_of(p.name) in self.services)
        )

    def trace_ids(self, query: str) -> list[str]:
        """The trace ids a query names: itself when it is a trace id, else those the index holds for
        its business key, oldest first."""
        query = query.strip().lower() if _TRACE_ID.fullmatch(query.strip().lower()) else query.strip()
        if _TRACE_ID.fullmatch(query):
            return [query]
        wanted = set(lookup_keys(query))
        needles = [json.dumps(k, ensure_ascii=False).encode("utf-8") for k in wanted]
        found: dict[str, None] = {}
        for path in self._files(index=True):
            with path.open("rb") as lines:
                for line in lines:
                    if any(needle in line for needle in needles):
                        entry = json.loads(line)
                        if entry.get("key") in wanted:
                            found.setdefault(entry["trace_id"], None)
        return list(found)

    def spans(self, trace_ids: Iterable[str]) -> dict[str, list[SpanRecord]]:
        """Every stored span of these traces, by trace id, each list in start order."""
        wanted = set(trace_ids)
        needles = [t.encode("ascii") for t in wanted]
        found: dict[str, list[SpanRecord]] = {t: [] for t in wanted}
        for path in self._files(index=False):
            for record in _records(path, needles):
                if record.get("trace_id") in wanted:
                    found[record["trace_id"]].append(_span(record))
        for spans in found.values():
            spans.sort(key=lambda s: (s.start_ns, s.end_ns))
        return found

    def lookup(self, query: str) -> dict[str, list[SpanRecord]]:
        """The traces a query names with their spans, oldest trace first; empty when none is stored."""
        ids = self.trace_ids(query)
        spans = self.spans(ids)
        stored = {t: spans[t] for t in ids if spans.get(t)}
        return dict(sorted(stored.items(), key=lambda item: item[1][0].start_ns))


def _service_of(file_name: str) -> str:
    suffix = INDEX_SUFFIX if file_name.endswith(INDEX_SUFFIX) else SPANS_SUFFIX
    return file_name.removesuffix(suffix)


def _records(path: Path, needles: Sequence[bytes]) -> Iterator[dict[str, Any]]:
    with path.open("rb") as lines:
        for line in lines:
            if any(needle in line for needle in needles):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash


def _span(record: Mapping[str, Any]) -> SpanRecord:
    return SpanView.model_validate(record)
