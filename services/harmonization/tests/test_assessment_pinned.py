"""The difference analysis's output pinned on a fixed generated input: the digests below were
computed with the code before it was made faster (issue 16), so a faster path that changes any value,
note, order or rendering fails here."""

import dataclasses
import gc
import hashlib
import json
import random
from decimal import Decimal
from typing import Any

import pytest

from regstd.harmonization.domain.assessment import (
    POLICIES,
    Policy,
    Report,
    assess,
    report_body,
    report_csv,
    report_digest,
    report_html,
    report_markdown,
)
from regstd.harmonization.domain.limits import (
    MEDIA,
    LimitRow,
    ParameterTable,
    cycle_collection_paused,
    parse_rows,
    rows_from_dicts,
)

REGIONS = ("31", "32", "33", "34")
# (medium, names as regions write them, (unit, factor to the first unit), typical limit)
PROFILES = (
    ("air", ("SO2", "二氧化硫", "sulphur dioxide"), (("mg/m³", 1), ("µg/m³", 1000), ("ug/m3", 1000)), 200),
    ("air", ("NOx", "氮氧化物(以NO2计)"), (("mg/m3", 1), ("μg/m³", 1000)), 300),
    ("air", ("臭气浓度", "odour"), (("无量纲", 1),), 2000),
    ("air", ("some solvent",), (("mg/m³", 1),), 50),  # not in the alias table: aligned by name
    ("air", ("unlisted", "other name"), (("mg/m³", 1),), 5),  # not in the table, aligned by CAS
    ("water", ("COD", "化学需氧量", "CODcr"), (("mg/L", 1),), 100),
    ("water", ("Cd", "镉", "总镉"), (("mg/L", 1), ("µg/L", 1000)), 1),
    ("noise", ("LAeq", "等效声级"), (("dB(A)", 1),), 65),
    ("soil", ("As", "砷"), (("mg/kg", 1),), 60),
)
CONDITIONS = ("1 h average", "daily average", "")


