"""A service's real routes served over real HTTP on a free local port, over storage in memory, and a
token book naming it: what the CLI tests run the commands against."""

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import APIRouter, FastAPI

from regstd.contracts.reference import load_reference
from regstd.kernel.time import Now
from regstd.publication.adapters.standards import CODEC, standard_of
from regstd.publication.domain.standard import Standard
from regstd.runtime.auth import TokenBook, write_development_tokens
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.events import PendingEvent
from regstd.runtime.http import create_app
from regstd.runtime.idempotency import IdempotencyRecords
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.testing import MemoryAggregateStore, MemoryRecordTable
from regstd.runtime.unit_of_work import UnitOfWork

REFERENCE = load_reference()


def app_of(routers: Sequence[APIRouter], book: Path, *, uses: Sequence[object] = ()) -> FastAPI:
    """The service's HTTP app as `create_app` builds it (auth, refusals), its runtime never started;
    `uses` are the use cases its routes are given (`provide`)."""
    runtime = Runtime(RuntimeSettings(service_name="cli-test", mongo_database="cli-test"))
    app = create_app(
        title="t", description="t", runtime=runtime, tokens=TokenBook.load(book), routers=routers, uses=uses
    )
    app.state.idempotency = IdempotencyRecords(MemoryRecordTable())  # the CLI's writes carry keys
    return app


def token_book(path: Path, endpoints: dict[str, str]) -> Path:
    """A development token book naming the endpoints, as `regstd local up` writes it."""
    write_development_tokens(path, REFERENCE, endpoints)
    return path


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
# Publication's standards in memory (what a submission reads and writes)


class MemoryStandards:
    """Standards in memory: the runtime's in-memory aggregate store under the real unit of work."""

    def __init__(self, clock: Now) -> None:
        self.store = MemoryAggregateStore()
        self.work = UnitOfWork[Standard](self.store, CODEC, kind="standard", clock=clock)
        self.designations: dict[str, str] = {}

    @property
    def docs(self) -> dict[str, Standard]:
        """Every stored standard by id."""
        return {i: standard_of(i, state) for i, state in self.store.states().items()}

    @property
    def outbox(self) -> list[PendingEvent]:
        """Every event stored with them, in order."""
        return self.store.outbox

    async def holder(self, number: str) -> str | None:
        """The id of the standard carrying a number, as the catalogue answers."""
        return next((s.id for s in self.docs.values() if number in {n.number for n in s.numbers}), None)

    async def claim(self, designations: list[str], standard_id: str) -> tuple[str, str] | None:
        """The designation registry's claim (publication's `Designations`), in memory."""
        for d in designations:
            if self.designations.setdefault(d, standard_id) != standard_id:
                return d, self.designations[d]
        return None
