"""The operator's endpoints every service serves: a flow's spans from this service's own span files,
and the dead letters of the topics it consumes; only for the operator. (Listing and replaying real
letters: `test_dead_letters_infra.py`.)"""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from regstd.contracts.topics import INTAKE_PROJECTS, PUBLICATION_STANDARDS
from regstd.kernel.principals import Principal
from regstd.runtime.auth import IssuedToken, TokenBook
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.http import create_app
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.testing import bearer

TRACE = "a" * 32
OTHER_TRACE = "b" * 32
MS = 1_000_000
TOKENS = {
    "ops": Principal(kind="operator", code="ops", name="operator"),
    "chongqing": Principal(kind="regulator", code="50", name="重庆"),
    "chengdu": Principal(kind="city", code="510100", name="成都市"),
}


def _span(
    trace: str, span_id: str, parent: str | None, name: str, service: str, start: int, **extra: Any
) -> str:
    return json.dumps(
        {
            "trace_id": trace,
            "span_id": span_id,
            "parent_id": parent,
            "name": name,
            "kind": extra.pop("kind", "internal"),
            "service": service,
            "start_ns": start * MS,
            "end_ns": (start + 5) * MS,
            "status": extra.pop("status", "unset"),
            "attributes": extra.pop("attributes", {}),
        }
    )