def generate(rows_per_region: int = 500, seed: int = 7) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Raw rows per region with what the analysis must handle: unit conversions, values with trailing
    zeros, regions without a limit, a region setting one limit in two standards, different national
    baselines, names outside the alias table."""
    rng = random.Random(seed)
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for region in REGIONS:
        made: list[tuple[int, dict[str, Any]]] = []
        category = 0
        while len(made) < rows_per_region:
            for medium, names, units, typical in PROFILES:
                for condition in CONDITIONS:
                    if rng.random() < 0.15:  # this region sets no such limit
                        continue
                    for standard in range(1 + (rng.random() < 0.2)):  # now and then in two standards
                        unit, factor = rng.choice(units)
                        value = Decimal(rng.randint(typical * 50, typical * 150)) / 100 * factor
                        baseline = Decimal(typical) * factor * rng.choice((1, 1, 1, Decimal("0.8")))
                        made.append((len(made) + 2, {
                            "standard_number": f"DB{region}/T {1000 + category % 7 + standard}—2024",
                            "standard_title": f"standard {category % 7 + standard}",
                            "medium": medium,
                            "source_category": f"category {category}",
                            "parameter": rng.choice(names),
                            "cas": "1234-56-7" if names[0] == "unlisted" else "",
                            "unit": unit,
                            "condition": condition,
                            "value": str(value) if rng.random() < 0.8 else f"{value:.4f}",
                            "national_baseline": str(baseline) if rng.random() < 0.7 else "",
                        }))  # fmt: skip
            category += 1
        out[region] = made
    return out


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _exact(data: Any) -> str:
    """A digest of rows or a report with every decimal exactly as computed (not as floats)."""
    if isinstance(data, Report):
        data = dataclasses.asdict(data)
    return _digest(json.dumps(data, ensure_ascii=False, default=str))


def _service_rows() -> list[LimitRow]:
    """The rows as the service assesses them: imported, stored, aligned again."""
    imported = {
        region: parse_rows(raw, region=region, table=ParameterTable()) for region, raw in generate().items()
    }
    aligned = [
        row
        for region, rows in imported.items()
        for row in rows_from_dicts([r.to_dict() for r in rows], region, ParameterTable())
    ]
    assert aligned == [row for rows in imported.values() for row in rows]
    return aligned


ROWS_DIGEST = "7fbb83b35ac7c5cafdf63640bc3282e690fd22c837740fe1fae2b2bea3c58b55"
# policy -> (exact report, report_digest of the body, CSV, Markdown, HTML)
PINNED: dict[Policy, tuple[str, str, str, str, str]] = {
    "strictest": (
        "5bdc6d836cb11a64e4b6312d9e1fb7ea513d96298959515c26600d3ba2887abf",
        "a8ed129180b12c795f526d104bfb951b24bde6e9755d8b737a00153c830125db",
        "1482d33fb1d69dd2cf9b82da19e5e43444eb64bea4b2a31c293a4562031ee083",
        "61418df6c4c9b14b16f44b691b9837a8301671f377c4f95eb4c83e6bf11cf0b4",
        "9009a3de90732ae547264f91921abd8eb3f00a7dfad9afec6a2925924606634d",
    ),
    "median": (
        "9b269d6399c62a65960c97d2942f2e109b59b6e8da143dfecaf8ef179cb7b3cf",
        "2d295e0857c9704e49d596adc690978ea63f9b5a44f72210ce70f184d18fa3e1",
        "ffbccc839c8932c03e232f818c31136fd7f3948c199ae5b133257aabbe1509c0",
        "320732d29e12f49ee130eff0eb4cfcd738ad96bc2b34ac123867717724110491",
        "913e182281e58bb0fbf8320758d4880e6987bc7a246ebdcd24f53fff1f37d105",
    ),
    "baseline_capped": (
        "16c91bdfe26f8a4eb0c60fcf09f698f55c36f3192e29ad75eab6a1ff8dd3738f",
        "74bb7828e1776d3f76e7af2fb8beab01f1b83fe8b23939b302810eca21a73874",
        "48c8f396e3a8875cec60a3176db5276db14c6125dc254a4eb1c03df3329280e9",
        "bb0b455d1114b1217677f5eb0be8902d342495f63f69ab28b5b22b0a4bdeb829",
        "03b861cfade91c4fc2c37b86991f78cff8251d9497417bd67ff3e28424c066f7",
    ),
}


def test_the_aligned_rows_are_as_before() -> None:
    rows = _service_rows()
    assert len(rows) == 2031
    assert _exact(rows) == ROWS_DIGEST


@pytest.mark.parametrize("policy", POLICIES)
def test_the_assessment_and_every_rendering_are_as_before(policy: Policy) -> None:
    # 33 left out: a region's rows outside the selection must not count
    report = assess(
        _service_rows(), regions=("31", "32", "34"), media=MEDIA, policy=policy, imports=("b", "a")
    )
    assert len(report.comparisons) == 511
    assert len(report.baseline_disagreements) == 176
    assert len(report.findings) == 690
    body = report_body(report)
    got = (_exact(report), report_digest(body), _digest(report_csv(body)), _digest(report_markdown(body)),
           _digest(report_html(body)))  # fmt: skip
    assert got == PINNED[policy]


def test_the_cycle_collector_is_paused_only_while_the_work_runs() -> None:
    seen: list[bool] = []

    @cycle_collection_paused()
    def work(fail: bool) -> None:
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("failed")

    assert gc.isenabled()
    work(False)
    assert gc.isenabled()
    with pytest.raises(ValueError, match="failed"):
        work(True)
    assert gc.isenabled()  # resumed after a failure too
    gc.disable()
    try:
        work(False)
        assert not gc.isenabled()  # paused by someone else: left paused
    finally:
        gc.enable()
    assert seen == [False, False, False]
