"""`regstd harmonize …` against the harmonization service's real routes and use cases, served over
HTTP on a local port with storage in memory: what each command prints."""

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from regstd.cli import harmonization as harmonization_cli
from regstd.cli.main import app
from regstd.contracts.common import TextReference
from regstd.contracts.publication import PartyNumber, StandardPublished
from regstd.harmonization.http import adoption, analysis
from regstd.runtime.events import Delivery
from regstd.runtime.testing import MemoryAggregateStore, delivered, free_port, service_test_module

from .served import (
    REFERENCE,
    app_of,
    serving,
    token_book,
)

# The harmonization service's use cases over storage in memory, as its own tests wire them.
memory = service_test_module(
    Path(__file__).parents[2] / "services" / "harmonization" / "tests", "cli_harmonization_tests"
)
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SID = "std-51-t-3125-2026"
NUMBER = "DB51/T 3125—2026"
CHONGQING_CSV = """\
standard_number,standard_title,medium,source_category,parameter,cas,unit,condition,value,national_baseline
DB50 418—2016,大气污染物综合排放标准,air,锅炉,SO2,7446-09-5,mg/m³,1 h average,200,300
DB50 418—2016,大气污染物综合排放标准,air,锅炉,氮氧化物,,mg/m3,1 h average,200,300
DB50 418—2016,大气污染物综合排放标准,air,锅炉,臭气浓度,,无量纲,,1000,2000
"""
BAD_CSV = """\
standard_number,medium,source_category,parameter,unit,condition,value
DB50 418—2016,air,锅炉,SO2,mg/m³,1 h average,abc
DB50 418—2016,air,锅炉,氮氧化物,ppm,1 h average,200
DB50 418—2016,air,锅炉,颗粒物,mg/m³,1 h average,20
"""
SICHUAN_ROWS = [
    {"standard_number": "DB51/2672—2020", "medium": "大气", "source_category": "锅炉",
     "parameter": "二氧化硫", "unit": "µg/m³", "condition": "1 h average", "value": "150000",
     "national_baseline": "300000"},
    {"standard_number": "DB51/2672—2020", "medium": "大气", "source_category": "锅炉", "parameter": "NOx",
     "unit": "ug/m3", "condition": "1 h average", "value": "350000", "national_baseline": "300000"},
]  # fmt: skip


@dataclass
class Served:
    tokens: Path
    files: Path
    standards: MemoryAggregateStore
    assessments: MemoryAggregateStore

    def run(self, *args: str) -> Any:
        """Run `regstd harmonize …` with this token book; the result."""
        return CliRunner().invoke(app, ["harmonize", *args, "--tokens", str(self.tokens)])


def _offered() -> Delivery[StandardPublished]:
    published = StandardPublished(
        standard_id=SID,
        project_id=None,
        area="yangtze",
        parties=["51"],
        numbers=[PartyNumber(party="51", number=NUMBER)],
        sequence=3125,
        year=2026,
        title_zh="川西高原生态修复技术规范",
        category="ecology",
        kind="recommended",
        eco_civilization=True,
        publication_date=date(2026, 3, 1),
        implementation_date=date(2026, 6, 1),
        text=TextReference(location="https://t.example/x.pdf", sha256="ab" * 32),
        published_at=NOW,
    )
    return delivered(published)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    here = tmp_path_factory.mktemp("harmonize")
    port = free_port()
    book = token_book(here / "local.json", {"harmonization": f"http://127.0.0.1:{port}"})
    service = memory.InMemory(REFERENCE, lambda: NOW)
    asyncio.run(service.adoptions.on_published(_offered()))  # Sichuan's eco standard is offered
    (here / "cq.csv").write_text(CHONGQING_CSV, encoding="utf-8")
    (here / "sc.json").write_text(json.dumps({"rows": SICHUAN_ROWS}, ensure_ascii=False), encoding="utf-8")
    (here / "bad.csv").write_text(BAD_CSV, encoding="utf-8")
    app = app_of([adoption.router, analysis.router], book, uses=[service.adoptions, service.analysis])
    with serving(app, port):
        yield Served(book, here, service.standards, service.assessments)


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harmonization_cli.console, "size", (240, 50))  # wide enough that no cell wraps


