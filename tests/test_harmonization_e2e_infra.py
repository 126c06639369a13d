"""End to end on the real Kafka and FerretDB: Sichuan submits its own eco standard for publication
to the Yangtze River Economic Belt, the ten other members get offers through Kafka, three adopt
(one with modifications), one declines, and the registry and the events say exactly that; Sichuan's
review abolishes it and publication's own `StandardWithdrawn` reaches the three adopters; a joint eco
standard revised through intake is superseded by publication and its adopter told; then a
difference analysis of Chongqing's and Sichuan's air-emission limits. Intake, publication and
harmonization run in this process on fresh databases and consumer groups."""

import hashlib
import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from regstd.contracts import TOPICS
from regstd.contracts.topics import (
    HARMONIZATION_ADOPTIONS,
    HARMONIZATION_ASSESSMENTS,
    INTAKE_PROJECTS,
    PUBLICATION_STANDARDS,
)
from regstd.harmonization.main import HarmonizationService
from regstd.harmonization.settings import HarmonizationSettings
from regstd.intake.main import IntakeService
from regstd.intake.settings import IntakeSettings
from regstd.publication.main import PublicationService
from regstd.publication.settings import PublicationSettings
from regstd.runtime.kafka import declare_topics
from regstd.runtime.testing import (
    MovableClock,
    ce,
    drop_databases,
    eventually,
    letters,
    position_group_at_end,
    read_topic,
)

from .test_joint_standard_e2e_infra import (
    REFERENCE,
    TOKENS,
    Calls,
    on_stack,
    proposal,
    published,
    serve,
    take_to_final_approval,
    vote,
)

YANGTZE = list(REFERENCE.area("yangtze").parties)


async def events_about(
    bootstrap: str, topic: str, key: str, done: Callable[[list[dict[str, Any]]], bool], within: float = 60.0
) -> list[dict[str, Any]]:
    """The events keyed `key` on a topic, read from its beginning, as {type, data}, until `done`."""

    def about(records: list[Any]) -> list[dict[str, Any]]:
        return [
            {"type": ce(record)["ce_type"], "data": json.loads(record.value)}
            for record in records
            if record.key == key.encode()
        ]

    return about(await read_topic(bootstrap, topic, lambda records: done(about(records)), within=within))


@dataclass
class System(Calls):
    publication: httpx.AsyncClient
    harmonization: httpx.AsyncClient
    intake: httpx.AsyncClient
    bootstrap: str
    publication_clock: MovableClock

    def client(self, service: str) -> httpx.AsyncClient:
        return {"publication": self.publication, "intake": self.intake}.get(service, self.harmonization)


@pytest.fixture
async def system(stack: Any) -> AsyncIterator[System]:
    suffix = letters()
    await declare_topics(stack.kafka_bootstrap, TOPICS.values())
    publication_settings = PublicationSettings(**on_stack(stack, "pub", suffix))
    harmonization_settings = HarmonizationSettings(**on_stack(stack, "harm", suffix))
    intake_settings = IntakeSettings(**on_stack(stack, "intake", suffix, public_comment_min_days=0))
    for group, topic in (
        (harmonization_settings.consumer_group, PUBLICATION_STANDARDS),
        (intake_settings.consumer_group, PUBLICATION_STANDARDS),
        (publication_settings.consumer_group, INTAKE_PROJECTS),
    ):
        await position_group_at_end(stack.kafka_bootstrap, group, topic.name)
    publication_clock = MovableClock()  # a review concludes only once the standard is in force
    publication = PublicationService(publication_settings, TOKENS, clock=publication_clock)
    harmonization = HarmonizationService(harmonization_settings, TOKENS)
    intake = IntakeService(intake_settings, TOKENS)
    async with AsyncExitStack() as exits:
        clients = await serve(exits, publication, harmonization, intake)
        yield System(*clients, stack.kafka_bootstrap, publication_clock)
    databases = (publication_settings, harmonization_settings, intake_settings)
    await drop_databases(stack.mongo_url, *(d.mongo_database for d in databases))


