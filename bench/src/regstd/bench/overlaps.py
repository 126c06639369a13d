"""The overlap check at scale (issue 16, item 4): a proposal's check and save with 80,000 standards
and projects on record.

The records go straight into intake's store in bulk, shaped as intake stores them: projects are
copies of one project proposed over HTTP (the template), with their own ids, titles and scopes;
standards are the flat rows intake keeps of publication's announcements. The overlap index is then
built by intake's own command (`regstd-intake-reindex`, timed), and proposals are timed
over HTTP one at a time: half near-duplicates of a record (they find it), half new combinations.

Titles and scopes are drawn from a vocabulary of places, subjects and aspects like those of local
standards, so that many records share words, as real catalogues do. Run on its own:
`python -m regstd.bench.overlaps` (REGSTD_BENCH_QUICK=1: 10,000 records).
"""

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from regstd.bench.phases import CHONGQING, SICHUAN, Intake
from regstd.bench.stats import Summary, Target, format_figure
from regstd.runtime.store import META_FIELDS, OUTBOX, OUTBOX_COUNT, PROCESSED, VERSION, Document

INTAKE_DATABASE = "regstd_intake"
TARGET_P99_MS = 100.0


def _words(*lines: str) -> tuple[str, ...]:
    return tuple(word for line in lines for word in line.split())


PLACES = (
    "川渝地区",
    "成渝地区",
    "长三角",
    "重庆市",
    "四川省",
    "上海市",
    "江苏省",
    "浙江省",
    "安徽省",
    "长江流域",
    "",
)
SUBJECTS = [
    "公路沥青路面",
    "水泥混凝土路面",
    "公路桥梁",
    "公路隧道",
    "城市道路",
    "城市轨道交通",
    "农村公路",
    "内河航道",
    "港口码头",
    "高速公路服务区",
    "农村供水",
    "城镇污水",
    "生活垃圾",
    "建筑垃圾",
    "危险废物",
    "医疗废物",
    "工业固体废物",
    "大气污染物",
    "挥发性有机物",
    "土壤环境",
    "地下水",
    "河湖岸线",
    "湿地生态",
    "森林资源",
    "自然保护地",
    "水土保持",
    "生态修复",
    "碳排放",
    "温室气体",
    "清洁能源",
    "光伏电站",
    "储能电站",
    "充电设施",
    "茶叶",
    "柑橘",
    "生猪",
    "水稻",
    "油菜",
    "榨菜",
    "中药材",
    "花椒",
    "竹笋",
    "猕猴桃",
    "茶油",
    "蚕桑",
    "食用菌",
    "水产养殖",
    "稻渔综合种养",
    "畜禽粪污",
    "食品",
    "餐饮服务",
    "预制菜",
    "火锅底料",
    "白酒",
    "酱腌菜",
    "冷链物流",
    "快递包装",
    "电子商务",
    "跨境贸易",
    "电子政务",
    "政务服务",
    "数据共享",
    "公共数据",
    "信用信息",
    "电子证照",
    "社会保障卡",
    "养老服务",
    "托育服务",
    "社区服务",
    "家政服务",
    "旅游景区",
    "民宿",
    "研学旅行",
    "文化场馆",
    "公共图书馆",
    "体育场馆",
    "消防设施",
    "电梯",
    "燃气管道",
    "特种设备",
    "安全生产",
    "应急避难场所",
    "建筑节能",
    "装配式建筑",
    "既有建筑",
    "绿色建筑",
    "智慧工地",
    "地质灾害",
    "气象服务",
    "防汛抗旱",
    "水文监测",
    "医疗机构",
    "中医药",
    "疾病预防",
]
ASPECTS = [
    "养护",
    "检测",
    "施工",
    "验收",
    "设计",
    "监测",
    "评价",
    "管理",
    "服务",
    "运营",
    "分级",
    "分类",
    "标识",
    "采集",
    "加工",
    "储存",
    "运输",
    "追溯",
    "安全",
    "应急",
    "质量",
    "计量",
    "信息化",
    "数字化",
    "智能化",
    "评估",
    "规划",
    "建设",
    "维护",
    "处置",
    "利用",
    "防治",
    "控制",
    "核查",
    "统计",
    "认证",
    "培训",
    "巡查",
    "预警",
    "档案",
]
GENRES = ("技术规范", "技术规程", "规范", "指南", "技术要求", "导则", "通则", "")