def test_import_names_every_bad_line_and_imports_nothing_then_imports_once(served: Served) -> None:
    bad = served.run("import", str(served.files / "bad.csv"), "--as", "50")
    assert bad.exit_code == 1
    assert "refused 422" in bad.output
    assert "line 2: value 'abc' is not a number" in bad.output
    assert "line 3: unknown unit 'ppm'" in bad.output

    first = served.run("import", str(served.files / "cq.csv"), "--as", "50")
    assert first.exit_code == 0, first.output
    assert "imported: imp-50-" in first.output
    assert "(3 rows of region 50)" in first.output
    again = served.run("import", str(served.files / "cq.csv"), "--as", "50")
    assert "already imported: imp-50-" in again.output
    sc = served.run("import", str(served.files / "sc.json"), "--as", "51")
    assert "(2 rows of region 51)" in sc.output

    by_city = served.run("import", str(served.files / "sc.json"), "--as", "510100")
    assert by_city.exit_code == 1
    assert "refused 403" in by_city.output
    assert "may only read" in by_city.output


def test_assess_prints_the_comparison_and_report_prints_every_format(served: Served) -> None:
    served.run("import", str(served.files / "cq.csv"), "--as", "50")
    served.run("import", str(served.files / "sc.json"), "--as", "51")
    table = served.run("assess", "--as", "51", "--region", "50", "--region", "51", "--medium", "air")
    assert table.exit_code == 0, table.output
    assert "(strictest; inputs" in table.output
    so2 = next(line for line in table.output.splitlines() if " SO2 " in line)
    assert [c.strip() for c in so2.split("│")[6:10]] == ["200", "150", "51", "50"]  # 150000 µg/m³
    nox = next(line for line in table.output.splitlines() if " NOx " in line)
    assert [c.strip() for c in nox.split("│")[6:13]] == ["200", "350", "50", "150", "300", "51", "200"]
    odour = next(line for line in table.output.splitlines() if " odour " in line)
    assert [c.strip() for c in odour.split("│")[6:8]] == ["1000", "—"]  # Sichuan has no odour limit

    (assessment_id,) = served.assessments.documents
    markdown = served.run("report", assessment_id, "--output", "markdown")
    assert "# Difference analysis (差异分析评估)" in markdown.output
    assert "- region 51: NOx (air, 锅炉, 1 h average) 350 mg/m³ > baseline 300 mg/m³" in markdown.output
    csv_text = served.run("report", assessment_id, "--output", "csv")
    assert "air,锅炉,SO2,二氧化硫,1 h average,mg/m³,50=200; 51=150,51,150," in csv_text.output
    as_json = json.loads(served.run("report", assessment_id, "--output", "json").output)
    assert as_json["assessment_id"] == assessment_id
    assert as_json["requested_by"]["code"] == "51"
    assert [(f["region"], f["parameter"]) for f in as_json["report"]["findings"]] == [("51", "NOx")]

    page = served.run("report", assessment_id, "--output", "html")
    assert page.exit_code == 0, page.output
    assert page.output.startswith("<!DOCTYPE html>")
    assert "<li>region 51: NOx (air, 锅炉, 1 h average) 350 mg/m³ &gt; baseline 300 mg/m³</li>" in page.output
    unknown_output = served.run("report", assessment_id, "--output", "pdf")
    assert unknown_output.exit_code == 2
    assert "unknown output 'pdf'" in unknown_output.output

    median = served.run("assess", "--as", "50", "--region", "50", "--region", "51", "--policy", "median",
                        "--output", "markdown")  # fmt: skip
    assert "policy: median" in median.output
    assert (
        "| 锅炉 | 氮氧化物 (NOx) | 1 h average | mg/m³ | 200 | 350 | 50 | 150 | 300 | 275 |" in median.output
    )
    assert len(served.assessments.documents) == 2

    unknown = served.run("report", "asm-nothing", "--output", "markdown")
    assert unknown.exit_code == 1
    assert "refused 404: no assessment asm-nothing" in unknown.output


