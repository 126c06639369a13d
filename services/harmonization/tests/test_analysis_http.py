"""The difference-analysis routes over HTTP (the real app, storage in memory), with the service's
logging on at INFO as it runs: what each import and assessment answers, and what it stored."""

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from regstd.contracts.reference import load_reference
from regstd.harmonization.http import analysis
from regstd.harmonization.settings import HarmonizationSettings
from regstd.kernel.principals import Principal
from regstd.runtime.auth import IssuedToken, TokenBook
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.http import create_app
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.testing import bearer

from .memory import InMemory

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
HEADER = "standard_number,medium,source_category,parameter,unit,condition,value,national_baseline\n"
SC = HEADER + "DB51/2672—2020,大气,锅炉,二氧化硫,µg/m³,1 h,150000,300000\n"
TOKENS = {
    "sichuan": Principal(kind="regulator", code="51", name="四川省市场监督管理局"),
    "chongqing": Principal(kind="regulator", code="50", name="重庆市市场监督管理局"),
}


@pytest.fixture
def service() -> InMemory:
    return InMemory(load_reference(), lambda: NOW)


@pytest.fixture
async def client(service: InMemory, caplog: pytest.LogCaptureFixture) -> AsyncIterator[httpx.AsyncClient]:
    caplog.set_level(logging.INFO)  # as the service logs: an INFO call with a bad extra raises
    app = app_of(service, HarmonizationSettings().max_import_bytes)  # the import's limit as main wires it
    # An error escaping the app is answered as the server answers it (500), not raised in the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def app_of(service: InMemory, import_bytes: int) -> FastAPI:
    """The analysis routes as `create_app` serves them, over the service in memory, never started."""
    runtime = Runtime(RuntimeSettings(service_name="t", mongo_database="t"))
    return create_app(
        title="t",
        description="t",
        runtime=runtime,
        tokens=TokenBook([IssuedToken(token=t, principal=p) for t, p in TOKENS.items()]),
        routers=[analysis.router],
        uses=[service.analysis],
        upload_limits={"/limits/imports": import_bytes},
    )