def submission(number: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "number": number,
        "area": "yangtze",
        "title_zh": "川西高原生态修复技术规范",
        "title_en": "Technical specification for ecological restoration of the West Sichuan plateau",
        "scope": "本文件规定了川西高原退化草地生态修复的技术要求。",
        "category": "ecology",
        "kind": "recommended",
        "eco_civilization": True,
        "publication_date": "2026-03-01",
        "implementation_date": "2026-06-01",
        "text": {
            "location": "https://texts.example/db51-ecology.pdf",
            "sha256": hashlib.sha256(b"db51-ecology").hexdigest(),
        },
    }
    return body | overrides


async def test_a_sichuan_eco_standard_is_offered_adopted_declined_and_its_withdrawal_told(
    system: System,
) -> None:
    sequence = random.randint(3000, 9999)  # below chengyu's joint block (10001), unique per run
    number = f"DB51/T {sequence}—2026"

    # Refused, nothing published: another region's regulator, a city, a number in the joint block,
    # a year that is not the publication year.
    refusals = [
        await system.call("publication", "POST", "/submissions", "50", json=submission(number)),
        await system.call("publication", "POST", "/submissions", "city", json=submission(number)),
        await system.call("publication", "POST", "/submissions", "51", json=submission("DB51/T 10123—2026")),
        await system.call(
            "publication", "POST", "/submissions", "51", json=submission(f"DB51/T {sequence}—2025")
        ),
        await system.call(
            "publication", "POST", "/submissions", "51", json=submission(number, kind="mandatory")
        ),
    ]
    assert [r.status_code for r in refusals] == [403, 403, 422, 422, 422], [r.text for r in refusals]
    assert "region 50" in refusals[0].json()["message"]

    standard = await system.ok("publication", "POST", "/submissions", "51", json=submission(number))
    sid = standard["standard_id"]
    assert standard["project_id"] is None
    assert standard["parties"] == ["51"]
    assert standard["numbers"] == [{"party": "51", "number": number}]
    assert standard["sequence"] == sequence
    assert standard["status"] == "published"
    again = await system.ok(
        "publication", "POST", "/submissions", "51", json=submission(number.replace("—", "-"))
    )
    assert again == standard  # idempotent: the same submission, in another dash form
    other = await system.call(
        "publication", "POST", "/submissions", "51", json=submission(number, title_zh="别的")
    )
    assert other.status_code == 409
    found = await system.ok("publication", "GET", f"/standards/by-number/DB51%2FT%20{sequence}-2026", "city")
    assert found["standard_id"] == sid

    # Ten members get offers.
    async def offered() -> Any:
        response = await system.call("harmonization", "GET", f"/adoptions/standards/{sid}", "city")
        return response.json() if response.status_code == 200 else None

    offer = await eventually(offered, "the offers to be made", within=60)
    others = [m for m in YANGTZE if m != "51"]
    assert offer["offered_to"] == others
    assert len(others) == 10
    assert offer["sources"] == ["51"]
    assert offer["pending"] == others

    # Three adopt (one with modifications), one declines; Chongqing cannot decide for Hunan.
    path = f"/adoptions/standards/{sid}/decisions"
    for_other = await system.call(
        "harmonization", "POST", path, "50", json={"member": "43", "decision": "decline", "reason": "x"}
    )
    assert for_other.status_code == 403
    by_city = await system.call(
        "harmonization", "POST", path, "city", json={"member": "43", "decision": "decline", "reason": "x"}
    )
    assert by_city.status_code == 403
    adopt = {"decision": "adopt", "scope": "全市高原及山地生态修复项目", "effective_date": "2026-09-01"}
    await system.ok("harmonization", "POST", path, "50", json={"member": "50", **adopt})
    await system.ok("harmonization", "POST", path, "32", json={"member": "32", **adopt, "scope": "全省"})
    await system.ok(
        "harmonization",
        "POST",
        path,
        "42",
        json={
            "member": "42",
            "decision": "adopt_with_modifications",
            "scope": "鄂西山区",
            "effective_date": "2026-10-01",
            "modifications": ["草种改为鄂西本地种", "监测周期由3年改为2年"],
        },
    )
    declined = await system.ok(
        "harmonization",
        "POST",
        path,
        "53",
        json={"member": "53", "decision": "decline", "reason": "已有同类地方标准"},
    )
    twice = await system.call(
        "harmonization",
        "POST",
        path,
        "50",
        json={"member": "50", "decision": "decline", "reason": "改变主意"},
    )
    assert twice.status_code == 409
    same_again = await system.ok("harmonization", "POST", path, "50", json={"member": "50", **adopt})
    assert same_again["decisions"] == declined["decisions"]  # the identical decision records nothing new
    assert "43" in same_again["pending"]  # Chongqing's attempt for Hunan recorded nothing

    # The registry says exactly that. (Other tests of the session publish on the same topic, and
    # this harmonization offers their eco standards too; nobody decides on those.)
    registry = await system.ok("harmonization", "GET", "/adoptions/registry", "city", params={"source": "51"})
    assert {r["standard_id"] for r in registry} == {sid}
    assert [(r["member"], r["decision"]) for r in registry] == [
        ("32", "adopt"),
        ("42", "adopt_with_modifications"),
        ("50", "adopt"),
        ("53", "decline"),
    ]
    by_member = {r["member"]: r for r in registry}
    assert by_member["50"]["effective_date"] == "2026-09-01"
    assert by_member["50"]["scope"] == "全市高原及山地生态修复项目"
    assert by_member["42"]["modifications"] == ["草种改为鄂西本地种", "监测周期由3年改为2年"]
    assert by_member["53"]["reason"] == "已有同类地方标准"
    elsewhere = await system.ok("harmonization", "GET", "/adoptions/adopted-elsewhere/51", "city")
    adopted = {s["standard_id"]: [a["member"] for a in s["adopted_by"]] for s in elsewhere if s["adopted_by"]}
    assert adopted == {sid: ["32", "42", "50"]}
    summary = await system.ok(
        "harmonization", "GET", "/adoptions/summary/" + str(datetime.now(UTC).year), "city"
    )
    row = next(s for s in summary["standards"] if s["standard_id"] == sid)
    assert (
        row["offered_to"],
        row["adopted"],
        row["adopted_with_modifications"],
        row["declined"],
        row["pending"],
    ) == (
        10,
        2,
        1,
        1,
        6,
    )
    sichuan = next(m for m in summary["members"] if m["member"] == "51")
    own = await system.ok("harmonization", "GET", "/adoptions/standards", "city", params={"source": "51"})
    assert sid in {s["standard_id"] for s in own}
    assert (sichuan["own_standards_offered"], sichuan["adoptions_by_others"]) == (len(own), 3)
    table = await system.call(
        "harmonization", "GET", f"/adoptions/summary/{summary['year']}", "city", params={"format": "markdown"}
    )
    assert number in table.text
    assert "| 51 四川省 |" in table.text

    # The events say exactly that.
    def all_there(found: list[dict[str, Any]]) -> bool:
        return sum(e["type"].endswith("decided.v1") for e in found) >= 4

    events = await events_about(system.bootstrap, HARMONIZATION_ADOPTIONS.name, sid, all_there)
    offers = [e["data"] for e in events if e["type"] == "cn.regstd.harmonization.adoption.offered.v1"]
    decisions = [e["data"] for e in events if e["type"] == "cn.regstd.harmonization.adoption.decided.v1"]
    assert sorted(o["member"] for o in offers) == others
    assert all(o["numbers"] == [{"party": "51", "number": number}] for o in offers)
    assert sorted((d["member"], d["decision"]) for d in decisions) == [
        ("32", "adopt"),
        ("42", "adopt_with_modifications"),
        ("50", "adopt"),
        ("53", "decline"),
    ]

    # Sichuan's review (复审) concludes `abolish`: publication itself withdraws the standard
    # (`StandardWithdrawn`), and every adopter, and only the adopters, is told. Another region's
    # regulator and a city cannot conclude its review.
    review = f"/standards/{sid}/review-conclusions"
    abolish = {"outcome": "abolish", "reason": "被新版生态修复规范代替"}
    not_party = await system.call("publication", "POST", review, "50", json=abolish)
    city_review = await system.call("publication", "POST", review, "city", json=abolish)
    assert (not_party.status_code, city_review.status_code) == (403, 403), not_party.text
    life = await system.ok("publication", "GET", f"/standards/{sid}/life", "city")
    assert (life["status"], life["reviews"]) == ("published", [])
    abolished = await system.ok("publication", "POST", review, "51", json=abolish)
    assert abolished["status"] == "abolished"
    ending = abolished["ending"]
    assert ending["how"] == "abolished"
    assert "被新版生态修复规范代替" in ending["reason"]
    withdrawn_on = ending["effective_date"]

    def withdrawn_published(found: list[dict[str, Any]]) -> bool:
        return any(e["type"].endswith("withdrawn.v1") for e in found)

    published_events = await events_about(
        system.bootstrap, PUBLICATION_STANDARDS.name, sid, withdrawn_published
    )
    withdrawals = [e["data"] for e in published_events if e["type"].endswith("withdrawn.v1")]
    assert [(w["standard_id"], w["effective_date"]) for w in withdrawals] == [(sid, withdrawn_on)]

    def told(found: list[dict[str, Any]]) -> bool:
        return sum(e["type"].endswith("source-changed.v1") for e in found) >= 3

    events = await events_about(system.bootstrap, HARMONIZATION_ADOPTIONS.name, sid, told)
    notices = [e["data"] for e in events if e["type"] == "cn.regstd.harmonization.adoption.source-changed.v1"]
    assert sorted(n["member"] for n in notices) == ["32", "42", "50"]
    assert all(n["change"] == "withdrawn" and n["effective_date"] == withdrawn_on for n in notices)
    assert all("被新版生态修复规范代替" in n["reason"] for n in notices)
    after = await system.ok("harmonization", "GET", f"/adoptions/standards/{sid}", "city")
    assert after["source_status"] == "withdrawn"
    late = await system.call("harmonization", "POST", path, "43", json={"member": "43", **adopt})
    assert late.status_code == 409


