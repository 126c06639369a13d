"""The main job's scenario, played against the running services through their HTTP APIs.

A joint Chongqing–Sichuan standard is proposed, both bureaus approve the project, it goes through
drafting, public comment and coordinated review, both approve the final text, publication numbers and
publishes it, and partner cities receive it. A second proposal is rejected by one party.
"""

import hashlib
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from regstd.cli.client import Api, TokenBookFile

CHONGQING, SICHUAN = "50", "51"

HIGHWAY_SERVICE_AREAS: dict[str, Any] = {
    "area": "chengyu",
    "parties": [CHONGQING, SICHUAN],
    "title_zh": "川渝地区高速公路服务区服务规范",
    "title_en": "Service specification for expressway service areas in the Sichuan-Chongqing region",
    "scope": "规定了川渝地区高速公路服务区的基本要求、服务设施、服务内容、服务质量和评价改进。",
    "category": "transport",
    "kind": "recommended",
    "proposing_organisations": ["重庆市交通运输委员会", "四川省交通运输厅"],
}

PEPPER_SEEDLINGS: dict[str, Any] = {
    "area": "chengyu",
    "parties": [CHONGQING, SICHUAN],
    "title_zh": "川渝地区花椒育苗技术规程",
    "scope": "规定了花椒育苗的圃地选择、种子处理、播种、苗期管理和出圃要求。",
    "category": "agriculture",
    "kind": "recommended",
    "proposing_organisations": ["四川省林业科学研究院"],
}


def text_reference(title: str) -> dict[str, str]:
    """Where the scenario's final text lives (a web address: the register refuses any other) and
    its digest."""
    text = f"{title}\n(final text approved by both parties)".encode()
    return {
        "location": f"https://texts.regstd.example/{hashlib.sha256(text).hexdigest()[:12]}.pdf",
        "sha256": hashlib.sha256(text).hexdigest(),
    }


def play(book: TokenBookFile, console: Console, *, wait_s: float = 30.0) -> dict[str, Any]:
    """Play the scenario; print what happened as tables; return the published standard."""
    chongqing, sichuan = Api(book, CHONGQING), Api(book, SICHUAN)
    try:
        return _play(chongqing, sichuan, console, wait_s)
    finally:
        chongqing.close()
        sichuan.close()


def _play(chongqing: Api, sichuan: Api, console: Console, wait_s: float) -> dict[str, Any]:
    steps = Table(title="Joint standard, Chongqing–Sichuan (chengyu)", show_lines=False)
    for column in ("step", "by", "result"):
        steps.add_column(column)

    project = chongqing.intake("POST", "/projects", json=HIGHWAY_SERVICE_AREAS)
    pid = project["project_id"]
    steps.add_row(
        "proposal (立项申请)", "重庆", f"{pid}, {len(project.get('overlap_matches', []))} overlap matches"
    )
    for api, party, name in ((chongqing, CHONGQING, "重庆"), (sichuan, SICHUAN, "四川")):
        api.intake(
            "POST",
            f"/projects/{pid}/ballots/project_approval/positions",
            json={"party": party, "position": "approve"},
        )
        steps.add_row("project approval (立项)", name, "approve")
    chongqing.intake("POST", f"/projects/{pid}/drafting")
    steps.add_row("drafting (起草)", "重庆", "started")
    opened = chongqing.intake("POST", f"/projects/{pid}/public-comment")
    steps.add_row("public comment (征求意见)", "重庆", f"closes on {_closes_on(opened)}")
    sichuan.intake("POST", f"/projects/{pid}/public-comment/close")
    steps.add_row("public comment closed", "四川", "closed")
    for api, party, name in ((chongqing, CHONGQING, "重庆"), (sichuan, SICHUAN, "四川")):
        api.intake(
            "POST",
            f"/projects/{pid}/review-conclusions",
            json={"party": party, "conclusion": "技术内容合理，同意报批", "passed": True},
        )
        steps.add_row("technical review (协同审查)", name, "passed")
    chongqing.intake(
        "POST",
        f"/projects/{pid}/submission",
        json={"text": text_reference(HIGHWAY_SERVICE_AREAS["title_zh"])},
    )
    steps.add_row("submitted for final approval", "重庆", "final text attached")
    for api, party, name in ((chongqing, CHONGQING, "重庆"), (sichuan, SICHUAN, "四川")):
        api.intake(
            "POST",
            f"/projects/{pid}/ballots/final_approval/positions",
            json={"party": party, "position": "approve"},
        )
        steps.add_row("final approval (批准)", name, "approve")

    standard = _wait_for(lambda: _published(chongqing, pid), wait_s, "publication of the joint standard")
    numbers = " = ".join(n["number"] for n in standard["numbers"])
    steps.add_row("numbered and published (发布)", "publication", numbers)
    console.print(steps)

    rejected = sichuan.intake("POST", "/projects", json=PEPPER_SEEDLINGS)
    rid = rejected["project_id"]
    sichuan.intake(
        "POST",
        f"/projects/{rid}/ballots/project_approval/positions",
        json={"party": SICHUAN, "position": "approve"},
    )
    chongqing.intake(
        "POST",
        f"/projects/{rid}/ballots/project_approval/positions",
        json={"party": CHONGQING, "position": "reject", "reason": "重庆已有同类地方标准，建议修订现行标准"},
    )
    outcome = chongqing.intake("GET", f"/projects/{rid}")
    second = Table(title="Second proposal")
    for column in ("project", "title", "status"):
        second.add_column(column)
    second.add_row(rid, PEPPER_SEEDLINGS["title_zh"], str(outcome.get("status")))
    console.print(second)
    return standard


def _closes_on(opened: dict[str, Any]) -> str:
    return str((opened.get("public_comment") or {}).get("closes_on", "?"))


def _published(api: Api, project_id: str) -> dict[str, Any] | None:
    listing = api.publication("GET", "/standards", params={"area": "chengyu"})
    items = listing["items"] if isinstance(listing, dict) else listing
    for item in items:
        if item.get("project_id") == project_id and item.get("status") == "published":
            found: dict[str, Any] = item
            return found
    return None


def _wait_for(check: Callable[[], dict[str, Any] | None], within_s: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"no {what} within {within_s:.0f} s")
