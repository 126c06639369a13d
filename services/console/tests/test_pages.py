"""The console's pages over a fake of the services' APIs: sign-in and CSRF, the desk, refusals shown
in the page with nothing changed, and the public portal's search."""

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from regstd.console.app.operations import MIN_BAR_PCT, OperatorCases, waterfall
from regstd.console.app.ports import Refusal, ServiceName
from regstd.console.http.chart import bar_chart
from regstd.console.http.local_time import china_time
from regstd.console.main import build
from regstd.console.settings import ConsoleSettings
from regstd.contracts.spans import SpanView

CQ, SC, CITY, OPS = "tok-50", "tok-51", "tok-510100", "tok-ops"


# fmt: off
def _project(status: str = "awaiting_project_approval") -> dict[str, Any]:
    position = {
        "party": "51",
        "position": "object",
        "reason": "范围需与现行标准协调",
        "recorded_by": {"kind": "regulator", "code": "51", "name": "四川省市场监督管理局"},
        "recorded_at": "2026-03-02T08:00:00Z",
    }
    return {
        "project_id": "prj-000000000001",
        "area": "chengyu",
        "parties": ["50", "51"],
        "title_zh": "川渝地区高速公路服务区服务规范",
        "scope": "服务区",
        "status": status,
        "next_step": "the project approval ballot waits for approval by 50",
        "proposed_at": "2026-03-01T08:00:00Z",
        "proposed_by": {"kind": "regulator", "code": "50", "name": "重庆市市场监督管理局"},
        "overlap_matches": [{"kind": "standard", "ref": "std-x", "title_zh": "服务区规范", "number": "DB50/T 1—2020", "score": 0.61}],  # noqa: E501
        "ballots": {
            "project_approval": {
                "stage": "project_approval",
                "parties": ["50", "51"],
                "opened_at": "2026-03-01T08:00:00Z",
                "positions": {"51": position},
                "history": [position],
                "outcome": None,
            }
        },
        "milestones": [],
        "public_comment": {"closes_on": "2026-04-15", "amendments": []},
        "deadlines": [
            {"name": "ballot:project_approval", "due_on": "2026-03-27", "period": "20 working days", "state": "running", "days_overdue": 0}  # noqa: E501
        ],
    }


PUBLISHED = {
    "standard_id": "std-prj-000000000009",
    "status": "published",
    "standing": "in_force",
    "area": "chengyu",
    "parties": ["50", "51"],
    "numbers": [{"party": "50", "number": "DB50/T 10011—2026"}, {"party": "51", "number": "DB51/T 10011—2026"}],  # noqa: E501
    "title_zh": "川渝地区花椒育苗技术规程",
    "title_en": None,
    "category": "agriculture",
    "kind": "recommended",
    "scope": "育苗",
    "text": {"location": "https://texts.example/a.pdf", "sha256": "ab" * 32},
    "project_id": "prj-000000000009",
    "publication_date": "2026-03-01",
    "implementation_date": "2026-06-01",
}


# fmt: on


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
MS = 1_000_000
LETTER = "regstd.intake.projects.v1.dlq:0:3"


def _span(
    span_id: str, parent: str | None, name: str, service: str, start: int, end: int, **extra: Any
) -> dict[str, Any]:
    return {"trace_id": TRACE, "span_id": span_id, "parent_id": parent, "name": name, "service": service,
            "start_ns": start * MS, "end_ns": end * MS, **extra}  # fmt: skip


class FakeOperations:
    """The runtime's operator endpoints as each service answers them (only the operator), and
    publication's city feed."""

    def __init__(self) -> None:
        self.replays: list[tuple[str, str]] = []
        self.spans: dict[str, list[dict[str, Any]]] = {
            "project-intake": [
                _span("a" * 16, None, "POST /projects", "project-intake", 0, 20, kind="server"),
                _span("b" * 16, "a" * 16, "send regstd.intake.projects.v1", "project-intake", 25, 30, kind="producer"),  # noqa: E501
            ],
            "publication": [
                _span("c" * 16, "b" * 16, "process regstd.intake.projects.v1", "publication", 50, 60,
                      kind="consumer", status="error", status_message="dead-lettered: ValidationError"),
            ],
        }  # fmt: skip

    def call(self, token: str | None, service: str, method: str, path: str, params: dict[str, Any]) -> Any:
        if path.startswith("/feeds/cities/"):
            return CITY_FEED
        if token != OPS:
            raise Refusal(403, "a regulator (重庆) may not do this; it needs the operator")
        if path == "/operator/spans":
            if service == "harmonization":
                raise Refusal(503, "harmonization did not answer (ConnectError); try again")
            spans = self.spans.get(service, []) if params["q"] in ("prj-000000000001", TRACE) else []
            traces = [{"trace_id": TRACE, "spans": spans}] if spans else []
            return {
                "service": service,
                "query": params["q"],
                "kept_locally": True,
                "traces": traces,
                "truncated": False,
            }
        if path == "/operator/dead-letters":
            letters = [] if service != "publication" else [{
                "ref": LETTER, "origin_topic": "regstd.intake.projects.v1", "origin_partition": 0,
                "origin_offset": 41, "group": "publication-projects", "event_id": "ev-1",
                "event_type": "cn.regstd.intake.project.proposed.v1",
                "error": "RuntimeError: the register is down", "attempts": 5,
                "failed_at": "2026-12-03T05:00:00+00:00", "replayed_at": None,
            }]  # fmt: skip
            topic = {"topic": "regstd.intake.projects.v1", "total": len(letters), "letters": letters,
                     "dead_letter_topic": "regstd.intake.projects.v1.dlq"}  # fmt: skip
            return {"service": service, "topics": [topic]}
        if method == "POST" and path.endswith("/replay"):
            ref = path.split("/")[-2]
            self.replays.append((service, ref))
            return {"letter": ref, "origin": "regstd.intake.projects.v1:0:41",
                    "replayed_now": len(self.replays) == 1, "replayed_at": "2026-12-03T05:10:00+00:00",
                    "partition": 0, "offset": 57}  # fmt: skip
        raise Refusal(404, f"not faked: {path}")


CITY_FEED = """<?xml version='1.0' encoding='utf-8'?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-CN"><id>urn:uuid:1</id><title>成都市</title>
<updated>2026-03-01T08:00:00Z</updated>
<entry><id>urn:uuid:2</id>
<title>发布 Published: DB50/T 10011—2026 = DB51/T 10011—2026 川渝地区花椒育苗技术规程</title>
<updated>2026-03-01T08:00:00Z</updated><published>2026-03-01T08:00:00Z</published><summary>s</summary>
<category term="published" scheme="urn:regstd:happening"/>
<category term="agriculture" scheme="urn:regstd:category"/>
<category term="chengyu" scheme="urn:regstd:area"/>
<link rel="alternate" href="http://publication/standards/std-prj-000000000009" type="application/json"/>
</entry>
</feed>"""