async def test_a_revision_published_by_publication_supersedes_an_adopted_joint_eco_standard(
    system: System,
) -> None:
    # A joint Chongqing–Sichuan environmental standard: both are yangtze members, so the other
    # nine members are offered it; Jiangsu adopts, Hunan declines.
    title = f"川渝地区工业园区污水集中处理设施运行规范{letters(4)}"
    body = {**proposal("chengyu", ["50", "51"], title), "category": "environment"}
    first = await system.ok("intake", "POST", "/projects", "50", json=body)
    pid = await take_to_final_approval(system, first, ["50", "51"])
    for party in ("50", "51"):
        await vote(system, pid, "final_approval", party, "approve")
    old = await published(system, pid)
    old_id = old["standard_id"]

    async def offered(sid: str) -> Any:
        response = await system.call("harmonization", "GET", f"/adoptions/standards/{sid}", "city")
        return response.json() if response.status_code == 200 else None

    offer = await eventually(lambda: offered(old_id), "the joint eco standard to be offered", within=60)
    members = [m for m in YANGTZE if m not in ("50", "51")]
    assert (offer["offered_to"], offer["sources"]) == (members, ["50", "51"])
    path = f"/adoptions/standards/{old_id}/decisions"
    adopt = {"member": "32", "decision": "adopt", "scope": "全省工业园区", "effective_date": "2027-01-01"}
    await system.ok("harmonization", "POST", path, "32", json=adopt)
    decline = {"member": "43", "decision": "decline", "reason": "已有地方标准"}
    await system.ok("harmonization", "POST", path, "43", json=decline)

    # Both parties' review concludes `revise` once the standard is in force (a review concludes only
    # from its implementation date, 90 days after publication); the revision project keeps the number;
    # publication publishes the revision and supersedes the old standard itself (`StandardSuperseded`).
    system.publication_clock.advance(days=120)
    for party in ("50", "51"):
        await system.ok("publication", "POST", f"/standards/{old_id}/review-conclusions", party,
                        json={"outcome": "revise", "reason": "排放限值需收严"})  # fmt: skip
    revision = {**body, "title_zh": title + "（修订）", "supersedes": old_id}

    async def proposed() -> Any:
        response = await system.call("intake", "POST", "/projects", "51", json=revision)
        return response.json() if response.status_code == 201 else None

    second = await eventually(proposed, "intake to accept the revision project", within=60)
    rid = await take_to_final_approval(system, second, ["50", "51"])
    for party in ("50", "51"):
        await vote(system, rid, "final_approval", party, "approve")
    new = await published(system, rid)
    assert new["sequence"] == old["sequence"]

    def superseded(found: list[dict[str, Any]]) -> bool:
        return any(e["type"].endswith("superseded.v1") for e in found)

    produced = await events_about(system.bootstrap, PUBLICATION_STANDARDS.name, old_id, superseded)
    assert [e["data"]["superseded_by"] for e in produced if e["type"].endswith("superseded.v1")] == [
        new["standard_id"]
    ]

    # Only the adopter is told, with the successor and its numbers.
    def told(found: list[dict[str, Any]]) -> bool:
        return any(e["type"].endswith("source-changed.v1") for e in found)

    events = await events_about(system.bootstrap, HARMONIZATION_ADOPTIONS.name, old_id, told)
    notices = [e["data"] for e in events if e["type"].endswith("source-changed.v1")]
    assert [(n["member"], n["change"], n["superseded_by"]) for n in notices] == [
        ("32", "superseded", new["standard_id"])
    ]
    assert notices[0]["superseded_by_numbers"] == new["numbers"]
    assert notices[0]["effective_date"] == new["implementation_date"]
    after = await system.ok("harmonization", "GET", f"/adoptions/standards/{old_id}", "city")
    assert after["source_status"] == "superseded"
    late = await system.call(
        "harmonization", "POST", path, "42", json={**adopt, "member": "42", "scope": "全省"}
    )
    assert late.status_code == 409
    # The revision is an eco standard of its own: offered anew to the same members.
    renewed = await eventually(lambda: offered(new["standard_id"]), "the revision to be offered", within=60)
    assert renewed["offered_to"] == members


