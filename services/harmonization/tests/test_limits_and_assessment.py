"""The difference analysis, pure: aliases, units, the all-or-nothing import, policies, outputs."""

import csv
import io
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from regstd.harmonization.domain.assessment import (
    assess,
    report_body,
    report_csv,
    report_digest,
    report_html,
    report_markdown,
)
from regstd.harmonization.domain.limits import (
    ImportRejected,
    ParameterTable,
    find_unit,
    parse_rows,
    read_csv,
    read_json,
)
from regstd.kernel.errors import Invalid

TABLE = ParameterTable()


@pytest.mark.parametrize(
    ("written", "cas", "expected"),
    [
        ("SO2", None, "SO2"),
        ("二氧化硫", None, "SO2"),
        ("SO₂", None, "SO2"),
        ("so2", None, "SO2"),
        ("unknown name", "7446-09-5", "SO2"),
        ("氮氧化物(以NO2计)", None, "NOx"),
        ("NOX", None, "NOx"),
        ("非甲烷总烃", None, "NMHC"),
        ("化学需氧量", None, "COD"),
        ("CODcr", None, "COD"),
        ("氨氮", None, "NH3-N"),
        ("总磷", None, "TP"),
        ("总氮", None, "TN"),
        ("铅", None, "Pb"),
        ("镉", None, "Cd"),
        ("汞", None, "Hg"),
        ("砷", None, "As"),
        ("六价铬", None, "Cr(VI)"),
        ("Cr6+", None, "Cr(VI)"),
        ("苯", None, "benzene"),
        ("可吸入颗粒物", None, "PM10"),
        ("PM2.5", None, "PM2.5"),
        ("颗粒物", None, "PM"),
        ("ＣＯ", None, "CO"),
    ],
)
def test_aliases_align_names_and_cas_numbers(written: str, cas: str | None, expected: str) -> None:
    found = TABLE.find(written, cas)
    assert found is not None
    assert found.id == expected


def test_an_unknown_name_without_a_known_cas_is_not_aligned() -> None:
    assert TABLE.find("某种新污染物") is None


@pytest.mark.parametrize(
    ("unit", "canonical", "factor"),
    [
        ("mg/m³", "mg/m³", Decimal(1)),
        ("µg/m³", "mg/m³", Decimal("0.001")),
        ("μg/m³", "mg/m³", Decimal("0.001")),
        ("ug/m3", "mg/m³", Decimal("0.001")),
        ("ng/m³", "mg/m³", Decimal("0.000001")),
        ("mg/L", "mg/L", Decimal(1)),
        ("µg/L", "mg/L", Decimal("0.001")),
        ("dB(A)", "dB(A)", Decimal(1)),
        ("dBA", "dB(A)", Decimal(1)),
    ],
)
def test_units_convert_exactly(unit: str, canonical: str, factor: Decimal) -> None:
    found = find_unit(unit)
    assert found is not None
    assert (found.canonical, found.factor) == (canonical, factor)


def test_odour_units_are_not_convertible() -> None:
    odour = find_unit("无量纲")
    assert odour is not None
    assert not odour.convertible
    assert find_unit("ppm") is None


HEADER = "standard_number,medium,source_category,parameter,unit,condition,value,national_baseline\n"


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_returned() -> None:
    text = HEADER + (
        "DB51/1—2020,air,锅炉,SO2,mg/m3,1 h,100,\n"
        "DB51/1—2020,air,锅炉,SO2,ppm,1 h,100,\n"
        "DB51/1—2020,sky,锅炉,NOx,mg/m3,1 h,100,\n"
        "DB51/1—2020,air,锅炉,NOx,mg/m3,1 h,-3,\n"
        "DB51/1—2020,air,锅炉,SO2,µg/m³,1 h,90000,\n"
    )
    with pytest.raises(ImportRejected) as rejected:
        parse_rows(read_csv(text), region="51", table=TABLE)
    assert [(e.line, e.reason.split(" ")[0]) for e in rejected.value.errors] == [
        (3, "unknown"),
        (4, "unknown"),
        (5, "value"),
        (6, "repeats"),
    ]


