"""A service's real routes served over real HTTP on a free local port, over storage in memory, and a
token book naming it: what the CLI tests run the commands against."""

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI

from regstd.contracts.reference import load_reference
from regstd.harmonization.adoption import EcoStandard
from regstd.publication.domain import Standard
from regstd.publication.standards import Stored
from regstd.runtime.auth import TokenBook, write_development_tokens
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.events import PendingEvent
from regstd.runtime.http import create_app
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.store import Change, Loaded

REFERENCE = load_reference()


def app_of(routers: Sequence[APIRouter], book: Path) -> FastAPI:
    """The service's HTTP app as `create_app` builds it (auth, refusals), its runtime never started."""
    runtime = Runtime(RuntimeSettings(service_name="cli-test", mongo_database="cli-test"))
    return create_app(
        title="t", description="t", runtime=runtime, tokens=TokenBook.load(book), routers=routers
    )


def token_book(path: Path, endpoints: dict[str, str]) -> Path:
    """A development token book naming the endpoints, as `regstd local up` writes it."""
    write_development_tokens(path, REFERENCE, endpoints)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[str]:
    """Serve the app with uvicorn in a thread until the block ends; its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the test server did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ---------------------------------------------------------------------------------------------
# Harmonization's storage in memory, with the semantics of its MongoDB adapters


class MemoryEcoStandards:
    """Eco standards in memory: versioned saves, idempotent consumption."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[dict[str, Any], int, frozenset[str]]] = {}
        self.outbox: list[PendingEvent] = []

    def _loaded(self, sid: str) -> Loaded | None:
        if sid not in self.docs:
            return None
        state, version, processed = self.docs[sid]
        return Loaded(sid, version, state, processed)

    async def load(self, sid: str) -> tuple[EcoStandard, Loaded] | None:
        loaded = self._loaded(sid)
        return None if loaded is None else (EcoStandard.from_dict(sid, loaded.state), loaded)

    async def save(self, standard: EcoStandard, loaded: Loaded, events: Sequence[PendingEvent]) -> bool:
        _, version, processed = self.docs[standard.id]
        if version != loaded.version:
            return False
        self.docs[standard.id] = (standard.to_dict(), version + 1, processed)
        self.outbox += events
        return True

    async def apply_once(
        self, sid: str, event_id: str, decide: Callable[[Loaded | None], Change | None]
    ) -> bool:
        loaded = self._loaded(sid)
        if loaded is not None and loaded.has_processed(event_id):
            return False
        change = decide(loaded)
        if change is None:
            return False
        state, events = change
        version = 0 if loaded is None else loaded.version
        processed = (loaded.processed if loaded else frozenset()) | {event_id}
        self.docs[sid] = (dict(state), version + 1, processed)
        self.outbox += events
        return True

    async def find(
        self, *, member: str | None = None, source: str | None = None, adopter: str | None = None
    ) -> list[EcoStandard]:
        found = [EcoStandard.from_dict(sid, state) for sid, (state, _, _) in sorted(self.docs.items())]
        return [
            s
            for s in found
            if (member is None or member in s.members)
            and (source is None or source in s.sources)
            and (adopter is None or adopter in s.adopters)
        ]


class MemoryImports:
    """Limit imports in memory, one document each."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def add(self, document: dict[str, Any]) -> bool:
        if document["_id"] in self.docs:
            return False
        self.docs[document["_id"]] = document
        return True

    async def get(self, import_id: str) -> dict[str, Any] | None:
        return self.docs.get(import_id)

    async def latest(self, region: str) -> dict[str, Any] | None:
        mine = [d for d in self.docs.values() if d["region"] == region]
        return max(mine, key=lambda d: d["imported_at"], default=None)

    async def listing(self, region: str | None) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in d.items() if k != "rows"}
            for d in self.docs.values()
            if region is None or d["region"] == region
        ]


class MemoryAssessments:
    """Assessments in memory with their events."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.outbox: list[PendingEvent] = []

    async def get(self, assessment_id: str) -> dict[str, Any] | None:
        return self.docs.get(assessment_id)

    async def add(self, assessment_id: str, state: dict[str, Any], events: Sequence[PendingEvent]) -> bool:
        if assessment_id in self.docs:
            return False
        self.docs[assessment_id] = {"_id": assessment_id, **state}
        self.outbox += events
        return True


# ---------------------------------------------------------------------------------------------
# Publication's standards in memory (what a submission reads and writes)


class MemoryStandards:
    """Standards in memory: added once, with their events."""

    def __init__(self) -> None:
        self.docs: dict[str, Standard] = {}
        self.outbox: list[PendingEvent] = []

    async def get(self, standard_id: str) -> Stored | None:
        standard = self.docs.get(standard_id)
        return None if standard is None else Stored(standard, Loaded(standard_id, 1, standard.to_dict()))

    async def add(self, standard: Standard, events: Sequence[PendingEvent], consumed: str | None) -> bool:
        if standard.id in self.docs:
            return False
        self.docs[standard.id] = standard
        self.outbox += events
        return True

    async def holder(self, number: str) -> str | None:
        """The id of the standard carrying a number, as the catalogue answers."""
        return next((s.id for s in self.docs.values() if number in {n.number for n in s.numbers}), None)