CHONGQING_CSV = """\
standard_number,standard_title,medium,source_category,parameter,cas,unit,condition,value,national_baseline
DB50 418—2016,大气污染物综合排放标准,air,锅炉,SO2,7446-09-5,mg/m³,1 h average,200,300
DB50 418—2016,大气污染物综合排放标准,air,锅炉,氮氧化物,,mg/m3,1 h average,200,300
DB50 418—2016,大气污染物综合排放标准,air,锅炉,颗粒物,,mg/m³,1 h average,20,30
DB50 418—2016,大气污染物综合排放标准,air,锅炉,非甲烷总烃,,mg/m³,1 h average,120,120
DB50 418—2016,大气污染物综合排放标准,air,锅炉,臭气浓度,,无量纲,,1000,2000
"""
SICHUAN_ROWS = [
    {
        "standard_number": "DB51/2672—2020",
        "medium": "大气",
        "source_category": "锅炉",
        "parameter": "二氧化硫",
        "unit": "µg/m³",
        "condition": "1 h average",
        "value": "150000",
        "national_baseline": "300000",
    },
    {
        "standard_number": "DB51/2672—2020",
        "medium": "大气",
        "source_category": "锅炉",
        "parameter": "NOx",
        "unit": "ug/m3",
        "condition": "1 h average",
        "value": "350000",
        "national_baseline": "300000",
    },
    {
        "standard_number": "DB51/2672—2020",
        "medium": "大气",
        "source_category": "锅炉",
        "parameter": "烟尘",
        "unit": "mg/m3",
        "condition": "1 h average",
        "value": "10",
        "national_baseline": "30",
    },
    {
        "standard_number": "DB51/2672—2020",
        "medium": "大气",
        "source_category": "锅炉",
        "parameter": "NMHC",
        "unit": "mg/m³",
        "condition": "daily average",
        "value": "60",
    },
]


