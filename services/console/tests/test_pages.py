"""The console's pages over a fake of the services' APIs: sign-in and CSRF, the desk, refusals shown
in the page with nothing changed, and the public portal's search."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from regstd.console.app.ports import Refusal, ServiceName
from regstd.console.main import build
from regstd.console.settings import ConsoleSettings

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


OVERLAP = {
    "kind": "standard",
    "ref": "std-prj-000000000009",
    "title_zh": "川渝地区花椒育苗技术规程",
    "number": "DB50/T 10011—2026 = DB51/T 10011—2026",
    "score": 0.82,
}


class FakeServices:
    """The three APIs as far as the pages need them; refuses as the services do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str, str, Any]] = []
        self.project = _project()

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
        if method == "POST":
            if token == CITY:
                raise Refusal(403, "a city (成都市) may only read; this needs a regulator")
            if path.endswith("/positions") and json["position"] == "object" and not json.get("reason"):
                raise Refusal(422, "an objection needs a reason")
            if path == "/projects/overlaps":
                if not json["title_zh"]:
                    raise Refusal(422, "title_zh: String should have at least 1 character")
                return {"matches": [OVERLAP] if "花椒" in json["title_zh"] else []}
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


def test_signing_out_forgets_the_principal(client: TestClient) -> None:
    csrf = sign_in(client, CQ)
    client.post("/signout", data={"csrf": csrf})
    assert client.get("/desk", follow_redirects=False).status_code == 303


def test_an_unknown_token_does_not_sign_in(client: TestClient) -> None:
    page = client.get("/signin").text
    answer = client.post("/signin", data={"csrf": _csrf(page), "pasted": "nobody"})
    assert answer.status_code == 403
    assert client.get("/desk", follow_redirects=False).status_code == 303
