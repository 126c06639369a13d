"""The shared HTTP layer: who may call, what a command may contain, how a refusal reads."""

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi import APIRouter, Query
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from regstd.contracts.reference import load_reference
from regstd.kernel.errors import Conflict
from regstd.kernel.principals import Principal
from regstd.runtime import http
from regstd.runtime.auth import IssuedToken, TokenBook, development_tokens, write_development_tokens
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.http import MAX_OFFSET, Caller, Command, Limit, Offset, create_app
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.testing import bearer


class Vote(Command):
    party: str
    position: str


router = APIRouter()
recorded: list[tuple[str, str]] = []


@router.post("/votes")
async def vote(body: Vote, caller: Caller) -> dict[str, str]:
    caller.require_region(body.party)
    if body.position == "twice":
        raise Conflict("the ballot is closed")
    recorded.append((body.party, body.position))
    return {"ok": "yes"}


class Note(Command):
    title: str
    text: str = ""
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] | None = None
    weight: float = 1.0


@router.post("/projects/{project_id}/notes")
async def note(project_id: str, body: Note, caller: Caller) -> dict[str, str]:
    recorded.append((project_id, body.title))
    return {"ok": "yes"}


@router.get("/projects")
async def listing(
    _: Caller, area: Annotated[str | None, Query()] = None, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    recorded.append(("list", f"{area}:{limit}:{offset}"))
    return {"area": area, "limit": limit, "offset": offset}


@router.get("/broken")
async def broken(_: Caller) -> None:
    raise RuntimeError("the store said no")


@router.get("/store-down")
async def store_down(_: Caller) -> None:
    raise ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")


@router.get("/broker-down")
async def broker_down(_: Caller) -> None:
    raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")


@router.get("/store-down-inside")
async def store_down_inside(_: Caller) -> None:
    try:
        raise AutoReconnect("connection closed")
    except AutoReconnect as error:
        raise RuntimeError("could not load the project") from error


TOKENS = {
    "chongqing": Principal(kind="regulator", code="50", name="重庆"),
    "chengdu": Principal(kind="city", code="510100", name="成都市"),
}


@pytest.fixture
def client() -> httpx.AsyncClient:
    runtime = Runtime(RuntimeSettings(service_name="t", mongo_database="t"))  # never started here
    book = TokenBook([IssuedToken(token=t, principal=p) for t, p in TOKENS.items()])
    app = create_app(
        title="t", description="t", runtime=runtime, tokens=book, routers=[router], max_body_bytes=200
    )
    recorded.clear()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
def roomy() -> httpx.AsyncClient:
    """The service's default body limit (64 KB), and exceptions answered, not raised to the test."""
    runtime = Runtime(RuntimeSettings(service_name="t", mongo_database="t"))  # never started here
    book = TokenBook([IssuedToken(token=t, principal=p) for t, p in TOKENS.items()])
    app = create_app(title="t", description="t", runtime=runtime, tokens=book, routers=[router])
    recorded.clear()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t", headers=bearer("chongqing"))


def refused(response: httpx.Response, status: int, where: str, problem: str = "") -> None:
    """The one JSON refusal body, naming the field; and nothing reached a route."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [d["where"] for d in body["details"]] == [where]
    assert problem in body["details"][0]["problem"]
    assert body["message"].startswith(f"{where}: ")
    assert recorded == []


async def test_a_regulator_records_for_its_own_region(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/votes", json={"party": "50", "position": "approve"}, headers=bearer("chongqing")
    )
    assert response.status_code == 200
    assert recorded == [("50", "approve")]


async def test_without_a_known_token_the_answer_is_401(client: httpx.AsyncClient) -> None:
    missing = await client.post("/votes", json={"party": "50", "position": "approve"})
    unknown = await client.post(
        "/votes", json={"party": "50", "position": "approve"}, headers=bearer("guess")
    )
    assert (missing.status_code, unknown.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "missing bearer token" in missing.json()["message"]
    assert recorded == []


async def test_a_regulator_acting_for_another_region_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/votes", json={"party": "51", "position": "approve"}, headers=bearer("chongqing")
    )
    assert response.status_code == 403
    assert response.json()["message"] == "the regulator of region 50 acts only for region 50, not for 51"
    assert recorded == []


async def test_a_city_only_reads(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/votes", json={"party": "51", "position": "approve"}, headers=bearer("chengdu")
    )
    assert response.status_code == 403
    assert "may only read" in response.json()["message"]
    assert recorded == []


async def test_unknown_fields_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/votes", json={"party": "50", "position": "approve", "weight": 2}, headers=bearer("chongqing")
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "body.weight: Extra inputs are not permitted" in response.json()["message"]
    assert recorded == []


async def test_an_oversize_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/votes", json={"party": "50", "position": "x" * 500}, headers=bearer("chongqing")
    )
    assert response.status_code == 413
    assert recorded == []


async def test_a_refusal_names_its_reason(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/votes", json={"party": "50", "position": "twice"}, headers=bearer("chongqing")
    )
    assert response.status_code == 409
    assert response.json() == {"error": "conflict", "message": "the ballot is closed"}


def test_development_tokens_cover_every_regulator_and_city_and_survive_a_rewrite(tmp_path: Path) -> None:
    reference = load_reference()
    issued = development_tokens(reference)
    kinds = [t.principal.kind for t in issued]
    assert kinds.count("regulator") == len(reference.regions)
    assert kinds.count("city") == len(reference.partner_cities)
    assert kinds.count("operator") == 1
    assert len({t.token for t in issued}) == len(issued)

    path = tmp_path / "local.json"
    first = write_development_tokens(path, reference, {"intake": "http://127.0.0.1:8101"})
    second = write_development_tokens(path, reference, {"intake": "http://127.0.0.1:9999"})
    assert [t.token for t in first] == [t.token for t in second]
    book = TokenBook.load(path)
    assert book.principal(first[0].token) == first[0].principal
    assert book.principal("nope") is None
    assert oct(path.stat().st_mode & 0o777) == "0o600"


async def test_readiness_fails_when_neither_kafka_nor_the_store_answers_and_metrics_are_served() -> None:
    nowhere = RuntimeSettings(
        service_name="t",
        mongo_database="t",
        kafka_bootstrap="127.0.0.1:1",
        mongo_url="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300",
    )
    runtime = Runtime(nowhere)  # never started: nothing listens on port 1
    app = create_app(title="t", description="t", runtime=runtime, tokens=TokenBook([]), routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not ready", "kafka": False, "store": False}
        metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    for name in ("regstd_messages_consumed_total", "regstd_dead_letters_total", "regstd_consumer_lag",
                 "regstd_outbox_backlog", "regstd_outbox_oldest_age_seconds", "regstd_overdue"):  # fmt: skip
        assert f"# TYPE {name.removesuffix('_total')}" in metrics.text, name
    await runtime.mongo.close()


@pytest.mark.parametrize(
    ("path", "where", "problem"),
    [
        ("/projects/%00/notes", "path.project_id", "control character U+0000"),
        ("/projects/a%1Bb/notes", "path.project_id", "control character U+001B"),
        ("/projects/a%C2%85/notes", "path.project_id", "control character U+0085"),
        ("/projects/%ED%A0%80/notes", "path.project_id", "not valid UTF-8"),  # a surrogate, encoded
        ("/projects/%FF%FE/notes", "path.project_id", "not valid UTF-8"),
        ("/projects/ok/notes?x=%00", "query.x", "control character U+0000"),
    ],
)
async def test_control_characters_and_bad_utf8_in_the_path_or_query_are_422(
    roomy: httpx.AsyncClient, path: str, where: str, problem: str
) -> None:
    refused(await roomy.post(path, json={"title": "t"}), 422, where, problem)


@pytest.mark.parametrize(
    ("query", "where", "problem"),
    [
        ("area=%00", "query.area", "control character U+0000"),
        ("area=a%09b", "query.area", "control character U+0009"),  # no tab in a parameter
        ("area=%ED%A0%80", "query.area", "not valid UTF-8"),
        ("area=%C3", "query.area", "not valid UTF-8"),
        ("ar%00ea=x", "query", "a parameter name: control character U+0000"),
    ],
)
async def test_control_characters_and_bad_utf8_in_a_query_are_422(
    roomy: httpx.AsyncClient, query: str, where: str, problem: str
) -> None:
    refused(await roomy.get(f"/projects?{query}"), 422, where, problem)


async def test_clean_text_passes_the_edge(roomy: httpx.AsyncClient) -> None:
    listed = await roomy.get("/projects?area=%E6%88%90%E6%B8%9D+area")
    assert (listed.status_code, listed.json()["area"]) == (200, "成渝 area")
    text = "第一行\n第二行\t制表\r\n"
    noted = await roomy.post("/projects/prj-1/notes", json={"title": "标题 ✓", "text": text})
    assert noted.status_code == 200, noted.text
    assert recorded == [("list", "成渝 area:50:0"), ("prj-1", "标题 ✓")]


@pytest.mark.parametrize(
    ("raw", "where", "problem"),
    [
        (b'{"title": "a\\u0000b"}', "body.title", "control character U+0000"),
        (b'{"title": "a\\u0007"}', "body.title", "control character U+0007"),
        (b'{"title": "t", "tags": ["ok", "\\u001f"]}', "body.tags.1", "control character U+001F"),
        (b'{"title": "t", "extra": {"k": {"deep": "\\u0000"}}}', "body.extra.k.deep", "U+0000"),
        (b'{"title": "t", "extra": {"\\u0000": 1}}', "body.extra", "a field name: control character"),
        (b'{"title": "\\ud800"}', "body.title", "a lone surrogate (U+D800)"),
        (b'{"title": "\\udc00x"}', "body.title", "a lone surrogate (U+DC00)"),
        (b'{"title": "\xff\xfe"}', "body", "not valid UTF-8"),
        (b'{"title": "\xed\xa0\x80"}', "body", "not valid UTF-8"),
        (b'{"title": "t", "weight": 1e999999}', "body.weight", "not a finite number"),
        (b'{"title": "t", "weight": -1e400}', "body.weight", "not a finite number"),
        (b'{"title": "t", "weight": NaN}', "body.weight", "not a finite number"),
        (b'{"title": "t", "weight": Infinity}', "body.weight", "not a finite number"),
        (b'{"title": "t", "weight": -Infinity}', "body.weight", "not a finite number"),
        (b'{"title": "t", "extra": {"n": 99999999999999999999999999}}', "body.extra.n", "64 bits"),
        (b'{"title": "t", "extra": {"n": 9223372036854775808}}', "body.extra.n", "64 bits"),
    ],
)
async def test_json_strings_and_numbers_no_field_may_hold_are_422(
    roomy: httpx.AsyncClient, raw: bytes, where: str, problem: str
) -> None:
    response = await roomy.post(
        "/projects/prj-1/notes", content=raw, headers={"content-type": "application/json"}
    )
    refused(response, 422, where, problem)


async def test_the_largest_64_bit_integer_and_ordinary_floats_pass(roomy: httpx.AsyncClient) -> None:
    raw = b'{"title": "t", "weight": 1.5e300, "extra": {"n": 9223372036854775807, "m": -9223372036854775808}}'
    response = await roomy.post(
        "/projects/prj-1/notes", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert recorded == [("prj-1", "t")]


def nested(levels: int) -> Any:
    """A JSON object `levels` deep, alternating objects and arrays."""
    value: Any = {}
    for level in reversed(range(levels - 1)):
        value = [value] if level % 2 else {"x": value}
    return value


async def test_json_nested_50000_deep_is_refused_and_32_levels_pass(roomy: httpx.AsyncClient) -> None:
    json_type = {"content-type": "application/json"}
    deep = b'{"title": "t", "extra": {"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}"
    too_large = await roomy.post("/projects/prj-1/notes", content=deep, headers=json_type)
    assert too_large.status_code == 413  # over the 64 KB limit before its depth is even read
    assert too_large.json()["error"] == "too_large"
    deep = b'{"title": "t", "extra": {"x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}"
    refused(
        await roomy.post("/projects/prj-1/notes", content=deep, headers=json_type), 422, "body", "32 levels"
    )
    too_deep = {"title": "t", "extra": nested(32)}  # 33 levels with the body itself
    refused(await roomy.post("/projects/prj-1/notes", json=too_deep), 422, "body", "nested deeper than 32")
    quoted = {"title": "[[[[" * 40, "extra": nested(31)}  # brackets in a string do not nest
    assert (await roomy.post("/projects/prj-1/notes", json=quoted)).status_code == 200
    assert recorded == [("prj-1", "[[[[" * 40)]


@pytest.mark.parametrize("value", ["99999999999999999999999999", str(MAX_OFFSET + 1), "-1", "x"])
async def test_an_offset_out_of_range_is_422(roomy: httpx.AsyncClient, value: str) -> None:
    refused(await roomy.get(f"/projects?offset={value}"), 422, "query.offset")


@pytest.mark.parametrize("value", ["0", "201", "99999999999999999999999999"])
async def test_a_limit_out_of_range_is_422(roomy: httpx.AsyncClient, value: str) -> None:
    refused(await roomy.get(f"/projects?limit={value}"), 422, "query.limit")


async def test_the_bounds_themselves_pass(roomy: httpx.AsyncClient) -> None:
    response = await roomy.get(f"/projects?limit=200&offset={MAX_OFFSET}")
    assert response.json() == {"area": None, "limit": 200, "offset": MAX_OFFSET}


def framework_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error
    assert isinstance(response.json()["message"], str)
    assert recorded == []


async def test_the_frameworks_own_answers_have_the_json_error_body(roomy: httpx.AsyncClient) -> None:
    framework_error(await roomy.get("/nowhere"), 404, "not_found")
    wrong_method = await roomy.delete("/projects")
    framework_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "GET"
    malformed = await roomy.post(
        "/projects/prj-1/notes", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    framework_error(malformed, 422, "invalid_request")
    assert malformed.json()["details"][0]["where"] == "body.10"
    big = await roomy.post(
        "/projects/prj-1/notes", content=b"x" * 70_000, headers={"content-type": "text/plain"}
    )
    framework_error(big, 413, "too_large")


async def test_an_unexpected_error_is_a_logged_json_500(
    roomy: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="regstd.runtime.http"):
        response = await roomy.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "internal_error",
        "message": "an unexpected error; it has been logged",
    }
    [logged] = [r for r in caplog.records if r.name == "regstd.runtime.http"]
    assert "GET /broken" in logged.getMessage()
    assert logged.exc_info is not None
    assert "the store said no" in str(logged.exc_info[1])


async def _hangs(*_: object, **__: object) -> bool:
    """A dependency that gives no answer: it would say True after 30 s, so only the check's own
    bound (`READY_CHECK_SECONDS`) turns it into False."""
    await asyncio.sleep(30)
    return True


async def _answers(*_: object, **__: object) -> bool:
    return True


async def _fails(*_: object, **__: object) -> bool:
    raise ServerSelectionTimeoutError("no servers")


@pytest.mark.parametrize(
    ("kafka", "store", "expected"),
    [
        (_hangs, _answers, {"kafka": False, "store": True}),
        (_answers, _hangs, {"kafka": True, "store": False}),
        (_hangs, _hangs, {"kafka": False, "store": False}),
        (_answers, _fails, {"kafka": True, "store": False}),
    ],
)
async def test_readiness_does_not_wait_for_a_hung_dependency_and_names_what_is_down(
    monkeypatch: pytest.MonkeyPatch, kafka: Any, store: Any, expected: dict[str, bool]
) -> None:
    runtime = Runtime(RuntimeSettings(service_name="t", mongo_database="t"))  # never started here
    monkeypatch.setattr(runtime.broker, "ping", kafka)
    monkeypatch.setattr(http, "_store_answers", store)
    app = create_app(title="t", description="t", runtime=runtime, tokens=TokenBook([]), routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ready = await client.get("/health/ready")
    # No timing asserted here (speed is `make bench`'s): a hung check that was not cut off would have
    # answered True, so the 503 naming it shows the bound applied.
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/json"
    assert ready.json() == {"status": "not ready", **expected}


async def test_readiness_is_200_when_both_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Runtime(RuntimeSettings(service_name="t", mongo_database="t"))  # never started here
    monkeypatch.setattr(runtime.broker, "ping", _answers)
    monkeypatch.setattr(http, "_store_answers", _answers)
    app = create_app(title="t", description="t", runtime=runtime, tokens=TokenBook([]), routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "kafka": True, "store": True}


@pytest.mark.parametrize(
    ("path", "which"),
    [("/store-down", "the store"), ("/store-down-inside", "the store"), ("/broker-down", "the broker")],
)
async def test_an_unreachable_store_or_broker_is_a_503_with_retry_after(
    roomy: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, path: str, which: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="regstd.runtime.http"):
        response = await roomy.get(path)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "5"
    assert response.json() == {
        "error": "unavailable",
        "message": f"{which} does not answer; retry in 5 s",
    }
    [logged] = [r for r in caplog.records if r.name == "regstd.runtime.http"]
    assert logged.levelno == logging.WARNING
    assert path in logged.getMessage()


async def test_a_query_parameter_of_one_value_given_twice_is_422(roomy: httpx.AsyncClient) -> None:
    refused(await roomy.get("/projects?area=a&area=b"), 422, "query.area", "given more than once")
    listed = await roomy.get("/projects?area=a&limit=5")
    assert (listed.status_code, listed.json()["area"]) == (200, "a")


async def test_a_query_parameter_the_operation_does_not_have_is_422(roomy: httpx.AsyncClient) -> None:
    # A misspelt filter would otherwise answer as if no filter were given.
    refused(await roomy.get("/projects?aera=a"), 422, "query.aera", "not a parameter of this operation")
    refused(await roomy.get("/projects?area=a&x=1"), 422, "query.x", "not a parameter")
    assert (await roomy.get("/projects?area=a")).status_code == 200


def test_every_operation_documents_its_errors_with_the_one_error_body() -> None:
    runtime = Runtime(RuntimeSettings(service_name="t", mongo_database="t"))  # never started here
    app = create_app(
        title="t",
        description="t",
        runtime=runtime,
        tokens=TokenBook([]),
        routers=[router],
        upload_limits={"/votes": 5000},
    )
    document = app.openapi()
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    answers = {
        (method, path): operation["responses"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    for (method, path), responses in answers.items():
        assert {"422", "503"} <= responses.keys(), (method, path)
        assert responses["503"]["headers"]["Retry-After"]
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"] == error, (method, path, status)
    assert "401" in answers[("post", "/votes")]
    assert "401" not in answers[("get", "/health/live")]
    assert "404" in answers[("post", "/projects/{project_id}/notes")]
    assert "404" not in answers[("get", "/projects")]
    assert "5000 bytes" in answers[("post", "/votes")]["413"]["description"]
    assert f"{64 * 1024} bytes" in answers[("post", "/projects/{project_id}/notes")]["413"]["description"]
    assert "413" not in answers[("get", "/projects")]
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorBody"]["required"]) == {"error", "message"}
    assert "HTTPValidationError" not in schemas
