"""The console's pages over a fake of the services' APIs: sign-in and CSRF, the desk, refusals shown
in the page with nothing changed, and the public portal's search."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from regstd.console.app.operations import MIN_BAR_PCT, OperatorCases, waterfall
from regstd.console.app.ports import Refusal, ServiceName
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


class FakeServices:
    """The three APIs as far as the pages need them; refuses as the services do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str, str, Any]] = []
        self.project = _project()
        self.operations = FakeOperations()

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
    ) -> Any:
        self.calls.append((token, method, path, json))
        if path.startswith(("/operator/", "/feeds/")):
            return self.operations.call(token, service, method, path, params or {})
        if method == "POST":
            if token == CITY:
                raise Refusal(403, "a city (成都市) may only read; this needs a regulator")
            if path.endswith("/positions") and json["position"] == "object" and not json.get("reason"):
                raise Refusal(422, "an objection needs a reason")
            return {"project_id": self.project["project_id"]}
        if path == "/projects":
            return {"items": [self.project], "total": 1}
        if path.startswith("/projects/"):
            return self.project
        if path.startswith("/standards/by-number/"):
            wanted = re.sub(r"[-–－—\s]", "", path.split("/by-number/", 1)[1]).upper()
            if wanted == "DB51/T100112026":
                return PUBLISHED
            raise Refusal(404, "no such standard")
        if path == "/standards":
            return {"items": [PUBLISHED], "total": 1}
        if path.startswith("/standards/"):
            return PUBLISHED
        raise Refusal(404, f"not faked: {path}")


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