def test_adopt_offers_registry_and_summary(served: Served) -> None:
    offered = served.run("offers", "--member", "43")
    assert offered.exit_code == 0, offered.output
    assert f"{NUMBER} 川西高原生态修复技术规范 ({SID}, in_force)" in offered.output
    assert all(f"│ {m} " in offered.output for m in ("32", "43", "50", "53"))
    assert "│ 51 " not in offered.output  # the source is not offered its own standard

    adopted = served.run("adopt", SID, "--as", "50", "--decision", "adopt", "--scope", "全市高原生态修复项目",
                         "--effective", "2026-09-01")  # fmt: skip
    assert adopted.exit_code == 0, adopted.output
    row = next(line for line in adopted.output.splitlines() if "│ 50 " in line)
    assert [c.strip() for c in row.split("│")[1:5]] == ["50", "adopt", "2026-09-01", "全市高原生态修复项目"]
    pending = next(line for line in adopted.output.splitlines() if "│ 43 " in line)
    assert pending.split("│")[2].strip() == "pending"
    modified = served.run("adopt", SID, "--as", "42", "--decision", "adopt_with_modifications", "--scope",
                          "鄂西山区", "--effective", "2026-10-01", "--modification", "草种改为本地种",
                          "--modification", "监测周期2年")  # fmt: skip
    assert "草种改为本地种; 监测周期2年" in modified.output
    declined = served.run("adopt", SID, "--as", "53", "--decision", "decline", "--reason", "已有同类地方标准")
    assert "已有同类地方标准" in declined.output
    changed_mind = served.run("adopt", SID, "--as", "50", "--decision", "decline", "--reason", "改变主意")
    assert changed_mind.exit_code == 1
    assert "refused 409" in changed_mind.output
    by_city = served.run("adopt", SID, "--as", "510100", "--decision", "decline", "--reason", "x")
    assert by_city.exit_code == 1
    assert "refused 422: body.member" in by_city.output  # a city has no region to decide for
    incomplete = served.run("adopt", SID, "--as", "32", "--decision", "adopt")
    assert incomplete.exit_code == 1
    assert "refused 422: an adoption says from when it applies (effective_date)" in incomplete.output
    assert sum(e.type.endswith("decided.v1") for e in served.standards.outbox) == 3

    registry = served.run("registry", "--source", "51")
    lines = [line for line in registry.output.splitlines() if NUMBER in line]
    assert [[c.strip() for c in line.split("│")[3:5]] for line in lines] == [
        ["42", "adopt_with_modifications"],
        ["50", "adopt"],
        ["53", "decline"],
    ]
    elsewhere = served.run("registry", "--source", "51", "--elsewhere")
    adopters = [line.split("│")[3].strip() for line in elsewhere.output.splitlines() if NUMBER in line]
    assert adopters == ["42", "50"]
    mine = served.run("registry", "--member", "53")
    assert [line.split("│")[4].strip() for line in mine.output.splitlines() if NUMBER in line] == ["decline"]
    not_member = served.run("registry", "--member", "11")
    assert not_member.exit_code == 1
    assert "not a member of yangtze" in not_member.output

    summary = served.run("summary", "2026")
    assert summary.exit_code == 0, summary.output
    assert NUMBER in summary.output
    assert "| 51 四川省 |" in summary.output
    as_json = json.loads(served.run("summary", "2026", "--output", "json").output)
    standard = next(s for s in as_json["standards"] if s["standard_id"] == SID)
    assert (standard["offered_to"], standard["adopted"], standard["adopted_with_modifications"],
            standard["declined"], standard["pending"]) == (10, 1, 1, 1, 7)  # fmt: skip
    empty = json.loads(served.run("summary", "2025", "--output", "json").output)
    assert all(s["standard_id"] != SID for s in empty["standards"])


def test_assess_says_which_national_baselines_differed_and_which_was_used(served: Served) -> None:
    (served.files / "gz.csv").write_text(
        "standard_number,medium,source_category,parameter,unit,condition,value,national_baseline\n"
        "DB52/864—2022,air,锅炉,SO2,mg/m³,1 h average,100,200\n",
        encoding="utf-8",
    )
    assert served.run("import", str(served.files / "gz.csv"), "--as", "52").exit_code == 0
    served.run("import", str(served.files / "cq.csv"), "--as", "50")
    table = served.run("assess", "--as", "52", "--region", "50", "--region", "52", "--medium", "air")
    assert table.exit_code == 0, table.output
    assert (
        "national baselines differ for SO2 (air, 锅炉, 1 h average): 50=300 (DB50 418—2016); "
        "52=200 (DB52/864—2022); strictest: 200 mg/m³ used"
    ) in table.output
