"""The difference analysis (差异分析评估), pure: aligned limits compared across regions, the
baseline findings, a unified value proposed by a named policy, and the report as JSON, CSV,
Markdown and HTML. No I/O, no clock: the same inputs give the same report, byte for byte.

`assess` is linear in the number of rows (one pass to group, one per group), which is what keeps
11 regions × tens of thousands of rows well under a second (`make bench` measures it:
`regstd.bench.analysis`).
"""

import csv
import hashlib
import html
import io
import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NamedTuple, get_args

from regstd.contracts.common import Actor
from regstd.contracts.harmonization import AssessmentCompleted
from regstd.harmonization.domain.limits import (
    LimitRow,
    Medium,
    ParameterTable,
    canonical_json,
    cycle_collection_paused,
)
from regstd.kernel.errors import Invalid

Policy = Literal["strictest", "median", "baseline_capped"]
POLICIES: tuple[Policy, ...] = get_args(Policy)
POLICY_DESCRIPTIONS: dict[Policy, str] = {
    "strictest": "the strictest region's value (default): no region has to loosen a limit",
    "median": "the median of the regions' values: the middle of current practice",
    "baseline_capped": "the median of the regions' values, but never looser than the national baseline",
}


# When the rows give different national baselines (GB limits) for one aligned parameter, one is
# used and the report lists every value given, where it came from, and this rule (decision 0026).
BASELINE_RULE = "strictest"
BASELINE_RULE_DESCRIPTION = (
    "when the rows give different national baselines for one parameter, the strictest (lowest) is "
    "used: every region is measured against the most demanding reading of the national standard, so "
    "no finding is dropped because one import cites a looser or older one"
)


class RegionValue(NamedTuple):
    """A region's limit for one aligned parameter: the strictest of its rows, as compared and as
    written."""

    region: str
    value: Decimal
    standard_number: str
    written: str  # e.g. "150 µg/m³ (SO2)"


class BaselineGiven(NamedTuple):
    """A national baseline as one region's rows give it: the value (canonical unit), the standard of
    the first row giving it, that row's line, and the baseline as written."""

    region: str
    value: Decimal
    standard_number: str
    line: int
    written: str


@dataclass(frozen=True)
class BaselineDisagreement:
    """Different national baselines given for one aligned parameter, and the one used."""

    given: tuple[BaselineGiven, ...]
    resolved: Decimal
    rule: str
    reason: str


@dataclass(frozen=True)
class Proposal:
    """The unified value a policy proposes, and why."""

    policy: Policy
    value: Decimal
    reason: str


@dataclass(frozen=True)
class Comparison:
    """One aligned parameter compared across the chosen regions."""

    medium: Medium
    source_category: str
    parameter_id: str
    name_zh: str
    name_en: str
    cas: str | None
    condition: str
    unit: str
    convertible: bool
    values: tuple[RegionValue, ...]
    strictest: tuple[str, ...]
    strictest_value: Decimal
    loosest: tuple[str, ...]
    loosest_value: Decimal
    spread: Decimal
    without_limit: tuple[str, ...]
    national_baseline: Decimal | None
    looser_than_baseline: tuple[str, ...]
    proposal: Proposal
    notes: tuple[str, ...]
    baseline_disagreement: BaselineDisagreement | None = None


@dataclass(frozen=True)
class Report:
    """The whole analysis; everything in it follows from the inputs (no times, no ids of runs)."""

    regions: tuple[str, ...]
    media: tuple[Medium, ...]
    policy: Policy
    imports: tuple[str, ...]
    inputs_digest: str
    comparisons: tuple[Comparison, ...]

    @property
    def findings(self) -> list[tuple[Comparison, str]]:
        """Every (parameter, region) whose limit is looser than the national baseline."""
        return [(c, r) for c in self.comparisons for r in c.looser_than_baseline]

    @property
    def baseline_disagreements(self) -> list[Comparison]:
        """Every aligned parameter whose rows gave different national baselines."""
        return [c for c in self.comparisons if c.baseline_disagreement is not None]


