"""The CPU accounting: which process is which part, differences between snapshots, per-unit costs."""

import os
import time

import pytest

from regstd.bench import cpu


def test_part_of_names_each_part_of_the_stack() -> None:
    services = {101: "publication"}
    assert cpu.part_of(101, "python3", ["regstd-publication"], services, bench=7) == "publication"
    assert cpu.part_of(7, "python3", [], services, bench=7) == cpu.BENCH
    assert cpu.part_of(5, "ferretdb", [], services, bench=7) == cpu.FERRETDB
    assert cpu.part_of(6, "postgres", [], services, bench=7) == cpu.POSTGRES
    assert cpu.part_of(8, "java", ["java", "-cp", "x", "kafka.Kafka", "p"], services, bench=7) == cpu.KAFKA
    # Another Java program (the storage tool) and unrelated processes are no part of the stack.
    assert cpu.part_of(9, "java", ["java", "kafka.tools.StorageTool"], services, bench=7) is None
    assert cpu.part_of(10, "bash", ["bash"], services, bench=7) is None


def test_between_counts_each_part_and_leaves_the_rest_to_the_machine() -> None:
    before = cpu.Snapshot(
        at=10.0, by_process={1: ("publication", 2.0), 2: (cpu.POSTGRES, 1.0)}, busy_s=50.0, stolen_s=3.0
    )
    after = cpu.Snapshot(
        at=12.0,
        # pid 3 started in between: all of its time counts; pid 2 ended: its time is lost to its part.
        by_process={1: ("publication", 2.5), 3: (cpu.POSTGRES, 0.25)},
        busy_s=51.5,
        stolen_s=3.25,
    )
    use = cpu.between(before, after)
    assert use.wall_s == 2.0
    assert use.by_part["publication"] == pytest.approx(0.5)
    assert use.by_part[cpu.POSTGRES] == pytest.approx(0.25)
    assert use.by_part[cpu.REST] == pytest.approx(0.75)
    assert use.total_s == pytest.approx(1.5)
    assert use.stolen_s == pytest.approx(0.25)


def test_per_unit_gives_the_cost_and_the_ceiling_it_sets() -> None:
    use = cpu.CpuUse(
        wall_s=10.0, by_part={"publication": 3.0, cpu.FERRETDB: 5.0, cpu.REST: 2.0}, cores=2, stolen_s=1.0
    )
    per = use.per_unit(1000)
    assert per["ms"] == pytest.approx(10.0)
    assert list(per["by_part_ms"]) == [cpu.FERRETDB, "publication", cpu.REST]
    assert per["ceiling_per_s"] == pytest.approx(200.0)  # 2 cores / 10 ms
    assert per["busy_share"] == pytest.approx(0.5)
    assert per["stolen_share"] == pytest.approx(0.05)
    line = cpu.describe(per, "standard")
    assert line.startswith("10.0 ms per standard (FerretDB 5.0, publication 3.0")
    assert "machine 50% busy, 5% taken by the host" in line
    assert "at most 200 standards/s" in line
    assert use.per_unit(0)["ms"] is None
    assert cpu.describe(use.per_unit(0), "standard") == "not measured"


def test_a_snapshot_sees_this_process_and_the_machine_busy() -> None:
    first = cpu.snapshot({})
    started = time.process_time()
    while time.process_time() - started < 0.05:  # some CPU for this process, more than a clock tick
        sum(i * i for i in range(10_000))
    second = cpu.snapshot({})
    assert first.by_process[os.getpid()][0] == cpu.BENCH
    use = cpu.between(first, second)
    assert use.by_part[cpu.BENCH] > 0
    assert second.busy_s >= first.busy_s