def _clock(name: str, due_on: str, state: str, days_overdue: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "starts_on": "2026-03-01",
        "period": "60 calendar days",
        "due_on": due_on,
        "provisional": False,
        "problem": None,
        "state": state,
        "met_on": None,
        "days_overdue": days_overdue,
    }


def _life() -> dict[str, Any]:
    return {
        "standard_id": PUBLISHED["standard_id"],
        "status": "published",
        "numbers": PUBLISHED["numbers"],
        "supersedes": None,
        "filings": [],
        "disclosure": None,
        "reviews": [],
        "revision_pending": False,
        "ending": None,
        "clocks": [
            _clock("filing:50", "2026-04-30", "due_soon"),
            _clock("filing:51", "2026-04-10", "overdue", 20),  # Sichuan's, not Chongqing's to act on
            _clock("text_disclosure", "2026-03-27", "overdue", 34),
            _clock("review", "2031-06-01", "running"),
        ],
    }


OFFER = {
    "standard_id": "std-prj-000000000077",
    "numbers": [{"party": "31", "number": "DB31/T 1500—2026"}],
    "title_zh": "长三角生态绿色一体化发展示范区水污染物排放标准",
    "category": "environment",
    "sources": ["31"],
    "published_area": "yrd",
    "adoption_area": "chengyu",
    "publication_date": "2026-02-01",
    "implementation_date": "2026-05-01",
    "offered_at": "2026-02-01T02:30:00Z",
    "offered_to": ["50", "51"],
    "decisions": [],
    "adopters": [],
    "pending": ["50", "51"],
    "source_status": "in_force",
}
REPORT = {
    "area": "chengyu",
    "area_name_zh": "成渝地区双城经济圈",
    "area_name_en": "Chengdu-Chongqing",
    "as_of": "2026-12-03",
    "from_year": 2026,
    "to_year": 2026,
    "granularity": "quarter",
    "cycle_time_target_months": 18,
    "review_window_days": 180,
    "standards": {
        "published": 7,
        "in_force": 6,
        "not_yet_in_force": 1,
        "superseded": 0,
        "abolished": 0,
        "revision_pending": 0,
    },
    "cycle_time": {
        "count": 5,
        "mean_days": 400.0,
        "mean_months": 13.1,
        "median_days": 390.0,
        "p90_days": 600.0,
        "min_days": 200,
        "max_days": 640,
        "within_target": 4,
        "over_target": 1,
        "share_within_target": 0.8,
        "distribution": [],
    },
    "periods": [
        {
            "period": "2026",
            "kind": "year",
            "starts_on": "2026-01-01",
            "ends_on": "2026-12-31",
            "published": 7,
            "revisions": 1,
            "with_cycle_time": 5,
            "mean_cycle_days": 400.0,
            "within_target": 4,
            "over_target": 1,
        },
        {
            "period": "2026-Q1",
            "kind": "quarter",
            "starts_on": "2026-01-01",
            "ends_on": "2026-03-31",
            "published": 3,
            "revisions": 0,
            "with_cycle_time": 2,
            "mean_cycle_days": 304.4,
            "within_target": 2,
            "over_target": 0,
        },
        {
            "period": "2026-Q2",
            "kind": "quarter",
            "starts_on": "2026-04-01",
            "ends_on": "2026-06-30",
            "published": 0,
            "revisions": 0,
            "with_cycle_time": 0,
            "mean_cycle_days": None,
            "within_target": 0,
            "over_target": 0,
        },
        {
            "period": "2026-Q3",
            "kind": "quarter",
            "starts_on": "2026-07-01",
            "ends_on": "2026-09-30",
            "published": 4,
            "revisions": 1,
            "with_cycle_time": 3,
            "mean_cycle_days": 608.8,
            "within_target": 2,
            "over_target": 1,
        },
        {
            "period": "2026-Q4",
            "kind": "quarter",
            "starts_on": "2026-10-01",
            "ends_on": "2026-12-31",
            "published": 0,
            "revisions": 0,
            "with_cycle_time": 0,
            "mean_cycle_days": None,
            "within_target": 0,
            "over_target": 0,
        },
    ],
    "cycle_times": [],
    "upcoming_reviews": [],
    "missing_filings": [],
}
REPORT_HTML = "<!doctype html><html><body><h1>差异评估报告</h1><script>alert(1)</script></body></html>"


def _overdue(project_id: str, title: str, clock: dict[str, Any], parties: list[str]) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "title_zh": title,
        "area": "chengyu",
        "parties": parties,
        "status": "drafting",
        "clock": clock,
    }


OVERLAP = {
    "kind": "standard",
    "ref": "std-prj-000000000009",
    "title_zh": "川渝地区花椒育苗技术规程",
    "number": "DB50/T 10011—2026 = DB51/T 10011—2026",
    "score": 0.82,
}