def test_json_rows_are_numbered_by_item_and_another_region_is_refused() -> None:
    raw = read_json(
        '[{"standard_number": "DB51/1—2020", "medium": "water", "source_category": "c", "parameter": "COD",'
        ' "unit": "mg/L", "value": "50"}, {"region": "50"}, 3]'
    )
    with pytest.raises(ImportRejected) as rejected:
        parse_rows(raw, region="51", table=TABLE)
    assert [e.line for e in rejected.value.errors] == [2, 3]
    assert "region 50 is not the importing region 51" in rejected.value.errors[0].reason


def test_a_region_imports_only_rows_of_its_own_standards() -> None:
    # Regression (issue 13): Sichuan could import Chongqing's (or national) standards as its own.
    text = HEADER + (
        "DB51/2672—2020,air,锅炉,SO2,mg/m3,1 h,100,\n"
        "DB50 418—2016,air,锅炉,NOx,mg/m3,1 h,200,\n"
        "DB5101/T 12—2020,air,锅炉,颗粒物,mg/m3,1 h,10,\n"  # a Sichuan city's standard is Sichuan's
        "GB 13271—2014,air,锅炉,NMHC,mg/m3,1 h,80,\n"
        "DB50/T 10003—2026 = DB51/T 10003—2026,air,锅炉,CO,mg/m3,1 h,5,\n"  # joint: Sichuan's too
        "DB50/T 10004—2026 = DB32/T 10004—2026,air,锅炉,HCl,mg/m3,1 h,5,\n"
    )
    with pytest.raises(ImportRejected) as rejected:
        parse_rows(read_csv(text), region="51", table=TABLE)
    assert [e.line for e in rejected.value.errors] == [3, 5, 7]
    reasons = [e.reason for e in rejected.value.errors]
    assert reasons[0] == (
        "standard DB50 418—2016 is region 50's, not the importing region 51's: "
        "a region imports only its own standards (DB51…)"
    )
    assert "'GB 13271—2014' is not a local standard's designation" in reasons[1]
    assert "a national limit goes in national_baseline" in reasons[1]
    assert "is region 32, 50's, not the importing region 51's" in reasons[2]
    assert "2 bad row(s)" not in str(rejected.value)
    assert str(rejected.value).startswith("3 bad row(s), nothing imported: line 3: standard DB50 418—2016")
    own = parse_rows(
        read_csv(HEADER + "DB5101/T 12—2020,air,锅炉,颗粒物,mg/m3,1 h,10,\n"), region="51", table=TABLE
    )
    assert [r.standard_number for r in own] == ["DB5101/T 12—2020"]


def test_a_csv_with_unknown_columns_is_refused_at_line_one() -> None:
    with pytest.raises(ImportRejected) as rejected:
        read_csv("number,value\n1,2\n")
    assert rejected.value.errors[0].line == 1


def rows(region: str, body: str):  # type: ignore[no-untyped-def]
    return parse_rows(read_csv(HEADER + body), region=region, table=TABLE)


CQ = rows(
    "50",
    "DB50 418—2016,air,锅炉,SO2,mg/m³,1 h,200,300\nDB50 418—2016,air,锅炉,氮氧化物,mg/m3,1 h,200,300\n"
    "DB50 418—2016,air,锅炉,臭气浓度,无量纲,,1000,2000\n",
)
SC = rows(
    "51",
    "DB51/2672—2020,大气,锅炉,二氧化硫,µg/m³,1 h,150000,300000\n"
    "DB51/2672—2020,大气,锅炉,NOx,ug/m3,1 h,350000,300000\n"
    "DB51/2672—2020,大气,锅炉,NOx,mg/m3,daily,100,\n",
)
HB = rows("42", "DB42/1—2020,air,锅炉,SO2,mg/m3,1 h,100,\n")


def test_the_strictest_region_spread_and_baseline_findings_by_hand() -> None:
    report = assess(CQ + SC, regions=["50", "51"], media=["air"])
    by = {(c.parameter_id, c.condition): c for c in report.comparisons}
    so2 = by[("SO2", "1 h")]
    assert [(v.region, v.value) for v in so2.values] == [("50", Decimal(200)), ("51", Decimal(150))]
    assert (so2.strictest, so2.strictest_value, so2.spread) == (("51",), Decimal(150), Decimal(50))
    nox = by[("NOx", "1 h")]
    assert (nox.strictest, nox.loosest, nox.spread) == (("50",), ("51",), Decimal(150))
    assert nox.looser_than_baseline == ("51",)
    assert by[("NOx", "daily")].without_limit == ("50",)  # conditions kept apart
    odour = by[("odour", "")]
    assert not odour.convertible
    assert any("not convertible" in n for n in odour.notes)
    assert [(c.parameter_id, r) for c, r in report.findings] == [("NOx", "51")]


