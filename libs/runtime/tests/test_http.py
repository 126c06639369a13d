"""The shared HTTP layer: who may call, what a command may contain, how a refusal reads."""

from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from regstd.contracts.reference import load_reference
from regstd.kernel.errors import Conflict
from regstd.kernel.principals import Principal
from regstd.runtime.auth import IssuedToken, TokenBook, development_tokens, write_development_tokens
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.http import Caller, Command, create_app
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
