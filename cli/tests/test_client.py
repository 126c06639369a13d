"""The CLI's HTTP client: every write carries its own Idempotency-Key, repeated on its retries."""

import httpx
import pytest

from regstd.cli.client import Api, TokenBookFile

BOOK = TokenBookFile(endpoints={"project-intake": "http://intake"}, tokens={"50": "reg-50"})


def test_each_write_has_a_fresh_key_and_its_retries_after_a_lost_connection_repeat_it() -> None:
    seen: list[tuple[str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.headers.get("idempotency-key")))
        if len(seen) == 2:
            raise httpx.ReadError("the connection dropped before the answer")
        return httpx.Response(200, json={"ok": True})

    api = Api(BOOK, "50", transport=httpx.MockTransport(answer))
    api.intake("POST", "/projects", json={"a": 1})
    api.intake("POST", "/projects/p/drafting")
    api.intake("GET", "/projects")
    keys = [key for _, key in seen]
    assert keys[0] is not None
    assert keys[1] is not None
    assert keys[1] == keys[2], "the retry of a write repeats its key"
    assert keys[0] != keys[1], "another write, another key"
    assert seen[3] == ("GET", None), "reads carry no key"


def test_a_write_whose_connection_keeps_failing_raises_after_its_attempts() -> None:
    calls: list[str | None] = []

    def fail(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("idempotency-key"))
        raise httpx.ConnectError("refused")

    api = Api(BOOK, "50", transport=httpx.MockTransport(fail))
    with pytest.raises(httpx.ConnectError):
        api.intake("POST", "/projects", json={})
    assert len(calls) == 3
    assert len(set(calls)) == 1
