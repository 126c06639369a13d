"""How much a bench run does, from its environment."""

from regstd.bench.main import Plan


def test_the_full_run_is_the_issues_sizes() -> None:
    plan = Plan.from_env({})
    assert plan.mode == "full"
    assert (plan.rate_per_s, plan.latency_s, plan.decisions) == (20, 60, 1200)
    assert plan.bulk == 20_000
    assert plan.fanout_cities == 50
    assert (plan.overlap_records, plan.overlap_proposals) == (80_000, 300)
    assert not plan.profile


def test_quick_is_small_and_sizes_can_be_overridden() -> None:
    quick = Plan.from_env({"REGSTD_BENCH_QUICK": "1", "REGSTD_BENCH_PROFILE": "1"})
    assert (quick.mode, quick.bulk, quick.decisions, quick.profile) == ("quick", 2_000, 100, True)
    assert quick.overlap_records == 10_000
    custom = Plan.from_env(
        {"REGSTD_BENCH_QUICK": "0", "REGSTD_BENCH_SECONDS": "20", "REGSTD_BENCH_BULK": "500"}
    )
    assert (custom.mode, custom.decisions, custom.bulk) == ("full", 400, 500)
