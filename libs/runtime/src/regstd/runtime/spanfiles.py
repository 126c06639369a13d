"""Spans kept on local disk when no collector is configured, and finding them again by business key.

Each service appends its finished spans as JSON lines to `<dir>/<service>.jsonl` and, for spans
that carry a business attribute, a line `{"key": ..., "trace_id": ...}` to `<dir>/<service>.index.jsonl`:
keys are `project:<project id>`, `standard:<standard id>` and `number:<canonical number>`. The
index is small (a few lines per flow, written once per key and trace), so a lookup by business key
reads only the index files; the spans of the traces found are then read with a byte-level filter on
the trace id before any JSON is parsed. See decision 0014.

A service hands its finished spans to a `SpanFileProcessor`: ending a span only puts it on a queue;
a background thread encodes and appends the queued spans every half second, so that no request or
event waits for JSON or a file (decision 0037).
"""

import functools
import json
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from regstd.contracts.numbers import InvalidNumber, number_key
from regstd.contracts.spans import SpanView
from regstd.runtime import telemetry

INDEX_SUFFIX = ".index.jsonl"
SPANS_SUFFIX = ".jsonl"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_REMEMBERED_KEYS = 100_000  # the exporter forgets which keys it indexed beyond this (it re-writes some)

log = logging.getLogger(__name__)
# One encoder for every line: `json.dumps` with options builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def index_keys(attributes: Mapping[str, Any]) -> list[str]:
    """The index keys of a span's business attributes."""
    keys: list[str] = []
    if isinstance(project := attributes.get(telemetry.PROJECT_ID), str):
        keys.append(f"project:{project}")
    if isinstance(standard := attributes.get(telemetry.STANDARD_ID), str):
        keys.append(f"standard:{standard}")
    for number in attributes.get(telemetry.STANDARD_NUMBERS) or ():
        key = _number_key(str(number))
        if key is not None:
            keys.append(key)
    return keys


@functools.lru_cache(maxsize=4096)
def _number_key(number: str) -> str | None:
    """A number's index key, None when it is no number; remembered, as a flow's spans repeat it."""
    try:
        return f"number:{number_key(number)}"
    except InvalidNumber:
        return None


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
            lines.append(_encode(record))
            for key in index_keys(record["attributes"]):
                if (key, record["trace_id"]) not in self._indexed:
                    self._indexed.add((key, record["trace_id"]))
                    index.append(_encode({"key": key, "trace_id": record["trace_id"]}))
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


class SpanFileProcessor(SpanProcessor):
    """Hands finished spans to a background thread that writes them with a `SpanFileExporter`.

    Ending a span appends it to a queue and returns: the encoding and the appends happen in the
    thread, in batches, every `every_s` and at `force_flush` or `shutdown`, in the order the spans
    ended. At most `max_queued` spans wait; beyond that new ones are dropped and counted, so a
    stuck disk cannot grow the service's memory. `shutdown` writes whatever is queued.
    """

    def __init__(self, exporter: SpanExporter, *, every_s: float = 0.5, max_queued: int = 100_000) -> None:
        self.exporter = exporter
        self.every_s = every_s
        self.max_queued = max_queued
        self.dropped = 0
        self._queue: deque[ReadableSpan] = deque()
        self._writing = threading.Lock()  # one batch at a time, so that batches keep their order
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="regstd-span-files", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the finished span (a deque append: safe from any thread, no lock, no I/O)."""
        if self._stopped:
            return
        if len(self._queue) >= self.max_queued:
            self.dropped += 1
            return
        self._queue.append(span)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.every_s)
            self._wake.clear()
            self._write_queued()

    def _write_queued(self) -> bool:
        """Write every span queued so far; whether the exporter took them."""
        with self._writing:
            batch: list[ReadableSpan] = []
            while self._queue:
                batch.append(self._queue.popleft())
            if not batch:
                return True
            try:
                return self.exporter.export(batch) == SpanExportResult.SUCCESS
            except Exception:  # the thread must live on; the spans of this batch are lost
                log.exception("writing spans failed", extra={"spans": len(batch)})
                return False

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write every span that ended before this call, now, in the caller's thread."""
        return self._write_queued()

    def shutdown(self) -> None:
        """Stop the thread and write what is still queued: nothing that ended is lost at stop."""
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=5)
        self._write_queued()
        self.exporter.shutdown()


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


def read_spans(directory: Path) -> Iterator[SpanRecord]:
    """Every span of every span file in a directory (the bench reads a whole run's this way)."""
    for path in SpanFiles(directory)._files(index=False):
        with path.open("rb") as lines:
            for line in lines:
                try:
                    yield _span(json.loads(line))
                except (json.JSONDecodeError, KeyError):
                    continue  # a line cut short by a crash


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
