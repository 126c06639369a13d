"""Reading a start's steps from a service's log: each step in seconds since the spawn, the runtime's
marks counted from the lifespan's start; what the log does not show is left out."""

import json
from datetime import UTC, datetime, timedelta

from regstd.bench.startup import Start, steps_from_log, summary

SPAWNED = datetime(2026, 12, 3, 8, 0, 0, tzinfo=UTC)


def line(after_s: float, message: str, **extra: object) -> str:
    at = (SPAWNED + timedelta(seconds=after_s)).isoformat(timespec="milliseconds")
    return json.dumps({"time": at, "level": "info", "message": message, **extra})


def test_each_step_is_read_in_seconds_since_the_spawn() -> None:
    lines = [
        "--- bench start, tracing=on",
        line(0.8, "starting", service="publication"),
        line(0.9, "Started server process [4242]"),
        line(0.95, "Waiting for application startup."),
        line(1.3, "runtime started", store_s=0.2, topics_s=0.05, producer_s=0.04, consumers_s=0.3),
        line(1.31, "Application startup complete."),
        line(1.32, "Uvicorn running on http://127.0.0.1:8102 (Press CTRL+C to quit)"),
    ]
    assert steps_from_log(lines, SPAWNED.timestamp()) == {
        "imports": 0.8,
        "wired": 0.9,
        "store": 1.15,
        "topics": 1.0,
        "producer": 0.99,
        "consumers": 1.25,
        "listening": 1.32,
    }


def test_a_start_that_stopped_early_shows_only_its_steps() -> None:
    lines = [line(0.7, "starting"), "Traceback (most recent call last):", line(0.9, "store unreachable")]
    assert steps_from_log(lines, SPAWNED.timestamp()) == {"imports": 0.7}


def test_the_runtimes_marks_need_the_lifespans_start() -> None:
    # Without "Waiting for application startup." the marks have nothing to count from.
    lines = [line(1.0, "runtime started", store_s=0.2, consumers_s=0.3)]
    assert steps_from_log(lines, SPAWNED.timestamp()) == {}


def test_the_summary_has_a_row_per_start_and_a_median_per_service_and_mode() -> None:
    starts = [
        Start("publication", "alone", {"imports": 1.0, "ready": 2.0}),
        Start("publication", "alone", {"imports": 3.0, "ready": 4.0}),
        Start("publication", "together", {"imports": 2.0, "ready": 3.0}),
    ]
    table = summary(starts)
    rows = list(zip(*(column.cells for column in table.columns), strict=True))
    assert [row[1] for row in rows] == ["alone", "alone", "alone median", "together", "together median"]
    median = rows[2]
    assert median[2] == "2.00"  # imports
    assert median[-2] == "3.00"  # ready
    assert median[3] == ""  # wired: not in the log
