"""The HTTP layer without infrastructure: who may call, what a body may hold, what the docs say.

The service's runtime is never started here, so only refusals that come before any storage can be
tested; everything else is in the infra tests."""

import json
from typing import Any

import httpx
import pytest

from regstd.intake.main import IntakeService
from regstd.intake.settings import IntakeSettings
from regstd.runtime.testing import bearer

from .conftest import SHA, TOKENS, proposal_body


@pytest.fixture
def service() -> IntakeService:
    return IntakeService(IntakeSettings(mongo_url="mongodb://127.0.0.1:9/", mongo_database="unused"), TOKENS)


@pytest.fixture
def client(service: IntakeService) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://intake")


WRITES: list[tuple[str, dict[str, Any] | None]] = [
    ("/projects", proposal_body()),
    ("/projects/prj-x/ballots/project_approval/positions", {"party": "51", "position": "approve"}),
    ("/projects/prj-x/drafting", None),
    ("/projects/prj-x/public-comment", {"closes_on": "2027-01-05"}),
    ("/projects/prj-x/public-comment/close", None),
    ("/projects/prj-x/review-conclusions", {"party": "51", "conclusion": "通过", "passed": False}),
    ("/projects/prj-x/submission", {"text": {"location": "https://texts.example/t.pdf", "sha256": SHA}}),
]


@pytest.mark.parametrize(("path", "body"), WRITES)
async def test_every_write_needs_a_known_token_and_a_regulator(
    client: httpx.AsyncClient, path: str, body: dict[str, Any] | None
) -> None:
    missing = await client.post(path, json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (await client.post(path, json=body, headers=bearer("guess"))).status_code == 401
    for token in ("city-chengdu", "ops"):
        refused = await client.post(path, json=body, headers=bearer(token))
        assert refused.status_code == 403
        assert "may only read" in refused.json()["message"]


async def test_reads_need_a_known_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/projects")).status_code == 401
    assert (await client.get("/projects/prj-x", headers=bearer("guess"))).status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "problem"),
    [
        ("/projects", proposal_body() | {"budget": 3}, "body.budget: Extra inputs are not permitted"),
        ("/projects", proposal_body() | {"parties": []}, "body.parties"),
        (
            "/projects",
            {k: v for k, v in proposal_body().items() if k != "scope"},
            "body.scope: Field required",
        ),
        (
            "/projects/prj-x/ballots/project_approval/positions",
            {"party": "5", "position": "approve"},
            "body.party",
        ),
        ("/projects/prj-x/public-comment", {"closes_on": "soon"}, "body.closes_on"),
        (
            "/projects/prj-x/review-conclusions",
            {"party": "50", "conclusion": "", "passed": True},
            "body.conclusion",
        ),
        ("/projects/prj-x/submission", {"text": {"location": "x", "sha256": "abc"}}, "body.text.sha256"),
    ],
)
async def test_a_malformed_body_is_refused_with_where_and_why(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], problem: str
) -> None:
    response = await client.post(path, json=body, headers=bearer("reg-50"))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert problem in response.json()["message"]


def test_the_api_is_documented(service: IntakeService) -> None:
    spec = service.app.openapi()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert all(op.get("summary") and op.get("description") for op in operations)
    propose = spec["paths"]["/projects"]["post"]
    assert set(propose["responses"]) >= {"201", "401", "403", "422"}
    assert "立项" in propose["summary"]


async def test_the_overdue_listing_needs_a_known_token_and_refuses_an_unknown_area_or_clock(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/projects/overdue")).status_code == 401
    assert (await client.get("/projects/overdue", headers=bearer("guess"))).status_code == 401
    area = await client.get("/projects/overdue", params={"area": "pearl"}, headers=bearer("city-chengdu"))
    assert area.status_code == 422
    assert "unknown area 'pearl'" in area.json()["message"]
    clock = await client.get("/projects/overdue", params={"clock": "filing"}, headers=bearer("ops"))
    assert clock.status_code == 422
    assert "query.clock" in clock.json()["message"]


LONE_SURROGATE = {"party": "50", "conclusion": "\ud800", "passed": True}


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/projects/%00/drafting", None, "path.project_id"),
        ("GET", "/projects?area=%00", None, "query.area"),
        ("GET", "/projects?offset=99999999999999999999999999", None, "query.offset"),
        ("POST", "/projects", proposal_body(title_zh="标题\u0000"), "body.title_zh"),
        ("POST", "/projects/prj-x/review-conclusions", LONE_SURROGATE, "body.conclusion"),
    ],
)
async def test_input_the_store_cannot_hold_is_refused_at_the_edge(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, where: str
) -> None:
    # Regression (issue 14): these reached the store (here: none answers) and gave a plain-text 500.
    content = None if body is None else json.dumps(body).encode()  # "\ud800" as a raw JSON escape
    response = await client.request(
        method, path, content=content, headers={**bearer("reg-50"), "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    answer = response.json()
    assert (answer["error"], [d["where"] for d in answer["details"]]) == ("invalid_request", [where])