def title_and_scope(rng: random.Random) -> tuple[str, str]:
    """A made-up local standard: a title and a scope of the genre."""
    place, subject = rng.choice(PLACES), rng.choice(SUBJECTS)
    aspects = rng.sample(ASPECTS, 4)
    second = rng.choice(SUBJECTS) if rng.random() < 0.2 else ""
    title = (
        f"{place}{subject}{second}{aspects[0]}{aspects[1] if rng.random() < 0.4 else ''}{rng.choice(GENRES)}"
    )
    scope = (
        f"本文件规定了{subject}{aspects[0]}的{aspects[1]}、{aspects[2]}和{aspects[3]}等要求。"
        f"本文件适用于{place or '本地区'}{subject}{second}的{aspects[0]}。"
    )
    return title, scope


def near_duplicate(title: str, scope: str, rng: random.Random) -> tuple[str, str]:
    """A proposal that resembles a record: another place, another genre word."""
    for place in PLACES:
        if place and title.startswith(place):
            title = title[len(place) :]
            break
    return f"{rng.choice(PLACES)}{title}", scope.replace("本文件规定了", "规定了")


def body(title: str, scope: str) -> dict[str, Any]:
    """A proposal of the bench's regulators."""
    return {
        "area": "chengyu",
        "parties": [CHONGQING, SICHUAN],
        "title_zh": title,
        "scope": scope,
        "category": "transport",
        "kind": "recommended",
        "proposing_organisations": ["基准测试"],
    }


def project_document(template: Document, project_id: str, title: str, scope: str) -> Document:
    """A copy of the template project as intake stores it, with nothing in its outbox."""
    doc = {k: v for k, v in template.items() if k not in META_FIELDS}
    doc |= {"project_id": project_id, "title_zh": title, "title_en": None, "scope": scope}
    return {"_id": project_id, **doc, VERSION: 1, OUTBOX: [], OUTBOX_COUNT: 0, PROCESSED: []}


def standard_document(standard_id: str, sequence: int, title: str) -> Document:
    """A published standard as intake keeps it from publication's announcement."""
    return {
        "_id": standard_id,
        "project_id": None,
        "area": "chengyu",
        "parties": [CHONGQING, SICHUAN],
        "title_zh": title,
        "title_en": None,
        "category": "transport",
        "number": f"DB50/T {sequence}—2025 = DB51/T {sequence}—2025",
        "published_at": datetime(2025, 6, 1, tzinfo=UTC),
        "status": "published",
        "status_since": None,
        "status_reason": None,
        "superseded_by": None,
        VERSION: 1,
        OUTBOX: [],
        OUTBOX_COUNT: 0,
        PROCESSED: [],
    }


async def load(
    mongo_url: str, template: Document, records: list[tuple[str, str]], progress: Callable[[str], None]
) -> float:
    """Insert the records (one in four a project, the rest standards) in bulk; seconds it took."""
    began = time.monotonic()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    try:
        database = client[INTAKE_DATABASE]
        projects, standards = [], []
        for i, (title, scope) in enumerate(records):
            if i % 4 == 0:
                projects.append(project_document(template, f"prj-bench{i:07d}", title, scope))
            else:
                standards.append(standard_document(f"std-bench{i:07d}", 20_000 + i, title))
        for collection, docs in (
            (database["projects"], projects),
            (database["published_standards"], standards),
        ):
            for start in range(0, len(docs), 5_000):
                await collection.insert_many(docs[start : start + 5_000], ordered=False)
            progress(f"overlap: {len(docs):,} documents in {collection.name}")
    finally:
        await client.close()
    return time.monotonic() - began


def rebuild_index(mongo_url: str) -> dict[str, Any]:
    """Intake's own rebuild command against the bench's store; its figures and the wall time."""
    began = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "regstd-intake-reindex")],
        env=dict(os.environ, REGSTD_MONGO_URL=mongo_url),
        capture_output=True,
        text=True,
        check=True,
        timeout=1_800,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures | {"wall_s": time.monotonic() - began}