async def test_a_difference_analysis_of_chongqing_and_sichuan_air_limits(system: System) -> None:
    # A malformed import: every bad row named with its line, nothing imported.
    bad = CHONGQING_CSV.replace("mg/m3,1 h average,200,300", "ppm,1 h average,200,300").replace(
        ",20,30", ",abc,30"
    )
    refused = await system.call(
        "harmonization",
        "POST",
        "/limits/imports",
        "50",
        content=bad.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert refused.status_code == 422, refused.text
    rows = refused.json()["rows"]
    assert [r["line"] for r in rows] == [3, 4]
    assert rows[0]["reason"].startswith("unknown unit 'ppm'")
    assert rows[1]["reason"] == "value 'abc' is not a number"
    assert await system.ok("harmonization", "GET", "/limits/imports", "city", params={"region": "50"}) == []
    # Operators and cities only read; a regulator imports only its own region's rows.
    city = await system.call(
        "harmonization",
        "POST",
        "/limits/imports",
        "city",
        content=CHONGQING_CSV.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert city.status_code == 403
    foreign = await system.call(
        "harmonization", "POST", "/limits/imports", "51", json=[{**SICHUAN_ROWS[0], "region": "50"}]
    )
    assert foreign.status_code == 422
    assert foreign.json()["rows"][0]["line"] == 1

    cq = await system.call(
        "harmonization",
        "POST",
        "/limits/imports",
        "50",
        content=CHONGQING_CSV.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert cq.status_code == 201
    assert cq.json()["rows"] == 5
    sc = await system.ok("harmonization", "POST", "/limits/imports", "51", json={"rows": SICHUAN_ROWS})
    assert sc["rows"] == 4

    run = await system.ok(
        "harmonization", "POST", "/assessments", "51", json={"regions": ["50", "51"], "media": ["air"]}
    )
    assert run["imports"] == sorted([cq.json()["import_id"], sc["import_id"]])
    report = (await system.ok("harmonization", "GET", f"/assessments/{run['assessment_id']}", "city"))[
        "report"
    ]
    by = {(p["parameter"], p["condition"]): p for p in report["parameters"]}
    so2 = by[("SO2", "1 h average")]
    assert {r: v["value"] for r, v in so2["values"].items()} == {
        "50": 200,
        "51": 150,
    }  # 150000 µg/m³ = 150 mg/m³
    assert (so2["strictest"], so2["strictest_value"], so2["spread"]) == (["51"], 150, 50)
    assert so2["looser_than_baseline"] == []
    assert so2["proposed"]["value"] == 150
    nox = by[("NOx", "1 h average")]
    assert (nox["strictest"], nox["strictest_value"], nox["loosest_value"], nox["spread"]) == (
        ["50"],
        200,
        350,
        150,
    )
    assert nox["national_baseline"] == 300
    assert nox["looser_than_baseline"] == ["51"]
    pm = by[("PM", "1 h average")]
    assert (pm["strictest"], pm["strictest_value"], pm["spread"]) == (["51"], 10, 10)
    assert by[("NMHC", "1 h average")]["without_limit"] == ["51"]  # conditions kept apart
    assert by[("NMHC", "daily average")]["without_limit"] == ["50"]
    odour = by[("odour", "")]
    assert odour["without_limit"] == ["51"]
    assert odour["convertible"] is False
    assert [(f["region"], f["parameter"]) for f in report["findings"]] == [("51", "NOx")]

    # The same inputs give the same assessment; AssessmentCompleted is on its topic once.
    again = await system.ok(
        "harmonization", "POST", "/assessments", "50", json={"regions": ["51", "50"], "media": ["air"]}
    )
    assert again["assessment_id"] == run["assessment_id"]
    assert again["report_digest"] == run["report_digest"]
    median = await system.ok(
        "harmonization",
        "POST",
        "/assessments",
        "50",
        json={"regions": ["50", "51"], "media": ["air"], "policy": "baseline_capped"},
    )
    capped = (await system.ok("harmonization", "GET", f"/assessments/{median['assessment_id']}", "city"))[
        "report"
    ]
    nox_capped = next(p for p in capped["parameters"] if p["parameter"] == "NOx")
    assert nox_capped["proposed"]["value"] == 275  # median of 200 and 350, within the baseline 300
    csv_text = (
        await system.call(
            "harmonization", "GET", f"/assessments/{run['assessment_id']}", "city", params={"format": "csv"}
        )
    ).text
    assert any(
        line.startswith("air,锅炉,SO2,二氧化硫,1 h average,mg/m³,50=200; 51=150,51,150,")
        for line in csv_text.splitlines()
    )
    markdown = (
        await system.call(
            "harmonization",
            "GET",
            f"/assessments/{run['assessment_id']}",
            "city",
            params={"format": "markdown"},
        )
    ).text
    assert "region 51: NOx" in markdown
    page = await system.call(
        "harmonization", "GET", f"/assessments/{run['assessment_id']}", "city", params={"format": "html"}
    )
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert "<li>region 51: NOx (air, 锅炉, 1 h average) 350 mg/m³ &gt; baseline 300 mg/m³</li>" in page.text

    def completed(found: list[dict[str, Any]]) -> bool:
        return len(found) >= 1

    events = await events_about(
        system.bootstrap, HARMONIZATION_ASSESSMENTS.name, run["assessment_id"], completed
    )
    assert [e["type"] for e in events] == ["cn.regstd.harmonization.assessment.completed.v1"]
    assert events[0]["data"]["findings"] == 1
    assert events[0]["data"]["report_digest"] == run["report_digest"]