class FakeServices:
    """The three APIs as far as the pages need them, keeping what they record; refuses as the
    services do (with their words), and then records nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str, str, Any]] = []
        self.params: list[tuple[str, dict[str, Any]]] = []
        self.uploads: list[tuple[bytes, str | None, dict[str, Any]]] = []
        self.project = _project()
        self.operations = FakeOperations()
        self.life = _life()
        self.offers = [json.loads(json.dumps(OFFER))]
        self.imports: list[dict[str, Any]] = []
        self.overdue: dict[str, list[dict[str, Any]]] = {
            "ballot": [],
            "public_comment": [],
            "cycle_time": [
                _overdue(
                    "prj-000000000003",
                    "川渝地区农产品冷链物流规范",
                    _clock("cycle_time", "2026-09-01", "overdue", 93),
                    ["50", "51"],
                ),
                _overdue(
                    "prj-000000000004",
                    "长三角无关项目",
                    _clock("cycle_time", "2026-01-01", "overdue", 300),
                    ["31", "32"],
                ),
            ],
        }

    async def aclose(self) -> None:
        return None

    def url(self, service: ServiceName, path: str) -> str:
        return f"http://{service}{path}"

    async def call(
        self,
        token: str | None,
        service: ServiceName,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        self.calls.append((token, method, path, json))
        self.params.append((path, dict(params or {})))
        if path.startswith(("/operator/", "/feeds/")):
            return self.operations.call(token, service, method, path, params or {})
        if method == "POST":
            return self._post(token, path, params or {}, json, content, content_type)
        if path == "/projects":
            return {"items": [self.project], "total": 1}
        if path == "/projects/overdue":
            return {
                "as_of": "2026-12-03",
                "clock": params["clock"],
                "area": None,
                "items": self.overdue[params["clock"]],
            }
        if path.startswith("/projects/"):
            return self.project
        if path.startswith("/standards/by-number/"):
            wanted = re.sub(r"[-–－—\s]", "", path.split("/by-number/", 1)[1]).upper()
            if wanted == "DB51/T100112026":
                return PUBLISHED
            raise Refusal(404, "no such standard")
        if path == "/standards":
            wanted_states = set((params or {}).get("clock_state") or ())
            due = not wanted_states or any(c["state"] in wanted_states for c in self.life["clocks"])
            return {"items": [PUBLISHED] if due else [], "total": int(due)}
        if path.endswith("/life"):
            return self.life
        if path.startswith("/standards/"):
            return PUBLISHED
        if path == "/adoptions/standards":
            return [o for o in self.offers if (params or {}).get("member") in o["offered_to"]]
        if path == "/limits/imports":
            return self.imports
        if path.startswith("/assessments/"):
            if (params or {}).get("format") == "html":
                return REPORT_HTML
            return {
                "assessment_id": path.rsplit("/", 1)[1],
                "regions": ["50", "51"],
                "media": ["water"],
                "policy": "strictest",
                "imports": {},
                "inputs_digest": "i" * 64,
                "report_digest": "r" * 64,
                "parameters": 12,
                "findings": 3,
                "requested_by": {"kind": "regulator", "code": "50", "name": "重庆市市场监督管理局"},
                "completed_at": "2026-12-03T05:05:00Z",
                "report": {},
            }
        if path == "/reports/chengyu":
            return REPORT
        if path.startswith("/reports/"):
            raise Refusal(404, f"unknown area {path.rsplit('/', 1)[1]!r}; known: chengyu, yrd")
        raise Refusal(404, f"not faked: {path}")

    def _post(
        self,
        token: str | None,
        path: str,
        params: dict[str, Any],
        body: Any,
        content: bytes | None,
        content_type: str | None,
    ) -> Any:
        if token == CITY:
            raise Refusal(403, "a city (成都市) may only read; this needs a regulator")
        if path.endswith("/positions") and body["position"] == "object" and not body.get("reason"):
            raise Refusal(422, "an objection needs a reason")
        if path == "/projects/overlaps":
            if not body["title_zh"]:
                raise Refusal(422, "title_zh: String should have at least 1 character")
            return {"matches": [OVERLAP] if "花椒" in body["title_zh"] else []}
        if path.endswith("/public-comment/close-date"):
            if body["closes_on"] < "2026-04-01":
                raise Refusal(422, "the closing date must be between 2026-04-01 and 2026-05-01")
            self.project["public_comment"]["closes_on"] = body["closes_on"]
        elif path.endswith("/filings"):
            if any(f["party"] == body["party"] for f in self.life["filings"]):
                raise Refusal(409, f"party {body['party']} already recorded its filing")
            self.life["filings"].append(
                {
                    **body,
                    "recorded_by": {"name": "重庆市市场监督管理局"},
                    "recorded_at": "2026-12-03T05:00:00Z",
                }
            )
        elif path.endswith("/disclosure"):
            if not body["location"].startswith("https://"):
                raise Refusal(422, "the location must be an https URL")
            self.life["disclosure"] = {
                **body,
                "recorded_by": {"name": "重庆市市场监督管理局"},
                "recorded_at": "2026-12-03T05:00:00Z",
            }
        elif path.endswith("/review-conclusions"):
            if not self.life["reviews"]:
                raise Refusal(409, "no review is open: the review is due on 2031-06-01")
        elif path.endswith("/decisions"):
            if body["decision"] == "decline" and not body.get("reason"):
                raise Refusal(422, "a decline needs a reason")
            offer = next(
                o for o in self.offers if path == f"/adoptions/standards/{o['standard_id']}/decisions"
            )
            offer["pending"].remove(body["member"])
            offer["decisions"].append(
                {
                    "member": body["member"],
                    "decision": body["decision"],
                    "reason": body.get("reason"),
                    "decided_at": "2026-12-03T05:00:00Z",
                }
            )
        elif path == "/limits/imports":
            assert content is not None
            if b"bad" in content:
                raise Refusal(422, "1 bad row(s), nothing imported: line 2: unknown medium 'bad'")
            self.uploads.append((content, content_type, params))
            done = {
                "import_id": f"imp-50-{len(self.uploads)}",
                "region": "50",
                "rows": 1,
                "digest": "d",
                "created": True,
            }
            self.imports.append(
                {
                    "_id": done["import_id"],
                    "region": "50",
                    "row_count": 1,
                    "imported_by": {"name": "重庆市市场监督管理局"},
                    "imported_at": "2026-12-03T05:00:00Z",
                }
            )
            return done
        elif path == "/assessments":
            if len(body["regions"]) < 2:
                raise Refusal(422, "an assessment compares at least two regions")
            return {"assessment_id": "asm-0001"}
        return {"project_id": self.project["project_id"]}


@pytest.fixture
def fake() -> FakeServices:
    return FakeServices()


@pytest.fixture
def client(fake: FakeServices, tmp_path: Path) -> TestClient:
    book = tmp_path / "local.json"
    principals = [
        (CQ, "regulator", "50", "重庆市市场监督管理局"),
        (SC, "regulator", "51", "四川省市场监督管理局"),
        (CITY, "city", "510100", "成都市"),
        (OPS, "operator", "ops", "operator"),
    ]
    book.write_text(
        json.dumps(
            {
                "endpoints": {},
                "tokens": [
                    {"token": t, "principal": {"kind": k, "code": c, "name": n}} for t, k, c, n in principals
                ],
            }
        ),
        encoding="utf-8",
    )
    settings = ConsoleSettings(tokens_file=book, secret_file=tmp_path / "secret")
    return TestClient(build(settings, gateway=fake))  # type: ignore[arg-type]


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> str:
    page = client.get("/signin").text
    answer = client.post("/signin", data={"csrf": _csrf(page), "token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return _csrf(client.get("/signin").text)


def test_the_desk_shows_the_ballot_awaiting_my_position_with_deadline_overlaps_and_the_others_reasons(
    client: TestClient,
) -> None:
    sign_in(client, CQ)
    page = client.get("/desk")
    assert page.status_code == 200
    assert "川渝地区高速公路服务区服务规范" in page.text
    assert "2026-03-27" in page.text
    assert "20 working days" in page.text
    assert "0.61" in page.text
    assert "DB50/T 1—2020" in page.text
    assert "范围需与现行标准协调" in page.text
    assert 'class="vote"' in page.text


def test_chinese_by_default_and_english_on_asking_kept_in_a_cookie(client: TestClient) -> None:
    assert "公开目录" in client.get("/").text
    assert "Public catalogue" in client.get("/?lang=en").text
    assert "Public catalogue" in client.get("/").text
    assert '<html lang="en">' in client.get("/").text


def test_a_post_without_the_sessions_csrf_token_is_refused_and_sends_nothing(
    client: TestClient, fake: FakeServices
) -> None:
    sign_in(client, CQ)
    answer = client.post(
        "/projects/prj-000000000001/positions/project_approval",
        data={"csrf": "forged", "position": "approve"},
    )
    assert answer.status_code == 403
    assert "CSRF" in answer.text or "表单已过期" in answer.text
    assert [c for c in fake.calls if c[1] == "POST"] == []


def test_a_refusal_of_the_service_is_shown_in_the_page_with_its_status_and_message(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    answer = client.post(
        "/projects/prj-000000000001/positions/project_approval",
        data={"csrf": csrf, "position": "object", "reason": ""},
    )
    assert answer.status_code == 422
    assert "an objection needs a reason" in answer.text
    assert 'role="alert"' in answer.text


def test_a_recorded_position_goes_to_intake_as_my_region_and_comes_back_to_the_project(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    answer = client.post(
        "/projects/prj-000000000001/positions/project_approval",
        data={"csrf": csrf, "position": "approve", "reason": "同意"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/projects/prj-000000000001"
    sent = [c for c in fake.calls if c[1] == "POST"]
    assert sent == [
        (
            CQ,
            "POST",
            "/projects/prj-000000000001/ballots/project_approval/positions",
            {"party": "50", "position": "approve", "reason": "同意"},
        )
    ]


def test_a_city_sees_no_vote_button_and_a_forged_vote_is_refused_by_the_service(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CITY)
    page = client.get("/projects/prj-000000000001")
    assert page.status_code == 200
    assert 'class="vote"' not in page.text
    assert client.get("/desk").status_code == 403
    forged = client.post(
        "/projects/prj-000000000001/positions/project_approval", data={"csrf": csrf, "position": "approve"}
    )
    assert forged.status_code == 403
    assert "may only read" in forged.text


def test_the_proposal_names_the_joint_parties_chosen_from_the_reference_data(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    desk = client.get("/desk").text
    assert 'name="parties" value="51"' in desk
    client.post(
        "/projects",
        data={
            "csrf": csrf,
            "area": "chengyu",
            "parties": ["50", "51"],
            "title_zh": "标题",
            "scope": "范围",
            "category": "transport",
            "kind": "recommended",
        },
        follow_redirects=False,
    )
    body = next(c[3] for c in fake.calls if c[1] == "POST")
    assert body["parties"] == ["50", "51"]
    assert body["area"] == "chengyu"


def test_checking_overlaps_shows_the_matches_with_what_was_typed_and_proposes_nothing(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    desk = client.get("/desk").text
    assert 'formaction="/projects/overlaps"' in desk
    form = {
        "csrf": csrf,
        "area": "chengyu",
        "parties": ["50", "51"],
        "title_zh": "川渝地区花椒栽培技术规程",
        "scope": "花椒栽培",
        "category": "agriculture",
        "kind": "mandatory",
    }
    page = client.post("/projects/overlaps", data=form)
    assert page.status_code == 200
    assert 'id="overlap-preview"' in page.text
    assert "川渝地区花椒育苗技术规程" in page.text
    assert "0.82" in page.text
    assert 'value="川渝地区花椒栽培技术规程"' in page.text  # what was typed stays
    assert '<option value="mandatory" selected>' in page.text
    assert 'id="propose"' in page.text  # submitting remains possible
    sent = [c for c in fake.calls if c[1] == "POST"]
    assert [c[2] for c in sent] == ["/projects/overlaps"]
    assert sent[0][3]["parties"] == ["50", "51"]

    none = client.post("/projects/overlaps", data=form | {"title_zh": "城市道路照明"})
    assert none.status_code == 200
    assert "未发现相似的项目或已发布标准" in none.text

    refused = client.post("/projects/overlaps", data=form | {"title_zh": ""})
    assert refused.status_code == 422
    assert "title_zh: String should have at least 1 character" in refused.text
    assert 'id="overlap-preview"' not in refused.text


def test_a_city_may_not_check_overlaps(client: TestClient, fake: FakeServices) -> None:
    csrf = sign_in(client, CITY)
    page = client.post("/projects/overlaps", data={"csrf": csrf, "title_zh": "花椒"}, follow_redirects=False)
    assert page.status_code == 403
    assert "this page is for a regulator" in page.text
    assert [c for c in fake.calls if c[1] == "POST"] == []


def test_the_portal_needs_no_sign_in_and_finds_a_standard_by_either_dash_form(client: TestClient) -> None:
    for number in ("DB51/T 10011-2026", "DB51/T 10011—2026"):
        page = client.get("/", params={"q": number})
        assert page.status_code == 200
        assert "川渝地区花椒育苗技术规程" in page.text
    assert "没有符合条件的标准" in client.get("/", params={"q": "DB51/T 99999-2026"}).text
    assert "川渝地区花椒育苗技术规程" in client.get("/", params={"q": "花椒"}).text
    assert "没有符合条件的标准" in client.get("/", params={"q": "水泥"}).text


def test_the_standard_page_shows_both_designations_and_the_text_with_its_digest(client: TestClient) -> None:
    page = client.get("/standards/std-prj-000000000009")
    assert page.status_code == 200
    assert "DB50/T 10011—2026 = DB51/T 10011—2026" in page.text
    assert "https://texts.example/a.pdf" in page.text
    assert "ab" * 32 in page.text


def test_the_standard_page_links_the_standard_it_supersedes_and_its_successor(
    client: TestClient, fake: FakeServices
) -> None:
    plain = client.get("/standards/std-prj-000000000009")
    assert plain.status_code == 200
    assert 'id="supersedes"' not in plain.text
    assert 'id="ending"' not in plain.text
    fake.life["supersedes"] = "std-prj-000000000001"
    fake.life["ending"] = {
        "how": "superseded",
        "effective_date": "2027-03-01",
        "reason": "revised",
        "at": "2027-01-05T02:00:00Z",
        "successor": "std-prj-000000000020",
        "successor_numbers": [
            {"party": "50", "number": "DB50/T 10011—2027"},
            {"party": "51", "number": "DB51/T 10011—2027"},
        ],
    }
    page = client.get("/standards/std-prj-000000000009")
    assert page.status_code == 200
    assert '<a href="/standards/std-prj-000000000001">std-prj-000000000001</a>' in page.text
    assert '<a href="/standards/std-prj-000000000020">DB50/T 10011—2027 = DB51/T 10011—2027</a>' in page.text
    assert "被代替" in page.text
    assert "2027-03-01" in page.text


def test_signing_out_forgets_the_principal(client: TestClient) -> None:
    csrf = sign_in(client, CQ)
    client.post("/signout", data={"csrf": csrf})
    assert client.get("/desk", follow_redirects=False).status_code == 303


def test_an_unknown_token_does_not_sign_in(client: TestClient) -> None:
    page = client.get("/signin").text
    answer = client.post("/signin", data={"csrf": _csrf(page), "pasted": "nobody"})
    assert answer.status_code == 403
    assert client.get("/desk", follow_redirects=False).status_code == 303


# ---- the operator's pages and the partner city's page ------------------------------------------


def test_the_operator_finds_a_flow_and_sees_one_waterfall_across_services_with_the_error_marked(
    client: TestClient, fake: FakeServices
) -> None:
    sign_in(client, OPS)
    page = client.get("/operator/flows", params={"q": "prj-000000000001"})
    assert page.status_code == 200
    text = page.text
    assert text.count('class="waterfall"') == 1, "the services' spans merged into one trace"
    names = ["POST /projects", "send regstd.intake.projects.v1", "process regstd.intake.projects.v1"]
    assert [text.index(n) for n in names] == sorted(text.index(n) for n in names), "parent above child"
    # 60 ms from the first start to the last end: bars placed by start, sized by duration
    assert "margin-left: 0.0%; width: 33.33%" in text
    assert "margin-left: 41.67%; width: 8.33%" in text
    assert "margin-left: 83.33%; width: 16.67%" in text
    assert "dead-lettered: ValidationError" in text
    assert text.count('class="failed svc-publication"') == 1
    assert "harmonization did not answer" in text, "a service that is down is named"
    asked = {c[2] for c in fake.calls if c[0] == OPS}
    assert asked == {"/operator/spans"}


def test_a_flow_nothing_kept_of_says_so(client: TestClient) -> None:
    sign_in(client, OPS)
    page = client.get("/operator/flows", params={"q": "prj-000000000404"})
    assert page.status_code == 200
    assert 'id="no-flow"' in page.text
    assert 'class="waterfall"' not in page.text


def test_the_waterfall_lays_bars_on_the_traces_time_line() -> None:
    spans = [SpanView.model_validate(s) for o in FakeOperations().spans.values() for s in o]
    laid = waterfall(TRACE, spans)
    assert laid.total_ms == 60.0
    assert laid.errors == 1
    assert [(b.depth, b.span.span_id[0], b.offset_pct, b.width_pct) for b in laid.bars] == [
        (0, "a", 0.0, 33.33),
        (1, "b", 41.67, 8.33),
        (2, "c", 83.33, 16.67),
    ]
    instant = waterfall(TRACE, [spans[0].model_copy(update={"end_ns": spans[0].start_ns})])
    assert instant.bars[0].width_pct == 100.0, "a trace of one instant still shows its bar"
    blink = spans[1].model_copy(update={"start_ns": 60 * MS, "end_ns": 60 * MS})
    last = waterfall(TRACE, [spans[0], blink]).bars[1]
    assert (last.offset_pct, last.width_pct) == (100 - MIN_BAR_PCT, MIN_BAR_PCT), "seen at the very end"


def test_a_trace_back_end_is_linked_when_one_is_configured_or_a_collector_is() -> None:
    linked = OperatorCases(FakeServices(), "http://jaeger:16686")  # type: ignore[arg-type]
    assert linked.trace_link(TRACE.upper()) == f"http://jaeger:16686/trace/{TRACE}"
    assert linked.trace_link("prj-000000000001") == "http://jaeger:16686/search"
    assert OperatorCases(FakeServices(), None).trace_link(TRACE) is None  # type: ignore[arg-type]
    collector = ConsoleSettings.model_validate({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.internal:4318"})
    assert collector.trace_ui() == "http://otel.internal:16686"
    assert ConsoleSettings(trace_ui_url="https://traces.example/").trace_ui() == "https://traces.example"
    assert ConsoleSettings().trace_ui() is None


def test_dead_letters_are_listed_with_their_error_and_replayed_after_a_confirmation_in_words(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, OPS)
    listing = client.get("/operator/dead-letters")
    assert listing.status_code == 200
    assert LETTER in listing.text
    assert "RuntimeError: the register is down" in listing.text
    assert "cn.regstd.intake.project.proposed.v1" in listing.text
    confirm = client.get("/operator/dead-letters/replay", params={"service": "publication", "letter": LETTER})
    assert confirm.status_code == 200
    assert "regstd.intake.projects.v1 的第 0 分区" in confirm.text
    assert fake.operations.replays == [], "asking is not replaying"

    forged = client.post(
        "/operator/dead-letters/replay", data={"csrf": "forged", "service": "publication", "letter": LETTER}
    )
    assert forged.status_code == 403
    assert fake.operations.replays == []

    done = client.post(
        "/operator/dead-letters/replay", data={"csrf": csrf, "service": "publication", "letter": LETTER}
    )
    assert done.status_code == 200
    assert "已重放" in done.text
    assert "regstd.intake.projects.v1:0:57" in done.text
    again = client.post(
        "/operator/dead-letters/replay", data={"csrf": csrf, "service": "publication", "letter": LETTER}
    )
    assert again.status_code == 200
    assert "此前已重放过" in again.text
    assert fake.operations.replays == [("publication", LETTER)] * 2


def test_a_replay_names_one_of_the_three_services(client: TestClient, fake: FakeServices) -> None:
    csrf = sign_in(client, OPS)
    answer = client.post(
        "/operator/dead-letters/replay", data={"csrf": csrf, "service": "elsewhere", "letter": LETTER}
    )
    assert answer.status_code == 422
    assert "unknown service" in answer.text
    assert fake.operations.replays == []


@pytest.mark.parametrize("token", [CQ, CITY])
def test_the_operators_pages_are_refused_to_a_regulator_and_a_city_and_send_nothing(
    client: TestClient, fake: FakeServices, token: str
) -> None:
    csrf = sign_in(client, token)
    for path in ("/operator", "/operator/flows?q=prj-000000000001", "/operator/dead-letters"):
        assert client.get(path).status_code == 403, path
    forged = client.post(
        "/operator/dead-letters/replay", data={"csrf": csrf, "service": "publication", "letter": LETTER}
    )
    assert forged.status_code == 403
    assert [c for c in fake.calls if c[2].startswith("/operator/")] == []
    assert fake.operations.replays == []


def test_a_city_sees_its_areas_all_categories_its_feed_url_and_what_it_received_when(
    client: TestClient, fake: FakeServices
) -> None:
    sign_in(client, CITY)
    page = client.get("/city")
    assert page.status_code == 200
    assert "(<code>chengyu</code>)" in page.text
    assert "(<code>yangtze</code>)" in page.text
    assert "全部类别" in page.text
    assert "http://publication/feeds/cities/510100.atom" in page.text
    assert '<time datetime="2026-03-01T08:00:00Z">' in page.text
    assert '<a href="/standards/std-prj-000000000009">发布 Published: DB50/T 10011—2026' in page.text
    assert (CITY, "GET", "/feeds/cities/510100.atom", None) in fake.calls
    sign_in(client, CQ)
    assert client.get("/city").status_code == 403


def _section(page: str, heading_id: str) -> str:
    """The text of a page's section, from its heading to the next section."""
    start = page.index(f'id="{heading_id}"')
    end = page.find("<section", start)
    return page[start : end if end > 0 else len(page)]