async def overlap_check(
    intake: Intake, mongo_url: str, size: int, proposals: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Load `size` records, build the index, then time `proposals` previews and proposals."""
    rng = random.Random(16_4)
    template = await intake.ok("/projects", CHONGQING, body(*title_and_scope(rng)))
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    try:
        stored = await client[INTAKE_DATABASE]["projects"].find_one({"_id": template["project_id"]})
    finally:
        await client.close()
    if stored is None:
        raise RuntimeError(f"the template project {template['project_id']} is not in intake's store")
    records = [title_and_scope(rng) for _ in range(size)]
    progress(f"overlap: loading {size:,} standards and projects into intake's store")
    load_s = await load(mongo_url, stored, records, progress)
    progress("overlap: building the index (regstd-intake-reindex)")
    index = rebuild_index(mongo_url)
    progress(f"overlap: index built in {index['wall_s']:.1f} s; timing {proposals} previews and proposals")

    asked = [
        near_duplicate(*rng.choice(records), rng) if i % 2 == 0 else title_and_scope(rng)
        for i in range(proposals)
    ]
    preview_s, propose_s, matched, previewed_refs = [], [], 0, 0
    for title, scope in asked:
        began = time.monotonic()
        previewed = await intake.ok("/projects/overlaps", CHONGQING, body(title, scope))
        preview_s.append(time.monotonic() - began)
        began = time.monotonic()
        project = await intake.ok("/projects", CHONGQING, body(title, scope))
        propose_s.append(time.monotonic() - began)
        matched += bool(project["overlap_matches"])
        previewed_refs += len(previewed["matches"])
    return {
        "records": size,
        "proposals": proposals,
        "proposals_with_matches": matched,
        "previewed_matches": previewed_refs,
        "load_s": load_s,
        "index": index,
        "propose": Summary.of_seconds(propose_s).to_json(),
        "preview": Summary.of_seconds(preview_s).to_json(),
    }


def targets(m: Mapping[str, Any]) -> list[Target]:
    """Issue 16's target for the overlap check."""
    return [
        Target(
            f"proposal check + save p99, {m['records']:,} on record",
            float(m["propose"]["p99_ms"]),
            "ms",
            "<=",
            TARGET_P99_MS,
        )
    ]


def rows(m: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The phase's other figures, as (name, figure) rows of the bench's table."""
    p, v = m["propose"], m["preview"]
    return [
        (
            f"overlap: propose over HTTP, {m['records']:,} on record (p50/p99/max)",
            f"{p['p50_ms']:.0f} / {p['p99_ms']:.0f} / {p['max_ms']:.0f} ms",
        ),
        ("  preview of the matches (p50/p99)", f"{v['p50_ms']:.0f} / {v['p99_ms']:.0f} ms"),
        ("  proposals with a match", f"{m['proposals_with_matches']} of {m['proposals']}"),
        ("  bulk load of the records", format_figure(m["load_s"], "s")),
        (
            f"  index build ({m['index']['candidates']:,} candidates, {m['index']['terms']:,} terms)",
            format_figure(m["index"]["wall_s"], "s"),
        ),
    ]


async def _standalone(quick: bool) -> dict[str, Any]:
    import httpx

    from regstd.bench.main import REPO
    from regstd.bench.system import System
    from regstd.cli.client import TokenBookFile

    size = int(os.environ.get("REGSTD_BENCH_OVERLAP_RECORDS", 10_000 if quick else 80_000))
    proposals = int(os.environ.get("REGSTD_BENCH_OVERLAP_PROPOSALS", 100 if quick else 300))
    with tempfile.TemporaryDirectory(prefix="regstd-bench-overlaps-") as tmp:
        system = System(REPO, Path(tmp))
        try:
            system.start_infra()
            await system.start_services(tracing=True)
            async with httpx.AsyncClient(timeout=30) as http:
                intake = Intake(http, system.services["project-intake"].url, TokenBookFile.load(system.book))
                return await overlap_check(intake, system.mongo_url, size, proposals, print)
        finally:
            system.stop_services()
            system.stop_infra()


def main() -> None:
    """Run the phase alone on its own stack and print its figures and verdict."""
    quick = os.environ.get("REGSTD_BENCH_QUICK", "") not in ("", "0", "false")
    m = asyncio.run(_standalone(quick))
    print(json.dumps(m, indent=2))
    for name, figure in rows(m):
        print(f"{name}: {figure}")
    for target in targets(m):
        print(
            f"{target.name}: {format_figure(target.figure, target.unit)} "
            f"(target {target.comparison} {target.limit:g} {target.unit}): {target.verdict}"
        )


if __name__ == "__main__":
    main()
