"""The harmonization service's difference analysis measured, for `make bench` (no timing asserted in
tests).

`generate_rows` makes a realistic set of limit rows (regions × source categories × parameters ×
conditions, with names, aliases and units that differ between regions); `run` aligns and assesses
them with the same pure functions the service uses. `python -m regstd.bench.analysis [rows]`
prints how long each step took, and what an assessment costs in the service (the stored rows aligned
again, then assessed and reported).
"""

import random
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from regstd.contracts.reference import load_reference
from regstd.harmonization.domain.assessment import Report, assess, report_body
from regstd.harmonization.domain.limits import MEDIA, LimitRow, ParameterTable, parse_rows, rows_from_dicts

# (medium, parameter names as different regions write them, units as written with their factor to
# the first unit, a typical limit in the first unit)
_PROFILES: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, int], ...], int], ...] = (
    ("air", ("SO2", "二氧化硫", "sulphur dioxide"), (("mg/m³", 1), ("µg/m³", 1000), ("ug/m3", 1000)), 200),
    ("air", ("NOx", "氮氧化物", "氮氧化物(以NO2计)"), (("mg/m3", 1), ("μg/m³", 1000)), 300),
    ("air", ("颗粒物", "烟尘", "particulate matter"), (("mg/m³", 1),), 30),
    ("air", ("NMHC", "非甲烷总烃"), (("mg/m³", 1),), 80),
    ("air", ("苯", "benzene"), (("mg/m³", 1), ("µg/m³", 1000)), 4),
    ("air", ("Pb", "铅"), (("mg/m³", 1), ("ng/m³", 1_000_000)), 1),
    ("air", ("臭气浓度", "odour"), (("无量纲", 1),), 2000),
    ("water", ("COD", "化学需氧量", "CODcr"), (("mg/L", 1),), 100),
    ("water", ("NH3-N", "氨氮"), (("mg/L", 1), ("µg/L", 1000)), 15),
    ("water", ("总磷", "TP"), (("mg/L", 1),), 1),
    ("water", ("总氮", "TN"), (("mg/L", 1),), 20),
    ("water", ("Cd", "镉", "总镉"), (("mg/L", 1), ("µg/L", 1000)), 1),
    ("water", ("Hg", "汞"), (("mg/L", 1), ("µg/L", 1000)), 1),
    ("water", ("Cr(VI)", "六价铬"), (("mg/L", 1),), 1),
    ("noise", ("LAeq", "等效声级"), (("dB(A)", 1),), 65),
    ("soil", ("As", "砷"), (("mg/kg", 1),), 60),
)
_CONDITIONS = ("1 h average", "daily average", "")


def generate_raw(
    regions: Sequence[str] | None = None, rows: int = 30_000, seed: int = 0
) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """About `rows` raw limit rows (as an import reads them), spread over the regions."""
    regions = list(regions or load_reference().area("yangtze").parties)
    rng = random.Random(seed)
    per_region = max(1, rows // len(regions))
    categories_needed = max(1, per_region // (len(_PROFILES) * len(_CONDITIONS)) + 1)
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for region in regions:
        made: list[tuple[int, dict[str, Any]]] = []
        for c in range(categories_needed):
            for medium, names, units, typical in _PROFILES:
                for condition in _CONDITIONS:
                    if len(made) >= per_region:
                        break
                    unit, factor = rng.choice(units)
                    value = Decimal(rng.randint(typical * 50, typical * 150)) / 100 * factor
                    made.append((len(made) + 2, {
                        "standard_number": f"DB{region}/{1000 + c % 50}—2024",
                        "medium": medium,
                        "source_category": f"category {c}",
                        "parameter": rng.choice(names),
                        "unit": unit,
                        "condition": condition,
                        "value": str(value),
                        "national_baseline": str(Decimal(typical) * factor) if rng.random() < 0.7 else "",
                    }))  # fmt: skip
        out[region] = made
    return out


def generate_rows(regions: Sequence[str] | None = None, rows: int = 30_000, seed: int = 0) -> list[LimitRow]:
    """Validated, aligned rows: the input of `run`."""
    table = ParameterTable()
    return [
        row
        for region, raw in generate_raw(regions, rows, seed).items()
        for row in parse_rows(raw, region=region, table=table)
    ]


def run(rows: Sequence[LimitRow], regions: Sequence[str] | None = None) -> Report:
    """The benchmarked computation: one assessment over every medium of the given regions."""
    regions = list(regions or sorted({r.region for r in rows}))
    return assess(rows, regions=regions, media=MEDIA)


def measure(count: int = 30_000) -> dict[str, float]:
    """Seconds each step takes for about `count` rows over the 11 yangtze members: importing
    (validation and alignment), assessing, rendering the report, and what an assessment costs in the
    service (the stored rows aligned again, then assessed and reported). `make bench` calls this."""
    raw = generate_raw(rows=count)
    started = time.perf_counter()
    table = ParameterTable()
    rows = [row for region, r in raw.items() for row in parse_rows(r, region=region, table=table)]
    imported = time.perf_counter()
    report = run(rows)
    assessed = time.perf_counter()
    report_body(report)
    rendered = time.perf_counter()
    stored = {region: [r.to_dict() for r in rows if r.region == region] for region in raw}
    before = time.perf_counter()
    aligned = [row for region, d in stored.items() for row in rows_from_dicts(d, region, ParameterTable())]
    realigned = time.perf_counter()
    if len(aligned) != len(rows):
        raise RuntimeError(f"{len(aligned)} stored rows aligned again, {len(rows)} imported")
    return {
        "rows": float(len(rows)),
        "regions": float(len(raw)),
        "aligned_parameters": float(len(report.comparisons)),
        "import_s": imported - started,
        "assess_s": assessed - imported,
        "report_s": rendered - assessed,
        "service_assessment_s": realigned - before + rendered - imported,
    }


def main() -> None:
    """Print how long importing (validation and alignment) and assessing take."""
    figures = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 30_000)
    print(
        f"{figures['rows']:.0f} rows, {figures['regions']:.0f} regions, "
        f"{figures['aligned_parameters']:.0f} aligned parameters"
    )
    print(
        f"import {figures['import_s']:.3f}s  assess {figures['assess_s']:.3f}s  "
        f"report {figures['report_s']:.3f}s"
    )
    # What the service does before each assessment: align the stored rows again.
    print(f"service assessment (align stored rows + assess + report) {figures['service_assessment_s']:.3f}s")


if __name__ == "__main__":
    main()
