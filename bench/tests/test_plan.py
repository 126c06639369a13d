"""How much a bench run does, from its environment."""

from regstd.bench.main import Plan, binding_bulk_target


def test_the_full_run_is_the_issues_sizes() -> None:
    plan = Plan.from_env({})
    assert plan.mode == "full"
    assert (plan.rate_per_s, plan.latency_s, plan.decisions) == (20, 60, 1200)
    assert plan.bulk == 20_000
    assert plan.fanout_cities == 50
    assert plan.bulk_window_s == 120  # the full run finishes: the bulk rate over at most 2 minutes
    assert (plan.overlap_records, plan.overlap_proposals) == (80_000, 300)
    assert not plan.profile


def test_quick_is_small_and_sizes_can_be_overridden() -> None:
    quick = Plan.from_env({"REGSTD_BENCH_QUICK": "1", "REGSTD_BENCH_PROFILE": "1"})
    assert (quick.mode, quick.bulk, quick.decisions, quick.profile) == ("quick", 2_000, 100, True)
    assert quick.overlap_records == 10_000
    custom = Plan.from_env(
        {
            "REGSTD_BENCH_QUICK": "0",
            "REGSTD_BENCH_SECONDS": "20",
            "REGSTD_BENCH_BULK": "500",
            "REGSTD_BENCH_BULK_WINDOW_SECONDS": "600",
        }
    )
    assert (custom.mode, custom.decisions, custom.bulk, custom.bulk_window_s) == ("full", 400, 500, 600)


def test_the_bulk_target_that_binds_is_the_harder_of_the_two() -> None:
    # 0.8 × 2,000 = 1,600 asks more than the floor of 1,000; 0.8 × 500 = 400 asks less.
    assert binding_bulk_target(2000.0).startswith("0.8× batched baseline = 1,600")
    assert binding_bulk_target(500.0).startswith("1,000 standards/s (above 0.8× batched baseline = 400)")
    assert "not measured" in binding_bulk_target(None)
