"""`Idempotency-Key` on writes, without infrastructure: the runtime's middleware over in-memory
records (`MemoryRecordTable`) in front of tiny routes; the real stack's test is a service's
(`services/project-intake/tests/test_idempotency_infra.py`)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from regstd.kernel.errors import Conflict
from regstd.kernel.principals import Principal
from regstd.runtime.auth import IssuedToken, TokenBook
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.http import Caller, Command, create_app
from regstd.runtime.idempotency import BadKey, Busy, IdempotencyRecords, Run, parse_key
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.testing import MemoryRecordTable, MovableClock, bearer, crash_after_save
from regstd.runtime.unit_of_work import keyed_request

TOKENS = {
    "chongqing": Principal(kind="regulator", code="50", name="重庆市市场监督管理局"),
    "chongqing-too": Principal(kind="regulator", code="50", name="重庆市市场监督管理局"),
    "sichuan": Principal(kind="regulator", code="51", name="四川省市场监督管理局"),
}


class Add(Command):
    n: int


router = APIRouter()
ran: list[tuple[str, int, str | None]] = []
gate: dict[str, asyncio.Event] = {}
failures: list[str] = []


@router.post("/counters/{counter}", status_code=201)
async def add(counter: str, body: Add, caller: Caller) -> dict[str, Any]:
    request = keyed_request()
    ran.append((caller.code, body.n, None if request is None else request.marker))
    if counter in gate:
        gate["entered"].set()
        await gate[counter].wait()
    if failures:
        raise RuntimeError(failures.pop())
    if body.n < 0:
        raise Conflict("the counter cannot go below zero")
    return {"counter": counter, "total": sum(n for _, n, _ in ran), "by": caller.code}


@router.get("/counters/{counter}")
async def read(counter: str, _: Caller) -> dict[str, Any]:
    return {"counter": counter}


class Served:
    def __init__(self) -> None:
        self.clock = MovableClock(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
        self.table = MemoryRecordTable()
        runtime = Runtime(RuntimeSettings(service_name="t", mongo_database="t"))  # never started here
        book = TokenBook([IssuedToken(token=t, principal=p) for t, p in TOKENS.items()])
        self.app = create_app(title="t", description="t", runtime=runtime, tokens=book, routers=[router])
        self.app.state.idempotency = IdempotencyRecords(self.table, clock=self.clock)
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://t")

    async def add(
        self, n: int, key: str | None = "k-1", *, token: str = "chongqing", path: str = "/counters/c"
    ) -> httpx.Response:
        headers = bearer(token) | ({"Idempotency-Key": key} if key is not None else {})
        return await self.client.post(path, json={"n": n}, headers=headers)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    ran.clear()
    gate.clear()
    failures.clear()
    made = Served()
    async with made.client:
        yield made


async def test_a_retry_with_the_same_key_and_body_gets_the_first_answer_and_nothing_runs_again(
    served: Served,
) -> None:
    first = await served.add(2)
    again = await served.add(2)
    assert (first.status_code, first.json()) == (201, {"counter": "c", "total": 2, "by": "50"})
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["content-type"] == "application/json"
    assert len(ran) == 1


async def test_the_same_key_with_another_body_or_path_is_refused_with_422_and_nothing_runs(
    served: Served,
) -> None:
    assert (await served.add(2)).status_code == 201
    for other in (await served.add(3), await served.add(2, path="/counters/d")):
        assert other.status_code == 422, other.text
        assert other.json()["error"] == "idempotency_key_reused"
        assert "another request" in other.json()["message"]
    assert len(ran) == 1


async def test_a_key_is_scoped_by_principal_not_by_token(served: Served) -> None:
    mine = await served.add(2, token="chongqing")
    theirs = await served.add(2, token="sichuan")
    assert (mine.json()["by"], theirs.json()["by"]) == ("50", "51"), "no one gets another's answer"
    assert theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    same_principal = await served.add(2, token="chongqing-too")
    assert same_principal.json() == mine.json()
    assert same_principal.headers["idempotent-replayed"] == "true"
    assert len(ran) == 2
    assert ran[0][2] != ran[1][2], "each principal's request has its own marker"


async def test_a_refusal_is_kept_but_a_server_error_is_not(served: Served) -> None:
    refused = await served.add(-1, key="k-refused")
    assert refused.status_code == 409
    assert (await served.add(-1, key="k-refused")).json() == refused.json()
    assert len(ran) == 1
    failures.append("the store said no")
    assert (await served.add(1, key="k-failed")).status_code == 500
    retried = await served.add(1, key="k-failed")
    assert retried.status_code == 201, "after a 5xx the retry runs again"
    assert len(ran) == 3


async def test_a_request_with_its_key_still_being_answered_gets_409_with_retry_after(served: Served) -> None:
    gate.update(slow=asyncio.Event(), entered=asyncio.Event())
    first = asyncio.create_task(served.add(1, path="/counters/slow"))
    await gate["entered"].wait()
    busy = await served.add(1, path="/counters/slow")
    assert busy.status_code == 409, busy.text
    assert busy.json()["error"] == "idempotency_key_in_progress"
    assert int(busy.headers["retry-after"]) >= 1
    gate["slow"].set()
    assert (await first).status_code == 201
    assert (await served.add(1, path="/counters/slow")).status_code == 201
    assert len(ran) == 1


async def test_a_retry_after_the_answering_instance_died_runs_again_with_the_same_marker(
    served: Served,
) -> None:
    assert (await served.add(2)).status_code == 201
    [record_id] = served.table.records
    served.table.records[record_id] = crash_after_save(served.table.records[record_id])
    retried = await served.add(2)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert [marker for _, _, marker in ran] == [ran[0][2], ran[0][2]], (
        "the unit of work finds the first execution's change by the same marker"
    )
    assert served.table.records[record_id]["state"] == "done"


async def test_an_expired_key_is_a_new_request(served: Served) -> None:
    assert (await served.add(2)).status_code == 201
    served.clock.advance(hours=24, seconds=1)
    later = await served.add(3)
    assert later.status_code == 201, "the key's record expired: another body is no reuse"
    assert ran[0][2] != ran[1][2], "a new record, a new marker: the old change is not taken for it"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "must not be empty"),
        ('""', "must not be empty"),
        ("k" * 256, "at most 255 characters, not 256"),
        ("bad\x01key", "control character U+0001"),
        ("schlüssel", "only printable ASCII"),
    ],
)
async def test_a_malformed_key_is_refused_with_422_naming_the_header(
    served: Served, key: str, problem: str
) -> None:
    headers = {**bearer("chongqing"), "Idempotency-Key": key.encode()}  # bytes: as UTF-8 on the wire
    refused = await served.client.post("/counters/c", json={"n": 1}, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid_request"
    assert refused.json()["details"][0]["where"] == "header.Idempotency-Key"
    assert problem in refused.json()["message"]
    assert ran == []
    assert served.table.records == {}


def test_a_key_may_come_as_a_structured_field_string() -> None:
    assert parse_key(b'"8e03978e-40d5-43e8"') == "8e03978e-40d5-43e8"
    assert parse_key(b'"a \\"quoted\\" key"') == 'a "quoted" key'
    assert parse_key(b"plain-key") == "plain-key"
    assert parse_key(b"k" * 255) == "k" * 255
    with pytest.raises(BadKey, match="lone backslash"):
        parse_key(b'"a\\"')


async def test_without_the_header_or_a_known_token_nothing_changes(served: Served) -> None:
    assert (await served.add(1, key=None)).status_code == 201
    assert (await served.add(1, key=None)).status_code == 201
    unknown = await served.client.post("/counters/c", json={"n": 1}, headers={"Idempotency-Key": "k"})
    assert unknown.status_code == 401
    assert len(ran) == 2
    assert served.table.records == {}


async def test_the_openapi_document_names_the_header_on_writes_only(served: Served) -> None:
    paths = (await served.client.get("/openapi.json")).json()["paths"]
    write = paths["/counters/{counter}"]["post"]
    [header] = [p for p in write["parameters"] if p["in"] == "header"]
    assert (header["name"], header["required"], header["schema"]["maxLength"]) == (
        "Idempotency-Key",
        False,
        255,
    )
    assert {"409", "422"} <= set(write["responses"])
    assert not any(p["in"] == "header" for p in paths["/counters/{counter}"]["get"].get("parameters", []))


async def test_the_lease_of_a_live_request_is_renewed_so_no_retry_takes_it_over() -> None:
    table = MemoryRecordTable()
    clock = MovableClock(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    records = IdempotencyRecords(table, clock=clock)
    begun = await records.begin("r", "f", principal="regulator:50", key="k")
    assert isinstance(begun, Run)
    clock.advance(seconds=9)
    assert await records.renew("r", begun.owner)
    clock.advance(seconds=9)
    assert isinstance(await records.begin("r", "f", principal="regulator:50", key="k"), Busy)
    clock.advance(seconds=2)
    taken = await records.begin("r", "f", principal="regulator:50", key="k")
    assert isinstance(taken, Run)
    assert taken.taken_over
    assert not await records.renew("r", begun.owner), "the dead owner's lease is gone"
    assert table.records["r"]["lease_until"] == clock() + timedelta(seconds=10)