def _write(directory: Path) -> None:
    """Two services' span files in one directory (as the local stack keeps them): the service `t`
    and publication hold parts of the same trace."""
    (directory / "t.jsonl").write_text(
        "\n".join(
            [
                _span(
                    TRACE,
                    "1" * 16,
                    None,
                    "POST /projects",
                    "t",
                    0,
                    kind="server",
                    attributes={"regstd.project_id": "prj-1"},
                ),
                _span(
                    TRACE,
                    "2" * 16,
                    "1" * 16,
                    "insert",
                    "t",
                    1,
                    kind="client",
                    attributes={"db.system": "mongodb"},
                ),
                _span(TRACE, "3" * 16, "1" * 16, "send regstd.intake.projects.v1", "t", 10, kind="producer"),
                _span(
                    OTHER_TRACE,
                    "4" * 16,
                    None,
                    "GET /projects/{project_id}",
                    "t",
                    100,
                    kind="server",
                    attributes={"regstd.project_id": "prj-1"},
                ),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    (directory / "t.index.jsonl").write_text(
        json.dumps({"key": "project:prj-1", "trace_id": TRACE})
        + "\n"
        + json.dumps({"key": "project:prj-1", "trace_id": OTHER_TRACE})
        + "\n",
        encoding="utf-8",
    )
    (directory / "publication.jsonl").write_text(
        _span(
            TRACE, "5" * 16, "3" * 16, "process regstd.intake.projects.v1", "publication", 20, kind="consumer"
        )
        + "\n",
        encoding="utf-8",
    )
    (directory / "publication.index.jsonl").write_text(
        json.dumps({"key": "project:prj-1", "trace_id": TRACE}) + "\n", encoding="utf-8"
    )


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> httpx.AsyncClient:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "REGSTD_LOCAL_SPANS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "false")
    _write(tmp_path)
    settings = RuntimeSettings(service_name="t", mongo_database="t", spans_dir=tmp_path)
    runtime = Runtime(settings)  # never started: no Kafka, no store
    runtime.consume(INTAKE_PROJECTS, "t-projects", {})
    book = TokenBook([IssuedToken(token=t, principal=p) for t, p in TOKENS.items()])
    app = create_app(title="t", description="t", runtime=runtime, tokens=book, routers=[])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_the_spans_of_a_flow_come_from_this_services_own_files_by_trace_oldest_first(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/operator/spans", params={"q": "prj-1"}, headers=bearer("ops"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["service"] == "t"
    assert body["kept_locally"] is True
    assert body["truncated"] is False
    assert [t["trace_id"] for t in body["traces"]] == [TRACE, OTHER_TRACE]
    first = body["traces"][0]["spans"]
    assert [s["span_id"] for s in first] == ["1" * 16, "2" * 16, "3" * 16]
    assert {s["service"] for t in body["traces"] for s in t["spans"]} == {"t"}  # not publication's


async def test_a_trace_id_finds_its_trace_and_store_calls_can_be_left_out(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "/operator/spans", params={"q": TRACE.upper(), "store_calls": "false"}, headers=bearer("ops")
    )
    assert answer.status_code == 200, answer.text
    [trace] = answer.json()["traces"]
    assert [s["name"] for s in trace["spans"]] == ["POST /projects", "send regstd.intake.projects.v1"]


async def test_the_answer_is_bounded_and_says_when_spans_were_left_out(client: httpx.AsyncClient) -> None:
    answer = await client.get("/operator/spans", params={"q": "prj-1", "limit": 2}, headers=bearer("ops"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["truncated"] is True
    assert [len(t["spans"]) for t in body["traces"]] == [2]
    exact = (
        await client.get("/operator/spans", params={"q": "prj-1", "limit": 3}, headers=bearer("ops"))
    ).json()
    assert ([len(t["spans"]) for t in exact["traces"]], exact["truncated"]) == ([3], True), "a trace left out"
    whole = (
        await client.get("/operator/spans", params={"q": "prj-1", "limit": 4}, headers=bearer("ops"))
    ).json()
    assert ([len(t["spans"]) for t in whole["traces"]], whole["truncated"]) == ([3, 1], False)
    too_many = await client.get(
        "/operator/spans", params={"q": "prj-1", "limit": 10_001}, headers=bearer("ops")
    )
    assert too_many.status_code == 422
    assert too_many.json()["details"][0]["where"] == "query.limit"


async def test_nothing_stored_answers_no_trace(client: httpx.AsyncClient) -> None:
    answer = await client.get("/operator/spans", params={"q": "prj-9"}, headers=bearer("ops"))
    assert answer.status_code == 200
    assert answer.json()["traces"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/operator/spans?q=prj-1"),
        ("GET", "/operator/dead-letters"),
        ("POST", "/operator/dead-letters/regstd.intake.projects.v1.dlq:0:0/replay"),
    ],
)
async def test_only_the_operator_may_read_spans_and_dead_letters_or_replay(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    for who in ("chongqing", "chengdu"):
        answer = await client.request(method, path, headers=bearer(who))
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "forbidden"
        assert "operator" in answer.json()["message"]
    anonymous = await client.request(method, path)
    assert anonymous.status_code == 401


async def test_dead_letters_of_a_topic_this_service_does_not_consume_are_not_its_to_show(
    client: httpx.AsyncClient,
) -> None:
    listing = await client.get(
        "/operator/dead-letters", params={"topic": PUBLICATION_STANDARDS.name}, headers=bearer("ops")
    )
    assert listing.status_code == 404
    assert INTAKE_PROJECTS.name in listing.json()["message"]  # it names what this service consumes
    replay = await client.post(
        f"/operator/dead-letters/{PUBLICATION_STANDARDS.dead_letter}:0:0/replay", headers=bearer("ops")
    )
    assert replay.status_code == 404
    assert "does not consume" in replay.json()["message"]


async def test_a_letter_reference_that_does_not_parse_is_refused_with_how_to_write_it(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post("/operator/dead-letters/nothing-here/replay", headers=bearer("ops"))
    assert answer.status_code == 422
    assert "<topic>:<partition>:<offset>" in answer.json()["message"]


async def test_the_operator_endpoints_are_documented_with_the_one_error_body(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    replay = document["paths"]["/operator/dead-letters/{letter}/replay"]["post"]["responses"]
    spans = document["paths"]["/operator/spans"]["get"]["responses"]
    for answers in (replay, spans):
        for status in ("401", "403", "422", "503"):
            assert answers[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }
    assert "409" in replay
    assert "404" in replay
    assert "FlowSpans" in document["components"]["schemas"]
