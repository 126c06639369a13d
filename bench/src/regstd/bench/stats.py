"""The pure parts of the benchmark: percentiles, rates, targets and the shape of the result file.

Nothing here does I/O, so it is unit-tested (bench/tests) while the measurements themselves only run
in `make bench`.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

RESULT_SCHEMA = "regstd-bench/1"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation between closest ranks (numpy's default).

    An empty sample has no percentile: NaN, which the table prints as "—" and JSON as null.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """A latency sample summarised, in milliseconds."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of_seconds(cls, seconds: Sequence[float]) -> "Summary":
        """Summarise durations given in seconds."""
        ms = [s * 1000 for s in seconds]
        return cls(
            count=len(ms),
            p50_ms=percentile(ms, 50),
            p95_ms=percentile(ms, 95),
            p99_ms=percentile(ms, 99),
            max_ms=max(ms) if ms else math.nan,
        )

    def to_json(self) -> dict[str, Any]:
        """The summary with NaN as null, so the result file is strict JSON."""
        return {k: _finite(v) for k, v in asdict(self).items()}


def rate(count: int, seconds: float) -> float:
    """Items per second; NaN when no time passed."""
    return count / seconds if seconds > 0 else math.nan


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; NaN when either is missing or the denominator is zero."""
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


Comparison = Literal["<=", ">=", "<"]


@dataclass(frozen=True)
class Target:
    """One target of the issue and the figure this run measured for it."""

    name: str
    figure: float
    unit: str
    comparison: Comparison
    limit: float
    note: str = ""

    @property
    def met(self) -> bool | None:
        """True or False; None when the figure could not be measured (it is never counted as met)."""
        if math.isnan(self.figure):
            return None
        if self.comparison == "<=":
            return self.figure <= self.limit
        if self.comparison == ">=":
            return self.figure >= self.limit
        return self.figure < self.limit

    @property
    def verdict(self) -> str:
        """pass, miss, or 'not measured'."""
        return {True: "pass", False: "miss", None: "not measured"}[self.met]

    def to_json(self) -> dict[str, Any]:
        """The target as it goes into the result file."""
        return {
            "name": self.name,
            "figure": _finite(self.figure),
            "unit": self.unit,
            "comparison": self.comparison,
            "limit": self.limit,
            "met": self.met,
            "verdict": self.verdict,
            "note": self.note,
        }


def result_document(
    *,
    started_at: str,
    finished_at: str,
    mode: str,
    machine: Mapping[str, Any],
    settings: Mapping[str, Any],
    measurements: Mapping[str, Any],
    targets: Sequence[Target],
) -> dict[str, Any]:
    """The result file's content: strict JSON (no NaN), one entry per target with its verdict."""
    return {
        "schema": RESULT_SCHEMA,
        "started_at": started_at,
        "finished_at": finished_at,
        "mode": mode,
        "machine": dict(machine),
        "settings": dict(settings),
        "measurements": _strict(measurements),
        "targets": [t.to_json() for t in targets],
        "summary": {
            "met": sum(1 for t in targets if t.met is True),
            "missed": sum(1 for t in targets if t.met is False),
            "not_measured": sum(1 for t in targets if t.met is None),
        },
    }


def _finite(value: float) -> float | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _strict(value: Any) -> Any:
    """Replace NaN and infinities anywhere in a nested structure by None."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def format_figure(value: float, unit: str) -> str:
    """A figure for the table: '—' when not measured, otherwise rounded to what the unit needs."""
    if math.isnan(value):
        return "—"
    if unit in ("ms", "s", "min") and value < 10:
        return f"{value:.2f} {unit}"
    if unit == "×":
        return f"{value:.2f}×"
    return f"{value:,.0f} {unit}"