# ---- the desk: everything overdue first, my standards' clocks, adoption offers ----------------


def test_the_desk_lists_everything_overdue_first_across_kinds_the_longest_overdue_first(
    client: TestClient, fake: FakeServices
) -> None:
    fake.overdue["ballot"] = [
        _overdue(
            "prj-000000000001",
            "川渝地区高速公路服务区服务规范",
            _clock("ballot:project_approval", "2026-11-26", "overdue", 5),
            ["50", "51"],
        )
    ]
    sign_in(client, CQ)
    page = client.get("/desk")
    assert page.status_code == 200
    assert page.text.index('id="overdue-h"') < page.text.index('id="awaiting-h"')
    overdue = _section(page.text, "overdue-h")
    cycle = overdue.index("川渝地区农产品冷链物流规范")  # a project past its cycle-time target, 93 days
    disclosure = overdue.index("川渝地区花椒育苗技术规程")  # a standard's text disclosure, 34 days
    ballot = overdue.index("川渝地区高速公路服务区服务规范")  # a ballot past its deadline, 5 days
    assert cycle < disclosure < ballot
    assert list(re.findall(r'data-kind="([a-z_]+)"', overdue)) == [
        "cycle_time",
        "text_disclosure",
        "ballot",
    ]
    assert "长三角无关项目" not in overdue  # not a project of Chongqing's
    assert 'href="/projects/prj-000000000003"' in overdue
    assert 'href="/standards/std-prj-000000000009"' in overdue
    asked = [p["clock"] for path, p in fake.params if path == "/projects/overdue"]
    assert sorted(asked) == ["ballot", "cycle_time", "public_comment"]