def inputs_digest(rows: Iterable[LimitRow], regions: Sequence[str], media: Sequence[str], policy: str) -> str:
    """SHA-256 over the rows as written (in a canonical order), the selection, the policy and the rule
    that resolves different national baselines."""
    selection = {
        "regions": sorted(regions),
        "media": sorted(media),
        "policy": policy,
        "baseline_rule": BASELINE_RULE,
    }
    written = sorted(
        (
            r.region,
            r.standard_number,
            r.line,
            r.standard_title,
            r.medium,
            r.source_category,
            r.parameter,
            r.cas or "",
            r.unit,
            r.condition,
            str(r.value),
            str(r.national_baseline or ""),
        )
        for r in rows
    )
    text = json.dumps([selection, written], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cycle_collection_paused()
def assess(
    rows: Iterable[LimitRow],
    *,
    regions: Sequence[str],
    media: Sequence[Medium],
    policy: Policy = "strictest",
    imports: Sequence[str] = (),
    table: ParameterTable | None = None,
) -> Report:
    """Compare the limits of the chosen regions and media, parameter by parameter."""
    if not regions:
        raise Invalid("choose at least one region")
    if not media:
        raise Invalid("choose at least one medium")
    if policy not in POLICIES:
        raise Invalid(f"unknown policy {policy!r}; one of {', '.join(POLICIES)}")
    table = table or ParameterTable()
    chosen_regions, chosen_media = set(regions), set(media)
    chosen = [r for r in rows if r.region in chosen_regions and r.medium in chosen_media]
    groups: dict[tuple[str, str, str, str, str], list[LimitRow]] = {}
    for row in chosen:
        groups.setdefault(row.key, []).append(row)
    by_id = {p.id: p for p in table.parameters}
    comparisons = [
        _compare(group, tuple(sorted(chosen_regions)), policy, by_id) for _, group in sorted(groups.items())
    ]
    return Report(
        regions=tuple(sorted(chosen_regions)),
        media=tuple(m for m in get_args(Medium) if m in chosen_media),
        policy=policy,
        imports=tuple(sorted(imports)),
        inputs_digest=inputs_digest(chosen, regions, media, policy),
        comparisons=tuple(comparisons),
    )


def _compare(
    group: list[LimitRow], regions: tuple[str, ...], policy: Policy, by_id: Mapping[str, Any]
) -> Comparison:
    first = group[0]
    best: dict[str, LimitRow] = {}
    # The standards of a region that sets this limit more than once (rare): one set per such region,
    # not one per row.
    standards_of: dict[str, set[str]] = {}
    baselines: set[Decimal] = set()
    for row in group:
        region = row.region
        held = best.get(region)
        if held is None:
            best[region] = row
        else:
            standards_of.setdefault(region, {held.standard_number}).add(row.standard_number)
            if row.canonical_value < held.canonical_value:
                best[region] = row
        if row.canonical_baseline is not None:
            baselines.add(row.canonical_baseline)
    notes: list[str] = []
    for region in sorted(standards_of):
        standards = sorted(standards_of[region])
        if len(standards) > 1:
            notes.append(
                f"region {region} sets it in {len(standards)} standards ({', '.join(standards)}); "
                "the strictest counts"
            )
    values = tuple(
        RegionValue(
            r, row.canonical_value, row.standard_number, f"{_plain(row.value)} {row.unit} ({row.parameter})"
        )
        for r, row in sorted(best.items())
    )
    amounts = [v.value for v in values]
    low = min(amounts)
    high = max(amounts)
    baseline = min(baselines) if baselines else None
    disagreement = _baseline_disagreement(group, first.canonical_unit) if len(baselines) > 1 else None
    if disagreement is not None:
        notes.append(disagreement.reason)
    if first.canonical_unit == "无量纲":
        notes.append(
            "odour concentration is dimensionless (无量纲): compared as written, not convertible "
            "to a mass concentration"
        )
    if not first.parameter_known:
        notes.append(f"{first.parameter} is not in the alias table: aligned by its exact name or CAS only")
    known = by_id.get(first.parameter_id)
    return Comparison(
        medium=first.medium,
        source_category=first.source_category,
        parameter_id=first.parameter_id,
        name_zh=known.name_zh if known else first.parameter,
        name_en=known.name_en if known else first.parameter,
        cas=known.cas if known else first.cas,
        condition=first.condition,
        unit=first.canonical_unit,
        convertible=first.canonical_unit != "无量纲",
        values=values,
        strictest=tuple(v.region for v in values if v.value == low),
        strictest_value=low,
        loosest=tuple(v.region for v in values if v.value == high),
        loosest_value=high,
        spread=high - low,
        without_limit=tuple(r for r in regions if r not in best),
        national_baseline=baseline,
        looser_than_baseline=()
        if baseline is None
        else tuple(v.region for v in values if v.value > baseline),
        proposal=_propose(policy, values, baseline, first.canonical_unit),
        notes=tuple(notes),
        baseline_disagreement=disagreement,
    )


def _baseline_disagreement(group: Sequence[LimitRow], unit: str) -> BaselineDisagreement:
    """Every national baseline the rows give (each value once per region, from its first row), and
    the one `BASELINE_RULE` uses."""
    first_of: dict[tuple[str, Decimal], LimitRow] = {}
    for row in sorted(group, key=lambda r: (r.region, r.line, r.standard_number)):
        if row.canonical_baseline is not None:
            first_of.setdefault((row.region, row.canonical_baseline), row)
    given = tuple(
        BaselineGiven(
            region,
            value,
            row.standard_number,
            row.line,
            f"{_plain(row.national_baseline or value)} {row.unit}",
        )
        for (region, value), row in sorted(first_of.items())
    )
    resolved = min(g.value for g in given)
    listed = "; ".join(
        f"region {g.region} {_plain(g.value)} ({g.standard_number}, line {g.line})" for g in given
    )
    return BaselineDisagreement(
        given=given,
        resolved=resolved,
        rule=BASELINE_RULE,
        reason=(
            f"the rows give different national baselines ({listed}); {BASELINE_RULE}: "
            f"{_plain(resolved)} {unit} is used"
        ),
    )


def _propose(policy: Policy, values: Sequence[RegionValue], baseline: Decimal | None, unit: str) -> Proposal:
    strictest = min(values, key=lambda v: (v.value, v.region))
    if policy == "strictest":
        return Proposal(
            policy,
            strictest.value,
            f"strictest: {_plain(strictest.value)} {unit}, region {strictest.region}'s value "
            f"({strictest.standard_number}); no region has to loosen its limit",
        )
    median = statistics.median(sorted(v.value for v in values))
    if policy == "median":
        return Proposal(policy, median, f"median of {len(values)} regions' values: {_plain(median)} {unit}")
    if baseline is not None and median > baseline:
        return Proposal(
            policy,
            baseline,
            f"median {_plain(median)} {unit} is looser than the national baseline; capped at the baseline "
            f"{_plain(baseline)} {unit}",
        )
    why = (
        "no national baseline given"
        if baseline is None
        else f"within the national baseline {_plain(baseline)}"
    )
    return Proposal(
        policy, median, f"median of {len(values)} regions' values: {_plain(median)} {unit} ({why})"
    )


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 0.15, 35, 0.000001."""
    return format(value.normalize(), "f")


# ---------------------------------------------------------------------------------------------
# Outputs


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@cycle_collection_paused()
def report_body(report: Report) -> dict[str, Any]:
    """The report as JSON data; this is what `report_digest` covers."""
    return {
        "regions": list(report.regions),
        "media": list(report.media),
        "policy": report.policy,
        "policy_description": POLICY_DESCRIPTIONS[report.policy],
        "baseline_rule": BASELINE_RULE,
        "baseline_rule_description": BASELINE_RULE_DESCRIPTION,
        "imports": list(report.imports),
        "inputs_digest": report.inputs_digest,
        "parameters": [
            {
                "medium": c.medium,
                "source_category": c.source_category,
                "parameter": c.parameter_id,
                "name_zh": c.name_zh,
                "name_en": c.name_en,
                "cas": c.cas,
                "condition": c.condition,
                "unit": c.unit,
                "convertible": c.convertible,
                "values": {
                    v.region: {
                        "value": float(v.value),  # never None: one call less per value
                        "standard_number": v.standard_number,
                        "as_written": v.written,
                    }
                    for v in c.values
                },
                "strictest": list(c.strictest),
                "strictest_value": _number(c.strictest_value),
                "loosest": list(c.loosest),
                "loosest_value": _number(c.loosest_value),
                "spread": _number(c.spread),
                "without_limit": list(c.without_limit),
                "national_baseline": _number(c.national_baseline),
                "looser_than_baseline": list(c.looser_than_baseline),
                "proposed": {
                    "policy": c.proposal.policy,
                    "value": _number(c.proposal.value),
                    "reason": c.proposal.reason,
                },
                "notes": list(c.notes),
            }
            for c in report.comparisons
        ],
        "findings": [  # `report.findings`, in its order, each with its value at hand
            {
                "region": v.region,
                "medium": c.medium,
                "source_category": c.source_category,
                "parameter": c.parameter_id,
                "condition": c.condition,
                "unit": c.unit,
                "value": float(v.value),
                "national_baseline": _number(c.national_baseline),
                "finding": f"region {v.region}'s limit is looser than the national baseline",
            }
            for c in report.comparisons
            if c.looser_than_baseline
            for v in c.values
            if v.region in c.looser_than_baseline
        ],
        "baseline_disagreements": [
            {
                "medium": c.medium,
                "source_category": c.source_category,
                "parameter": c.parameter_id,
                "condition": c.condition,
                "unit": c.unit,
                "given": [
                    {
                        "region": g.region,
                        "national_baseline": _number(g.value),
                        "standard_number": g.standard_number,
                        "line": g.line,
                        "as_written": g.written,
                    }
                    for g in c.baseline_disagreement.given
                ],
                "rule": c.baseline_disagreement.rule,
                "national_baseline_used": _number(c.baseline_disagreement.resolved),
                "reason": c.baseline_disagreement.reason,
            }
            for c in report.comparisons
            if c.baseline_disagreement is not None
        ],
    }


def report_digest(body: Mapping[str, Any]) -> str:
    """SHA-256 of the report body in canonical JSON."""
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def assessment_id(digest_of_inputs: str) -> str:
    """An assessment's id follows from its inputs: the same inputs are the same assessment."""
    return f"asm-{digest_of_inputs[:24]}"


@dataclass(frozen=True)
class Assessment:
    """A completed assessment as stored: the report body with its digest, who asked and when.

    Its id follows from its inputs (`assessment_id`), so the same inputs find the stored assessment
    and publish nothing again.
    """

    id: str
    report: Mapping[str, Any]
    report_digest: str
    requested_by: Actor
    completed_at: datetime

    @classmethod
    def complete(
        cls, report: Report, by: Actor, at: datetime
    ) -> "tuple[Assessment, list[AssessmentCompleted]]":
        """The assessment of a report, requested by `by` and completed at `at`, with its event."""
        body = report_body(report)
        done = cls(assessment_id(report.inputs_digest), body, report_digest(body), by, at)
        event = AssessmentCompleted(
            assessment_id=done.id,
            regions=list(report.regions),
            media=list(report.media),
            policy=report.policy,
            imports=list(report.imports),
            inputs_digest=report.inputs_digest,
            report_digest=done.report_digest,
            parameters=len(report.comparisons),
            findings=len(report.findings),
            requested_by=by,
            completed_at=at,
        )
        return done, [event]

    def to_state(self) -> dict[str, Any]:
        """The stored state."""
        return {
            "report": dict(self.report),
            "report_digest": self.report_digest,
            "requested_by": self.requested_by.model_dump(),
            "completed_at": self.completed_at,
        }

    @classmethod
    def from_state(cls, assessment_id: str, state: Mapping[str, Any]) -> "Assessment":
        """The assessment from its stored state."""
        return cls(
            id=assessment_id,
            report=state["report"],
            report_digest=state["report_digest"],
            requested_by=Actor.model_validate(state["requested_by"]),
            completed_at=state["completed_at"],
        )


CSV_COLUMNS = (
    "medium", "source_category", "parameter", "name_zh", "condition", "unit", "region_values",
    "strictest", "strictest_value", "loosest_value", "spread", "without_limit", "national_baseline",
    "looser_than_baseline", "proposed_value", "policy", "reason", "national_baselines_given",
    "baseline_rule",
)  # fmt: skip


def _disagreements_by_parameter(body: Mapping[str, Any]) -> dict[tuple[str, ...], Mapping[str, Any]]:
    """The report's baseline disagreements by aligned parameter (none in reports stored before the
    report listed them)."""
    return {
        (d["medium"], d["source_category"], d["parameter"], d["condition"], d["unit"]): d
        for d in body.get("baseline_disagreements", ())
    }


def _given(disagreement: Mapping[str, Any]) -> list[str]:
    return [
        f"{g['region']}={_fmt(g['national_baseline'])} ({g['standard_number']}, line {g['line']})"
        for g in disagreement["given"]
    ]


def report_csv(body: Mapping[str, Any]) -> str:
    """One line per aligned parameter; region values as `51=0.15; 50=0.2`; where the rows gave
    different national baselines, each (`50=0.3 (DB50 418—2016, line 2); 51=0.2 (…)`) and the rule
    with the one used (`strictest: 0.2`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    disagreements = _disagreements_by_parameter(body)
    for p in body["parameters"]:
        d = disagreements.get((p["medium"], p["source_category"], p["parameter"], p["condition"], p["unit"]))
        writer.writerow(
            [
                p["medium"],
                p["source_category"],
                p["parameter"],
                p["name_zh"],
                p["condition"],
                p["unit"],
                "; ".join(f"{r}={_fmt(v['value'])}" for r, v in p["values"].items()),
                " ".join(p["strictest"]),
                _fmt(p["strictest_value"]),
                _fmt(p["loosest_value"]),
                _fmt(p["spread"]),
                " ".join(p["without_limit"]),
                _fmt(p["national_baseline"]),
                " ".join(p["looser_than_baseline"]),
                _fmt(p["proposed"]["value"]),
                p["proposed"]["policy"],
                p["proposed"]["reason"],
                "; ".join(_given(d)) if d else "",
                f"{d['rule']}: {_fmt(d['national_baseline_used'])}" if d else "",
            ]
        )
    return out.getvalue()


def _disagreement_line(d: Mapping[str, Any]) -> str:
    where = ", ".join(x for x in (d["medium"], d["source_category"], d["condition"]) if x)
    return (
        f"{d['parameter']} ({where}) {d['unit']}: "
        + "; ".join(_given(d))
        + f" → {d['rule']}: {_fmt(d['national_baseline_used'])} {d['unit']} used"
    )


_NO_DISAGREEMENT = "None: the rows that give a national baseline agree on it."
_BASELINES_TITLE = "National baselines: disagreements resolved"


def report_markdown(body: Mapping[str, Any], *, title: str = "Difference analysis (差异分析评估)") -> str:
    """A readable page: what was compared, one table per medium, the baseline findings."""
    lines = [
        f"# {title}",
        "",
        f"- regions: {', '.join(body['regions'])}",
        f"- media: {', '.join(body['media'])}",
        f"- policy: {body['policy']} — {body['policy_description']}",
        f"- imports: {', '.join(body['imports']) or '—'}",
        f"- inputs digest: `{body['inputs_digest']}`",
        "",
    ]
    regions = body["regions"]
    for medium in body["media"]:
        params = [p for p in body["parameters"] if p["medium"] == medium]
        if not params:
            continue
        lines += [f"## {medium}", ""]
        lines.append(
            "| category | parameter | condition | unit | "
            + " | ".join(regions)
            + " | strictest | spread | baseline | proposed | reason |"
        )
        lines.append("|---|---|---|---|" + "---:|" * len(regions) + "---|---:|---:|---:|---|")
        for p in params:
            cells = [_fmt(p["values"][r]["value"]) if r in p["values"] else "—" for r in regions]
            lines.append(
                f"| {p['source_category']} | {p['name_zh']} ({p['parameter']}) | {p['condition'] or '—'} "
                f"| {p['unit']} | "
                + " | ".join(cells)
                + f" | {' '.join(p['strictest'])} | {_fmt(p['spread'])} | {_fmt(p['national_baseline'])} "
                f"| {_fmt(p['proposed']['value'])} | {p['proposed']['reason']} |"
            )
        lines.append("")
    lines += [f"## {_BASELINES_TITLE}", ""]
    if "baseline_rule" in body:
        lines += [f"Rule: {body['baseline_rule']} — {body['baseline_rule_description']}.", ""]
    disagreements = body.get("baseline_disagreements", [])
    lines += [f"- {_disagreement_line(d)}" for d in disagreements] or [_NO_DISAGREEMENT]
    lines.append("")
    lines += ["## Findings: looser than the national baseline", ""]
    if body["findings"]:
        lines += [
            f"- region {f['region']}: {f['parameter']} ({f['medium']}, {f['source_category']}"
            f"{', ' + f['condition'] if f['condition'] else ''}) {_fmt(f['value'])} {f['unit']} > "
            f"baseline {_fmt(f['national_baseline'])} {f['unit']}"
            for f in body["findings"]
        ]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


_HTML_STYLE = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:2rem;color:#1b1b1b}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #c8c8c8;padding:.25rem .5rem;vertical-align:top}th{background:#f0f0f0;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.none{color:#888;text-align:center}
td.strictest{background:#e3f4e3}td.looser{background:#fde2e2}
.notes{color:#555;font-size:.85rem}code{font-size:.85rem}
"""


def report_html(body: Mapping[str, Any], *, title: str = "Difference analysis (差异分析评估)") -> str:
    """A readable, self-contained page (no scripts, no outside resources): what was compared, one
    table per medium with the strictest value marked and values looser than the baseline flagged,
    the policy's proposals with their reasons, and the baseline findings. Every text from the
    inputs is escaped."""
    e = html.escape
    regions = body["regions"]
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{_HTML_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<dl>",
        f"<dt>regions</dt><dd>{e(', '.join(regions))}</dd>",
        f"<dt>media</dt><dd>{e(', '.join(body['media']))}</dd>",
        f"<dt>policy</dt><dd>{e(body['policy'])}: {e(body['policy_description'])}</dd>",
        f"<dt>imports</dt><dd>{e(', '.join(body['imports']) or '—')}</dd>",
        f"<dt>inputs digest</dt><dd><code>{e(body['inputs_digest'])}</code></dd>",
        "</dl>",
    ]
    for medium in body["media"]:
        params = [p for p in body["parameters"] if p["medium"] == medium]
        if not params:
            continue
        out.append(f"<h2>{e(medium)}</h2><table><thead><tr>")
        heads = [
            "category",
            "parameter",
            "condition",
            "unit",
            *regions,
            "strictest",
            "spread",
            "national baseline",
            "proposed",
            "reason",
        ]
        out += [f"<th>{e(h)}</th>" for h in heads]
        out.append("</tr></thead><tbody>")
        for p in params:
            looser = set(p["looser_than_baseline"])
            out.append("<tr>")
            out.append(f"<td>{e(p['source_category'])}</td>")
            out.append(f"<td>{e(p['name_zh'])} ({e(p['parameter'])})")
            if p["notes"]:
                out.append(f'<div class="notes">{"<br>".join(e(n) for n in p["notes"])}</div>')
            out.append(f"</td><td>{e(p['condition'] or '—')}</td><td>{e(p['unit'])}</td>")
            for r in regions:
                v = p["values"].get(r)
                if v is None:
                    out.append('<td class="none" title="no limit">—</td>')
                    continue
                marks = (["strictest"] if r in p["strictest"] else []) + (["looser"] if r in looser else [])
                tip = f"{v['standard_number']}: {v['as_written']}"
                out.append(
                    f'<td class="{" ".join(["n", *marks])}" title="{e(tip)}">{e(_fmt(v["value"]))}</td>'
                )
            out += [
                f"<td>{e(' '.join(p['strictest']))}</td>",
                f'<td class="n">{e(_fmt(p["spread"]))}</td>',
                f'<td class="n">{e(_fmt(p["national_baseline"]))}</td>',
                f'<td class="n">{e(_fmt(p["proposed"]["value"]))}</td>',
                f"<td>{e(p['proposed']['reason'])}</td>",
                "</tr>",
            ]
        out.append("</tbody></table>")
    out.append(f"<h2>{e(_BASELINES_TITLE)}</h2>")
    if "baseline_rule" in body:
        out.append(f"<p>Rule: {e(body['baseline_rule'])}: {e(body['baseline_rule_description'])}.</p>")
    disagreements = body.get("baseline_disagreements", [])
    if disagreements:
        out.append("<ul>" + "".join(f"<li>{e(_disagreement_line(d))}</li>" for d in disagreements) + "</ul>")
    else:
        out.append(f"<p>{e(_NO_DISAGREEMENT)}</p>")
    out.append("<h2>Findings: looser than the national baseline</h2>")
    if body["findings"]:
        out.append("<ul>")
        for f in body["findings"]:
            where = ", ".join(x for x in (f["medium"], f["source_category"], f["condition"]) if x)
            out.append(
                f"<li>region {e(f['region'])}: {e(f['parameter'])} ({e(where)}) {e(_fmt(f['value']))} "
                f"{e(f['unit'])} &gt; baseline {e(_fmt(f['national_baseline']))} {e(f['unit'])}</li>"
            )
        out.append("</ul>")
    else:
        out.append("<p>None.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return format(Decimal(repr(value)).normalize(), "f")