def test_policies_propose_with_a_reason() -> None:
    rows_ = CQ + SC + HB
    regions = ["42", "50", "51"]

    def so2(policy: str) -> tuple[Decimal, str]:
        report = assess(rows_, regions=regions, media=["air"], policy=policy)  # type: ignore[arg-type]
        c = next(c for c in report.comparisons if c.parameter_id == "SO2")
        return c.proposal.value, c.proposal.reason

    assert so2("strictest")[0] == Decimal(100)
    assert "region 42" in so2("strictest")[1]
    assert so2("median")[0] == Decimal(150)
    nox = next(
        c
        for c in assess(rows_, regions=regions, media=["air"], policy="baseline_capped").comparisons
        if c.parameter_id == "NOx" and c.condition == "1 h"
    )
    assert nox.proposal.value == Decimal(275)  # median of 200 and 350, within the baseline 300
    with pytest.raises(Invalid):
        assess(rows_, regions=regions, media=["air"], policy="loosest")  # type: ignore[arg-type]


def test_the_same_inputs_give_the_same_report_in_any_order() -> None:
    one = report_body(assess(CQ + SC, regions=["50", "51"], media=["air"]))
    two = report_body(assess(list(reversed(SC + CQ)), regions=["51", "50"], media=["air"]))
    assert report_digest(one) == report_digest(two)
    other = report_body(assess(CQ + SC, regions=["50", "51"], media=["air"], policy="median"))
    assert other["inputs_digest"] != one["inputs_digest"]
    assert report_csv(one).splitlines()[0].startswith("medium,source_category,parameter")
    assert "region 51: NOx" in report_markdown(one)


HB_BASELINE = rows(
    "42",
    "DB42/1—2020,air,锅炉,SO2,mg/m3,1 h,100,200\n"  # cites another national baseline than 50 and 51
    "DB42/7—2022,air,锅炉,SO2,mg/m3,1 h,120,250\n",  # and its own second standard yet another
)


def test_every_baseline_disagreement_is_stated_with_its_sources_and_the_rule_in_every_format() -> None:
    # Regression (issue 13): different national baselines for one parameter were resolved silently.
    report = assess(CQ + SC + HB_BASELINE, regions=["42", "50", "51"], media=["air"])
    (so2,) = report.baseline_disagreements
    assert so2.parameter_id == "SO2"
    disagreement = so2.baseline_disagreement
    assert disagreement is not None
    assert [(g.region, g.value, g.standard_number, g.line) for g in disagreement.given] == [
        ("42", Decimal(200), "DB42/1—2020", 2),
        ("42", Decimal(250), "DB42/7—2022", 3),
        ("50", Decimal(300), "DB50 418—2016", 2),
        ("51", Decimal(300), "DB51/2672—2020", 2),  # 300000 µg/m³ as written
    ]
    assert (disagreement.rule, disagreement.resolved, so2.national_baseline) == ("strictest", 200, 200)
    assert so2.looser_than_baseline == ()  # 42's 100, 50's 200 and 51's 150 are all within 200
    body = report_body(report)
    assert body["baseline_rule"] == "strictest"
    (listed,) = body["baseline_disagreements"]
    assert listed["given"][3] == {
        "region": "51",
        "national_baseline": 300.0,
        "standard_number": "DB51/2672—2020",
        "line": 2,
        "as_written": "300000 µg/m³",
    }
    assert (listed["parameter"], listed["rule"], listed["national_baseline_used"]) == (
        "SO2",
        "strictest",
        200,
    )
    assert listed["reason"] in next(p["notes"] for p in body["parameters"] if p["parameter"] == "SO2")

    stated = (
        "42=200 (DB42/1—2020, line 2); 42=250 (DB42/7—2022, line 3); 50=300 (DB50 418—2016, line 2); "
        "51=300 (DB51/2672—2020, line 2)"
    )
    csv_rows = {(r["parameter"], r["condition"]): r for r in csv.DictReader(io.StringIO(report_csv(body)))}
    so2_row = csv_rows[("SO2", "1 h")]
    assert (so2_row["national_baselines_given"], so2_row["baseline_rule"]) == (stated, "strictest: 200")
    nox_row = csv_rows[("NOx", "1 h")]  # 50 and 51 agree on NOx's baseline: nothing to state
    assert (nox_row["national_baselines_given"], nox_row["baseline_rule"]) == ("", "")
    markdown = report_markdown(body)
    assert "## National baselines: disagreements resolved" in markdown
    assert "Rule: strictest — when the rows give different national baselines" in markdown
    assert f"- SO2 (air, 锅炉, 1 h) mg/m³: {stated} → strictest: 200 mg/m³ used" in markdown
    page = report_html(body)
    assert f"<li>SO2 (air, 锅炉, 1 h) mg/m³: {stated} → strictest: 200 mg/m³ used</li>" in page

    # Reproducible: the same inputs in another order give the same report, byte for byte.
    again = report_body(
        assess(list(reversed(HB_BASELINE + SC + CQ)), regions=["51", "50", "42"], media=["air"])
    )
    assert report_digest(again) == report_digest(body)
    agreeing = report_body(assess(CQ + SC, regions=["50", "51"], media=["air"]))
    assert agreeing["baseline_disagreements"] == []
    assert "None: the rows that give a national baseline agree on it." in report_markdown(agreeing)