def test_the_desk_shows_my_standards_clocks_due_soon_or_overdue_asked_with_publications_filter(
    client: TestClient, fake: FakeServices
) -> None:
    sign_in(client, CQ)
    page = client.get("/desk")
    assert page.status_code == 200
    clocks = _section(page.text, "clocks-h")
    assert re.findall(r'data-clock="([^"]+)"', clocks) == ["text_disclosure", "filing:50"]  # not 51's
    assert "2026-04-30" in clocks
    assert "即将到期" in clocks
    assert 'href="/standards/std-prj-000000000009#life-h"' in clocks
    [asked] = [p for path, p in fake.params if path == "/standards"]
    assert asked["party"] == "50"
    assert asked["status"] == "published"
    assert asked["clock_state"] == ["due_soon", "overdue"]


def test_with_no_clock_due_the_desk_says_so(client: TestClient, fake: FakeServices) -> None:
    for clock in fake.life["clocks"]:
        clock["state"] = "running"
    sign_in(client, CQ)
    clocks = _section(client.get("/desk").text, "clocks-h")
    assert "没有即将到期或逾期的标准时限" in clocks
    assert "data-clock" not in clocks


def test_an_adoption_offer_is_shown_with_its_source_standard_and_adopted(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    offers = _section(client.get("/desk").text, "offers-h")
    assert "长三角生态绿色一体化发展示范区水污染物排放标准" in offers
    assert "DB31/T 1500—2026" in offers
    assert 'href="/standards/std-prj-000000000077"' in offers
    assert "2026-02-01 10:30" in offers  # offered at 02:30 UTC, shown in China time
    answer = client.post(
        "/adoptions/std-prj-000000000077/decision",
        data={
            "csrf": csrf,
            "decision": "adopt",
            "scope": "全市",
            "effective_date": "2027-01-01",
            "reason": "",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    body = next(c[3] for c in fake.calls if c[1] == "POST")
    assert body == {
        "member": "50",
        "decision": "adopt",
        "modifications": [],
        "reason": None,
        "scope": "全市",
        "effective_date": "2027-01-01",
    }
    assert "长三角生态绿色一体化发展示范区水污染物排放标准" not in _section(
        client.get("/desk").text, "offers-h"
    )


def test_a_refused_adoption_decision_shows_the_services_words_on_the_desk_and_records_nothing(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    answer = client.post(
        "/adoptions/std-prj-000000000077/decision", data={"csrf": csrf, "decision": "decline", "reason": ""}
    )
    assert answer.status_code == 422
    assert "a decline needs a reason" in answer.text
    assert 'role="alert"' in answer.text
    assert fake.offers[0]["pending"] == ["50", "51"]
    assert fake.offers[0]["decisions"] == []


# ---- a standard's life: filing, disclosure, review -------------------------------------------


def test_a_partys_regulator_records_its_filing_from_the_standard_page(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    page = client.get("/standards/std-prj-000000000009")
    assert page.status_code == 200
    assert 'action="/standards/std-prj-000000000009/life/filing"' in page.text
    answer = client.post(
        "/standards/std-prj-000000000009/life/filing",
        data={
            "csrf": csrf,
            "authority": "national",
            "filing_number": "备 12345-2026",
            "filed_on": "2026-04-01",
        },
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/standards/std-prj-000000000009")
    sent = [c for c in fake.calls if c[1] == "POST"]
    assert sent == [
        (
            CQ,
            "POST",
            "/standards/std-prj-000000000009/filings",
            {
                "party": "50",
                "authority": "national",
                "filing_number": "备 12345-2026",
                "filed_on": "2026-04-01",
            },
        )
    ]
    shown = client.get("/standards/std-prj-000000000009").text
    assert "备 12345-2026" in shown
    assert "2026-12-03 13:00" in shown  # recorded at 05:00 UTC


def test_a_second_filing_is_refused_in_the_page_with_the_services_words_and_nothing_changes(
    client: TestClient, fake: FakeServices
) -> None:
    fake.life["filings"] = [
        {
            "party": "50",
            "authority": "national",
            "filing_number": "备 1",
            "filed_on": "2026-04-01",
            "recorded_by": {"name": "重庆"},
            "recorded_at": "2026-04-01T01:00:00Z",
        }
    ]
    csrf = sign_in(client, CQ)
    answer = client.post(
        "/standards/std-prj-000000000009/life/filing",
        data={"csrf": csrf, "authority": "national", "filing_number": "备 2", "filed_on": "2026-04-02"},
    )
    assert answer.status_code == 409
    assert "party 50 already recorded its filing" in answer.text
    assert 'role="alert"' in answer.text
    assert [f["filing_number"] for f in fake.life["filings"]] == ["备 1"]


def test_the_disclosure_and_the_review_conclusion_go_to_publication_and_their_refusals_show(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    refused = client.post(
        "/standards/std-prj-000000000009/life/disclosure",
        data={"csrf": csrf, "location": "ftp://texts.example/a.pdf", "disclosed_on": "2026-03-20"},
    )
    assert refused.status_code == 422
    assert "the location must be an https URL" in refused.text
    assert fake.life["disclosure"] is None
    done = client.post(
        "/standards/std-prj-000000000009/life/disclosure",
        data={"csrf": csrf, "location": "https://texts.example/a.pdf", "disclosed_on": "2026-03-20"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert fake.life["disclosure"]["location"] == "https://texts.example/a.pdf"
    review = client.post(
        "/standards/std-prj-000000000009/life/review",
        data={"csrf": csrf, "outcome": "continue", "reason": "仍适用"},
    )
    assert review.status_code == 409
    assert "no review is open" in review.text
    assert [c for c in fake.calls if c[1] == "POST"][-1][2:] == (
        "/standards/std-prj-000000000009/review-conclusions",
        {"outcome": "continue", "reason": "仍适用"},
    )


def test_a_city_gets_no_life_forms_and_its_forged_filing_never_reaches_publication(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CITY)
    page = client.get("/standards/std-prj-000000000009")
    assert page.status_code == 200
    assert "/life/filing" not in page.text
    forged = client.post(
        "/standards/std-prj-000000000009/life/filing",
        data={"csrf": csrf, "filing_number": "x", "filed_on": "2026-04-01"},
    )
    assert forged.status_code == 403
    assert [c for c in fake.calls if c[1] == "POST"] == []
    assert fake.life["filings"] == []


# ---- the project page: moving the public comment's closing date -----------------------------


def test_the_public_comment_closing_date_is_moved_from_the_project_page(
    client: TestClient, fake: FakeServices
) -> None:
    fake.project["status"] = "public_comment"
    csrf = sign_in(client, CQ)
    page = client.get("/projects/prj-000000000001")
    assert 'action="/projects/prj-000000000001/close-date"' in page.text
    assert "2026-04-15" in page.text
    answer = client.post(
        "/projects/prj-000000000001/close-date",
        data={"csrf": csrf, "closes_on": "2026-04-20", "reason": "延长以便企业反馈"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert fake.calls[-1][1:] == (
        "POST",
        "/projects/prj-000000000001/public-comment/close-date",
        {"closes_on": "2026-04-20", "reason": "延长以便企业反馈"},
    )
    assert fake.project["public_comment"]["closes_on"] == "2026-04-20"


def test_a_refused_closing_date_shows_the_bounds_and_changes_nothing(
    client: TestClient, fake: FakeServices
) -> None:
    fake.project["status"] = "public_comment"
    csrf = sign_in(client, CQ)
    answer = client.post(
        "/projects/prj-000000000001/close-date", data={"csrf": csrf, "closes_on": "2026-03-10"}
    )
    assert answer.status_code == 422
    assert "the closing date must be between 2026-04-01 and 2026-05-01" in answer.text
    assert fake.project["public_comment"]["closes_on"] == "2026-04-15"


# ---- limits upload and assessment -------------------------------------------------------------

CSV = b"region,medium,pollutant,parameter,value,unit\n50,water,COD,mass_concentration,50,mg/L\n"


def test_a_limits_file_is_uploaded_as_it_is_and_listed(client: TestClient, fake: FakeServices) -> None:
    csrf = sign_in(client, CQ)
    assert client.get("/limits").status_code == 200
    answer = client.post(
        "/limits/imports",
        data={"csrf": csrf, "format": ""},
        files={"file": ("limits.csv", CSV, "text/csv")},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/limits?imported=imp-50-1"
    assert fake.uploads == [(CSV, "text/csv; charset=utf-8", {"format": "csv"})]
    listed = client.get(answer.headers["location"]).text
    assert "imp-50-1" in listed
    assert "2026-12-03 13:00" in listed


def test_a_bad_limits_file_is_refused_with_each_bad_row_and_nothing_is_imported(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    answer = client.post(
        "/limits/imports",
        data={"csrf": csrf, "format": "csv"},
        files={"file": ("limits.csv", CSV + b"50,bad,COD,x,1,mg/L\n", "text/csv")},
    )
    assert answer.status_code == 422
    assert "line 2: unknown medium" in answer.text
    assert fake.imports == []


def test_an_upload_without_the_csrf_token_or_over_the_size_limit_never_reaches_harmonization(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CQ)
    forged = client.post(
        "/limits/imports", data={"csrf": "forged"}, files={"file": ("l.csv", CSV, "text/csv")}
    )
    assert forged.status_code == 403
    too_big = client.post(
        "/limits/imports",
        data={"csrf": csrf},
        files={"file": ("l.csv", b"x" * (8 * 1024 * 1024 + 65 * 1024), "text/csv")},
    )
    assert too_big.status_code == 413
    assert [c for c in fake.calls if c[1] == "POST"] == []


def test_an_eight_mib_file_passes_the_consoles_body_limit(client: TestClient, fake: FakeServices) -> None:
    csrf = sign_in(client, CQ)
    big = CSV + b"#" * (8 * 1024 * 1024 - len(CSV))
    answer = client.post(
        "/limits/imports",
        data={"csrf": csrf},
        files={"file": ("limits.csv", big, "text/csv")},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert len(fake.uploads[0][0]) == 8 * 1024 * 1024


def test_a_form_post_elsewhere_keeps_the_small_body_limit(client: TestClient, fake: FakeServices) -> None:
    csrf = sign_in(client, CQ)
    answer = client.post("/projects", data={"csrf": csrf, "scope": "x" * 70 * 1024})
    assert answer.status_code == 413
    assert [c for c in fake.calls if c[1] == "POST"] == []


def test_an_assessment_is_run_and_its_report_shown_sandboxed(client: TestClient, fake: FakeServices) -> None:
    csrf = sign_in(client, CQ)
    refused = client.post("/limits/assessments", data={"csrf": csrf, "regions": ["50"], "media": ["water"]})
    assert refused.status_code == 422
    assert "at least two regions" in refused.text
    answer = client.post(
        "/limits/assessments",
        data={"csrf": csrf, "regions": ["50", "51"], "media": ["water"], "policy": "median"},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/limits/assessments/asm-0001")
    assert fake.calls[-1][2:] == (
        "/assessments",
        {"regions": ["50", "51"], "policy": "median", "media": ["water"]},
    )
    page = client.get("/limits/assessments/asm-0001")
    assert page.status_code == 200
    assert 'id="findings">3<' in page.text
    assert "2026-12-03 13:05" in page.text
    assert '<iframe class="report" src="/limits/assessments/asm-0001/report"' in page.text
    report = client.get("/limits/assessments/asm-0001/report")
    assert report.status_code == 200
    assert "差异评估报告" in report.text
    policy = report.headers["content-security-policy"]
    assert policy.startswith("sandbox;")
    assert "default-src 'none'" in policy


# ---- the area report --------------------------------------------------------------------------


def test_the_area_report_draws_published_per_period_and_cycle_time_against_the_target(
    client: TestClient, fake: FakeServices
) -> None:
    sign_in(client, CQ)
    assert client.get("/reports", follow_redirects=False).headers["location"] == "/reports/chengyu"
    page = client.get("/reports/chengyu")
    assert page.status_code == 200
    published = page.text[page.text.index('id="published-chart"') : page.text.index("</svg>")]
    assert len(re.findall(r"<rect ", published)) == 4  # one bar a quarter (the year row is not one)
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', published)]
    assert heights[0] * 4 == pytest.approx(heights[2] * 3, abs=0.5)  # 3 and 4 published
    assert heights[1] == 0
    cycle = page.text[page.text.index('id="cycle-chart"') :]
    cycle = cycle[: cycle.index("</svg>")]
    assert 'class="target"' in cycle
    assert "18" in cycle
    assert cycle.count('class="over"') == 1  # 2026-Q3: 20 months, over the 18-month target
    assert 'role="img" aria-labelledby="cycle-chart-t cycle-chart-d"' in page.text
    table = page.text[page.text.index('id="periods"') :]
    assert re.search(r"2026-Q1</th><td>3</td><td>0</td><td>10.0</td>", table)
    assert re.search(r"2026-Q3</th><td>4</td><td>1</td><td>20.0</td>", table)
    assert "2026</th>" not in table  # the year's row is the granularity's sum, not a period of it


def test_a_report_of_an_unknown_area_shows_the_services_refusal(client: TestClient) -> None:
    sign_in(client, CQ)
    answer = client.get("/reports/nowhere")
    assert answer.status_code == 404
    assert "unknown area &#39;nowhere&#39;" in answer.text


# ---- local times -----------------------------------------------------------------------------


def test_the_project_timeline_shows_china_time_not_utc(client: TestClient) -> None:
    sign_in(client, CQ)
    timeline = _section(client.get("/projects/prj-000000000001").text, "tl-h")
    assert "2026-03-02 16:00" in timeline  # Sichuan's objection, recorded at 08:00 UTC
    assert "08:00" not in timeline
    assert "T08" not in timeline


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        ("2026-12-03T05:05:00Z", "2026-12-03 13:05"),
        ("2026-12-03T05:05:00.123456+00:00", "2026-12-03 13:05"),
        ("2026-12-03T18:30:00+00:00", "2026-12-04 02:30"),  # past midnight in China: the next day
        ("2026-12-03T13:05:00+08:00", "2026-12-03 13:05"),
        ("2026-12-03T05:05:00", "2026-12-03 13:05"),  # naive: the services' UTC
        (datetime(2026, 12, 3, 5, 5, tzinfo=UTC), "2026-12-03 13:05"),
        ("2026-12-03", "2026-12-03"),  # a calendar date is a China date already
        (date(2026, 12, 3), "2026-12-03"),
        (None, "—"),
    ],
)
def test_one_helper_shows_every_moment_in_china_time(moment: object, shown: str) -> None:
    assert china_time(moment) == shown


def test_a_chart_scales_its_bars_from_zero_and_marks_those_over_the_target() -> None:
    chart = bar_chart([("2026-Q1", 10.0), ("2026-Q2", None), ("2026-Q3", 20.0)], target=18.0)
    assert [b.label for b in chart.bars] == ["2026-Q1", "2026-Q3"]  # no value, no bar
    low, high = chart.bars
    assert high.height == pytest.approx(2 * low.height, abs=0.2)
    assert low.y + low.height == pytest.approx(chart.baseline_y)
    assert (low.over, high.over) == (False, True)
    assert chart.target_y is not None
    assert high.y < chart.target_y < low.y
    assert chart.ticks[-1][1] == "20"  # the scale's top holds the largest value


def test_a_body_of_undeclared_length_is_counted_and_refused_past_the_limit(
    client: TestClient, fake: FakeServices
) -> None:
    sign_in(client, CQ)

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 10_000

    answer = client.post(
        "/projects", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 413
    assert [c for c in fake.calls if c[1] == "POST"] == []


def test_the_regulators_pages_are_refused_to_a_city_and_its_forged_posts_reach_no_service(
    client: TestClient, fake: FakeServices
) -> None:
    csrf = sign_in(client, CITY)
    for path in ("/limits", "/reports", "/reports/chengyu", "/limits/assessments/asm-0001/report"):
        assert client.get(path).status_code == 403, path
    posts = [
        client.post("/limits/imports", data={"csrf": csrf}, files={"file": ("l.csv", CSV, "text/csv")}),
        client.post("/limits/assessments", data={"csrf": csrf, "regions": ["50", "51"]}),
        client.post("/adoptions/std-prj-000000000077/decision", data={"csrf": csrf, "decision": "adopt"}),
    ]
    assert [p.status_code for p in posts] == [403, 403, 403]
    assert [c for c in fake.calls if c[1] == "POST"] == []
    assert fake.offers[0]["pending"] == ["50", "51"]
