"""The bench's pure parts: percentiles, targets and the result file's shape (no timing asserted)."""

import json
import math

import pytest

from regstd.bench.stats import (
    RESULT_SCHEMA,
    Summary,
    Target,
    format_figure,
    percentile,
    ratio,
    result_document,
)


def test_percentiles_interpolate_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10
    assert percentile(values, 100) == 40
    assert percentile(values, 50) == 25
    assert percentile(values, 99) == pytest.approx(39.7)
    assert percentile([7.0], 99) == 7


def test_percentiles_do_not_depend_on_order() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2


def test_an_empty_sample_has_no_percentile_and_a_bad_q_is_refused() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_a_summary_is_in_milliseconds_and_empty_ones_are_null_in_json() -> None:
    summary = Summary.of_seconds([0.010, 0.020, 0.030])
    assert (summary.count, summary.p50_ms, summary.max_ms) == (3, pytest.approx(20), pytest.approx(30))
    empty = Summary.of_seconds([]).to_json()
    assert empty == {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}


def test_targets_pass_miss_or_are_not_measured() -> None:
    assert Target("p99", 200, "ms", "<=", 250).verdict == "pass"
    assert Target("p99", 251, "ms", "<=", 250).verdict == "miss"
    assert Target("bulk", 999, "standards/s", ">=", 1000).verdict == "miss"
    assert Target("rss", 150, "MB", "<", 150).verdict == "miss"
    assert Target("rss", 149.9, "MB", "<", 150).met is True
    unmeasured = Target("fan-out", math.nan, "s", "<=", 1)
    assert unmeasured.met is None
    assert unmeasured.verdict == "not measured"


def test_ratios_of_missing_figures_are_missing() -> None:
    assert ratio(50, 100) == 0.5
    assert math.isnan(ratio(math.nan, 100))
    assert math.isnan(ratio(50, 0))


def test_the_result_document_is_strict_json_with_a_verdict_per_target() -> None:
    targets = [
        Target("decision-to-city p99 at 20/s", 120.0, "ms", "<=", 250),
        Target("bulk end to end", 400.0, "standards/s", ">=", 1000, "incomplete"),
        Target("fan-out", math.nan, "s", "<=", 1),
    ]
    document = result_document(
        started_at="2026-11-22T10:00:00+00:00",
        finished_at="2026-11-22T10:05:00+00:00",
        mode="quick",
        machine={"cpus": 2},
        settings={"rate_per_s": 20},
        measurements={"latency": {"p50_ms": math.nan, "samples": [1.0, math.inf]}},
        targets=targets,
    )
    text = json.dumps(document, allow_nan=False)  # would raise on NaN or infinity
    back = json.loads(text)
    assert back["schema"] == RESULT_SCHEMA
    assert back["measurements"]["latency"] == {"p50_ms": None, "samples": [1.0, None]}
    assert [t["verdict"] for t in back["targets"]] == ["pass", "miss", "not measured"]
    assert back["targets"][2]["figure"] is None
    assert back["targets"][1]["note"] == "incomplete"
    assert back["summary"] == {"met": 1, "missed": 1, "not_measured": 1}
    assert set(back) == {
        "schema", "started_at", "finished_at", "mode", "machine", "settings", "measurements", "targets",
        "summary",
    }  # fmt: skip


def test_figures_are_formatted_for_the_table() -> None:
    assert format_figure(math.nan, "ms") == "—"
    assert format_figure(3.14159, "s") == "3.14 s"
    assert format_figure(1234.5, "standards/s") == "1,234 standards/s"
    assert format_figure(0.5, "×") == "0.50×"