def test_a_report_stored_before_disagreements_were_listed_still_renders() -> None:
    body = report_body(assess(CQ + SC, regions=["50", "51"], media=["air"]))
    old = {k: v for k, v in body.items() if not k.startswith("baseline_")}
    assert "## National baselines" in report_markdown(old)
    assert report_csv(old).splitlines()[1].endswith(",,")
    assert "<h2>National baselines: disagreements resolved</h2>" in report_html(old)


class _Page(HTMLParser):
    """The tags, attributes and text of a page, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_html_report_is_a_readable_page_that_escapes_every_input() -> None:
    category = '"><img src=x onerror=alert(1)>'
    evil = rows(
        "50",
        'DB50 1—2020 & co,air,"""><img src=x onerror=alert(1)>",<script>alert(x)</script>,mg/m3,1 h,5,\n',
    )
    body = report_body(assess(CQ + SC + evil, regions=["50", "51"], media=["air"]))
    page = report_html(body)
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert set(parser.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "dl", "dt",
                                "dd", "code", "table", "thead", "tbody", "tr", "th", "td", "div", "br",
                                "ul", "li", "p"}  # fmt: skip
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert not any(name.startswith("on") for name, _ in parser.attributes)
    text = "".join(parser.text)
    assert "<script>alert(x)</script>" in text  # shown as the name it is, not run
    assert category in text
    assert "&lt;script&gt;" in page
    assert ("title", "DB50 1—2020 & co: 5 mg/m3 (<script>alert(x)</script>)") in parser.attributes
    # What it shows: the strictest marked, a value looser than the baseline flagged, the finding.
    assert '<td class="n strictest" title="DB51/2672—2020: 150000 µg/m³ (二氧化硫)">150</td>' in page
    assert '<td class="n looser" title="DB51/2672—2020: 350000 ug/m3 (NOx)">350</td>' in page
    assert "<li>region 51: NOx (air, 锅炉, 1 h) 350 mg/m³ &gt; baseline 300 mg/m³</li>" in page
    assert page == report_html(body)  # the same report, the same page


def test_remembered_lookups_answer_as_the_first_time() -> None:
    table = ParameterTable()
    for _ in range(2):
        assert table.find("unknown name", "7446-09-5") is not None
        assert table.find("unknown name") is None  # the same name without a CAS is another question
        assert table.find("  二氧化硫 ") == table.find("SO₂")
    assert find_unit(" µg / m³ ") == find_unit("ug/m3")
    twice = HEADER + "DB51/1—2020,air,c,SO2,mg/m3,1 h,1,\n" + "DB51/1—2020,air,c,SO2,mg/m3,1 h,2,\n"
    with pytest.raises(ImportRejected) as rejected:
        parse_rows(read_csv(twice), region="51", table=table)
    assert [e.line for e in rejected.value.errors] == [3]  # the same key again with another value