async def test_an_import_answers_201_with_its_summary_and_the_same_import_again_200(
    client: httpx.AsyncClient, service: InMemory, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression (issue 13): the import was stored, then its log call raised and it answered 500.
    first = await client.post(
        "/limits/imports", content=SC.encode(), headers={**bearer("sichuan"), "content-type": "text/csv"}
    )
    assert first.status_code == 201, first.text
    summary = first.json()
    assert (summary["region"], summary["rows"], summary["created"]) == ("51", 1, True)
    (stored,) = service.imports.docs.values()
    assert (stored["_id"], stored["row_count"]) == (summary["import_id"], 1)
    logged = [r for r in caplog.records if r.getMessage() == "limits imported"]
    assert [(r.import_id, r.stored) for r in logged] == [(summary["import_id"], True)]  # type: ignore[attr-defined]

    # The identical rows again: nothing new is stored, so not 201 Created; 200 with the stored import.
    again = await client.post(
        "/limits/imports", content=SC.encode(), headers={**bearer("sichuan"), "content-type": "text/csv"}
    )
    assert again.status_code == 200, again.text
    assert again.json() == {**summary, "created": False}
    assert len(service.imports.docs) == 1


async def test_an_import_with_another_regions_standards_is_refused_422_naming_the_rows(
    client: httpx.AsyncClient, service: InMemory
) -> None:
    # Regression (issue 13): a region could import rows of another region's standards.
    rows = [
        {"standard_number": "DB51/2672—2020", "medium": "air", "source_category": "锅炉", "parameter": "SO2",
         "unit": "mg/m3", "value": "150"},
        {"standard_number": "DB50 418—2016", "medium": "air", "source_category": "锅炉", "parameter": "NOx",
         "unit": "mg/m3", "value": "200"},
        {"standard_number": "DB51/2672—2020", "region": "50", "medium": "air", "source_category": "锅炉",
         "parameter": "CO", "unit": "mg/m3", "value": "5"},
    ]  # fmt: skip
    refused = await client.post("/limits/imports", json={"rows": rows}, headers=bearer("sichuan"))
    assert refused.status_code == 422, refused.text
    answer = refused.json()
    assert answer["error"] == "invalid_import"
    assert [r["line"] for r in answer["rows"]] == [2, 3]
    assert answer["rows"][0]["reason"].startswith("standard DB50 418—2016 is region 50's")
    assert answer["rows"][1]["reason"] == "region 50 is not the importing region 51"
    assert service.imports.docs == {}  # nothing stored, not even the good row
    listed = await client.get("/limits/imports", headers=bearer("chongqing"))
    assert (listed.status_code, listed.json()) == (200, [])


async def test_an_assessment_states_the_baseline_disagreement_it_resolved_in_every_format(
    client: httpx.AsyncClient,
) -> None:
    # Regression (issue 13): regions citing different national baselines were resolved silently.
    cq = HEADER + "DB50 418—2016,air,锅炉,SO2,mg/m³,1 h,200,400\n"  # Chongqing cites 400 mg/m³
    for token, text in (("sichuan", SC), ("chongqing", cq)):
        imported = await client.post(
            "/limits/imports", content=text.encode(), headers={**bearer(token), "content-type": "text/csv"}
        )
        assert imported.status_code == 201, imported.text
    run = await client.post("/assessments", json={"regions": ["50", "51"]}, headers=bearer("chongqing"))
    assert run.status_code == 200, run.text
    again = await client.post("/assessments", json={"regions": ["51", "50"]}, headers=bearer("sichuan"))
    assert (again.status_code, again.json()["report_digest"]) == (200, run.json()["report_digest"])
    path = f"/assessments/{run.json()['assessment_id']}"

    as_json = await client.get(path, headers=bearer("sichuan"))
    assert as_json.status_code == 200
    (disagreement,) = as_json.json()["report"]["baseline_disagreements"]
    assert [(g["region"], g["national_baseline"], g["standard_number"]) for g in disagreement["given"]] == [
        ("50", 400, "DB50 418—2016"),
        ("51", 300, "DB51/2672—2020"),
    ]
    assert (disagreement["rule"], disagreement["national_baseline_used"]) == ("strictest", 300)
    stated = "50=400 (DB50 418—2016, line 2); 51=300 (DB51/2672—2020, line 2)"
    for fmt, expected in (
        ("csv", f'"{stated}",strictest: 300'),
        ("markdown", f"- SO2 (air, 锅炉, 1 h) mg/m³: {stated} → strictest: 300 mg/m³ used"),
        ("html", f"<li>SO2 (air, 锅炉, 1 h) mg/m³: {stated} → strictest: 300 mg/m³ used</li>"),
    ):
        shown = await client.get(path, params={"format": fmt}, headers=bearer("sichuan"))
        assert shown.status_code == 200, fmt
        assert expected in shown.text, fmt


@pytest.mark.parametrize("value", [b"1e999999", b"NaN", b"-Infinity"])
async def test_a_non_finite_limit_is_refused_and_assessments_still_answer(
    client: httpx.AsyncClient, service: InMemory, value: bytes
) -> None:
    # Regression (issue 14): 1e999999 was stored as infinity, after which POST /assessments gave 500.
    row = b'{"standard_number": "DB51/2672\\u20142020", "medium": "air", "source_category": "x", '
    row += b'"parameter": "SO2", "unit": "mg/m3", "value": ' + value + b"}"
    refused = await client.post(
        "/limits/imports",
        content=b'{"rows": [' + row + b"]}",
        headers={**bearer("sichuan"), "content-type": "application/json"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["details"] == [
        {"where": "body.rows.0.value", "problem": f"{value.decode()} is not a finite number within 64 bits"}
    ]
    assert service.imports.docs == {}
    run = await client.post("/assessments", json={"regions": ["50", "51"]}, headers=bearer("chongqing"))
    assert run.status_code != 500


@pytest.fixture
async def small(service: InMemory) -> AsyncIterator[httpx.AsyncClient]:
    """The app with small upload limits: 4 KiB a limit import, 3 rows, the default 64 KiB elsewhere."""
    service.analysis.max_import_rows = 3
    transport = httpx.ASGITransport(app=app_of(service, 4096), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=bearer("sichuan")
    ) as client:
        yield client


def sc_rows(count: int, title: str = "") -> str:
    return "standard_number,standard_title,medium,source_category,parameter,unit,value\n" + "".join(
        f"DB51/2672—2020,{title},大气,锅炉 {i},二氧化硫,µg/m³,150\n" for i in range(count)
    )


def refused_import(response: httpx.Response, status: int, says: str, service: InMemory) -> None:
    assert response.status_code == status, response.text
    assert says in response.json()["message"]
    assert service.imports.docs == {}


async def test_an_import_over_its_size_limit_is_413_naming_it_and_stores_nothing(
    small: httpx.AsyncClient, service: InMemory
) -> None:
    csv = {"content-type": "text/csv"}
    refused_import(
        await small.post("/limits/imports", content=sc_rows(3, "t" * 1500), headers=csv),
        413,
        "4096 bytes",
        service,
    )
    # Within the limit the same rows pass; the import route's own limit is not every route's.
    assert (await small.post("/limits/imports", content=sc_rows(3), headers=csv)).status_code == 201
    oversized = await small.post("/assessments", json={"regions": ["51"], "policy": "x" * 70_000})
    assert (oversized.status_code, oversized.json()["error"]) == (413, "too_large")


async def test_an_import_over_its_row_limit_is_422_naming_it_and_stores_nothing(
    small: httpx.AsyncClient, service: InMemory
) -> None:
    refused_import(
        await small.post("/limits/imports", content=sc_rows(4), headers={"content-type": "text/csv"}),
        422,
        "an import holds at most 3 rows",
        service,
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (sc_rows(1, "t" * 501), "standard_title is longer than 500 characters (its limit)"),
        (sc_rows(1, "x" * 140_000), "field larger than field limit"),  # the csv module's own, before ours
        (sc_rows(1, "a\x00b"), "standard_title holds U+0000"),
        (sc_rows(1, "a\x1bb"), "standard_title holds U+001B"),
    ],
)
async def test_a_field_over_its_limit_or_with_a_control_character_is_422_and_nothing_is_stored(
    client: httpx.AsyncClient, service: InMemory, body: str, says: str
) -> None:
    headers = {**bearer("sichuan"), "content-type": "text/csv"}
    refused_import(await client.post("/limits/imports", content=body, headers=headers), 422, says, service)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            '[{"standard_number": "DB51/2672—2020", "medium": "air", "source_category": "boilers", '
            '"parameter": "SO2", "unit": "mg/m3", "value": "1", "standard_title": "\\ud800"}]',
            "standard_title holds U+D800",
        ),
        ("[" * 50_000 + "]" * 50_000, "not JSON rows"),
        ('[{"value": ' + "9" * 5000 + "}]", "not JSON rows"),
    ],
)
async def test_json_rows_sent_as_text_meet_the_same_rules(
    client: httpx.AsyncClient, service: InMemory, body: str, says: str
) -> None:
    # Sent as text/plain with ?format=json the edge's JSON checks do not run: the import's own do.
    headers = {**bearer("sichuan"), "content-type": "text/plain"}
    response = await client.post("/limits/imports?format=json", content=body.encode(), headers=headers)
    refused_import(response, 422, says, service)


async def test_an_assessment_names_at_most_40_imports_by_region_code(
    client: httpx.AsyncClient, service: InMemory
) -> None:
    many = {f"{i:02d}": "imp" for i in range(41)}
    for imports, where in (({"sichuan": "imp"}, "body.imports.sichuan"), (many, "body.imports")):
        response = await client.post(
            "/assessments", json={"regions": ["51"], "imports": imports}, headers=bearer("sichuan")
        )
        assert response.status_code == 422, response.text
        assert any(d["where"].startswith(where) for d in response.json()["details"]), response.text
    assert service.assessments.states() == {}
