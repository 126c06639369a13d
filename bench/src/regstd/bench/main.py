"""`make bench`: the pipeline on the local real stack, measured against the issue's targets.

Starts its own Kafka and FerretDB on free ports in a temporary directory and the three services as
processes, then measures in one run: decision-to-city latency at a fixed offered rate (open loop),
with tracing on and off; fan-out to many city groups; bulk throughput of a catalogue; the plain
baseline and raw Kafka on the same broker and store; memory and start-up of every service; the
difference analysis (`analysis.py`, the harmonization service's pure functions); the overlap check
with 80,000 standards and projects on record (`overlaps.py`); the CPU each decision, standard and
baseline record cost, by part of the stack (`cpu.py`). Prints a table, writes
var/bench/result-<timestamp>.json and var/bench/latest.json.

Environment: REGSTD_BENCH_QUICK=1 (a small run for development), REGSTD_BENCH_PROFILE=1 (py-spy
profiles of the services during the latency and bulk phases, into var/bench/profiles/),
REGSTD_BENCH_OUT (default var/bench).
"""

import asyncio
import json
import math
import os
import platform
import signal
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from regstd.bench import analysis, cpu, overlaps, phases, seeding
from regstd.bench.breakdown import breakdown
from regstd.bench.cities import City
from regstd.bench.profile import record, summarize_collapsed
from regstd.bench.stats import Target, format_figure, ratio, result_document
from regstd.bench.system import System, lag
from regstd.cli.client import TokenBookFile
from regstd.contracts.topics import INTAKE_PROJECTS, PUBLICATION_STANDARDS
from regstd.runtime.spanfiles import read_spans

console = Console(stderr=True)
REPO = Path(__file__).resolve().parents[4]


WARM_UP_S = 3.0
"""Seconds of decisions, at the run's rate, that warm up the restarted services before tracing off."""


@dataclass(frozen=True)
class Plan:
    """How much of each measurement a run does."""

    mode: str
    rate_per_s: float
    latency_s: float
    tracing_off_s: float
    bulk: int
    baseline: int
    fanout_cities: int
    fanout_publications: int
    limit_rows: int
    overlap_records: int
    overlap_proposals: int
    profile: bool
    bulk_window_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Plan":
        """Quick (development) or full, from REGSTD_BENCH_QUICK; sizes overridable one by one."""
        quick = env.get("REGSTD_BENCH_QUICK", "") not in ("", "0", "false")
        return cls(
            mode="quick" if quick else "full",
            rate_per_s=float(env.get("REGSTD_BENCH_RATE", 20)),
            latency_s=float(env.get("REGSTD_BENCH_SECONDS", 5 if quick else 60)),
            # Preparing the projects is the long part of a run: the comparison run is shorter.
            tracing_off_s=float(env.get("REGSTD_BENCH_TRACING_OFF_SECONDS", 5 if quick else 20)),
            bulk=int(env.get("REGSTD_BENCH_BULK", 2_000 if quick else 20_000)),
            # Enough records for a steady rate: the one-at-a-time loop takes about 85 a second.
            baseline=int(env.get("REGSTD_BENCH_BASELINE", 1_000 if quick else 3_000)),
            fanout_cities=int(env.get("REGSTD_BENCH_CITIES", 50)),
            fanout_publications=3 if quick else 10,
            limit_rows=5_000 if quick else 50_000,
            overlap_records=int(env.get("REGSTD_BENCH_OVERLAP_RECORDS", 10_000 if quick else 80_000)),
            overlap_proposals=int(env.get("REGSTD_BENCH_OVERLAP_PROPOSALS", 100 if quick else 300)),
            profile=env.get("REGSTD_BENCH_PROFILE", "") not in ("", "0", "false"),
            # The longest the bulk phase waits for the city: the full run's 20,000 standards at
            # today's rates would take most of an hour; 2 minutes of sustained load give the rate.
            bulk_window_s=float(env.get("REGSTD_BENCH_BULK_WINDOW_SECONDS", 120)),
        )

    @property
    def decisions(self) -> int:
        """Final approvals the latency run (tracing on) sends."""
        return round(self.rate_per_s * self.latency_s)

    @property
    def decisions_off(self) -> int:
        """Final approvals the comparison run (tracing off) sends."""
        return round(self.rate_per_s * self.tracing_off_s)

    @property
    def warm_up_decisions(self) -> int:
        """Final approvals sent, not measured, to the services just restarted with tracing off, so
        that the comparison is not of their first seconds (the run with tracing on follows the
        preparation's traffic)."""
        return round(self.rate_per_s * WARM_UP_S)


def say(message: str) -> None:
    """Progress on stderr, with the time."""
    console.log(message)


class RssSampler:
    """The highest resident memory of each service while a phase runs."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.peak: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            for name, mb in self.system.rss_mb().items():
                self.peak[name] = max(self.peak.get(name, 0.0), mb)
            await asyncio.sleep(0.5)

    def __enter__(self) -> "RssSampler":
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def quiet(system: System, within_s: float = 300) -> None:
    """Wait until the services' consumers have caught up (nothing left from an earlier phase)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        behind = await lag(system.kafka_bootstrap, "publication", INTAKE_PROJECTS.name, 6)
        behind += await lag(system.kafka_bootstrap, "project-intake", PUBLICATION_STANDARDS.name, 6)
        if behind == 0:
            return
        await asyncio.sleep(0.5)
    say("the services did not catch up before the next phase; its figures include the backlog")


@contextmanager
def timed(m: dict[str, Any], phase: str) -> Iterator[None]:
    """Record a phase's wall time in `m["phase_s"]` and say it when the phase ends."""
    began = time.monotonic()
    try:
        yield
    finally:
        took = time.monotonic() - began
        m.setdefault("phase_s", {})[phase] = took
        say(f"{phase}: {took:.1f} s")


def profiled(
    system: System, out: Path, phase: str, seconds: float, enabled: bool
) -> Callable[[float], Coroutine[Any, Any, None]] | None:
    """A coroutine factory that profiles intake and publication for a phase, when enabled."""
    if not enabled:
        return None

    out.mkdir(parents=True, exist_ok=True)

    async def run(_: float) -> None:
        jobs = []
        for name in ("project-intake", "publication"):
            pid = system.pid(name)
            if pid is not None:
                jobs.append(record(pid, seconds, out / f"{phase}-{name}.txt"))
        for problem in await asyncio.gather(*jobs):
            if problem:
                say(f"profile: {problem}")

    return run


def summarize_profiles(out: Path) -> dict[str, Any]:
    """What each profile shows: top functions by self samples and regstd functions by inclusive."""
    summaries: dict[str, Any] = {}
    for path in sorted(out.glob("*.txt")):
        text = path.read_text(errors="replace")
        summaries[path.stem] = {
            "file": str(path),
            "all": summarize_collapsed(text, top=12).to_json(),
            "regstd": summarize_collapsed(text, top=12, inclusive_filter="regstd").to_json()["inclusive"],
        }
    return summaries


def difference_analysis(plan: Plan) -> dict[str, Any]:
    """The harmonization service's difference analysis over the 11 yangtze members and `limit_rows`
    limit rows, with the same pure functions the service runs (`regstd.bench.analysis.measure`)."""
    figures = analysis.measure(plan.limit_rows)
    return {"available": True, "regions": 11, "limit_rows": plan.limit_rows, "figures": figures}


async def measure(system: System, plan: Plan, out: Path) -> dict[str, Any]:
    """Every measurement, in one run on one stack."""
    m: dict[str, Any] = {}
    say("starting Kafka and FerretDB (deploy/local/stack.py up, warm cache)")
    with timed(m, "stack up"):
        infra_s = system.start_infra()
        began = time.monotonic()
        await system.ready_for_groups()
        infra_s += time.monotonic() - began
    say(f"stack up in {infra_s:.1f} s; starting the services (tracing on)")
    with timed(m, "services start"):
        first = await system.start_services(tracing=True)
    m["startup"] = {"stack_up_s": infra_s, "stack_and_services_s": infra_s + max(first.values())}
    await asyncio.sleep(3)
    m["rss_idle_mb"] = system.rss_mb()
    say(f"services ready: {first}; idle RSS {m['rss_idle_mb']}")

    book = TokenBookFile.load(system.book)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        intake = phases.Intake(http, system.services["project-intake"].url, book)
        needed = plan.decisions + plan.decisions_off + plan.fanout_publications + plan.warm_up_decisions
        say(
            f"preparing {needed} projects up to the last final-approval vote "
            "(not measured; one over HTTP, the rest copies of it)"
        )
        began = time.monotonic()
        with timed(m, "preparation"):
            prepared = await seeding.seed_prepared_projects(
                intake, system.mongo_url, system.kafka_bootstrap, needed, say
            )
        m["preparation_s"] = time.monotonic() - began
        on_projects = prepared[: plan.decisions]
        off_projects = prepared[plan.decisions : plan.decisions + plan.decisions_off]
        fanout_projects = prepared[plan.decisions + plan.decisions_off :][: plan.fanout_publications]
        warm_up_projects = prepared[len(prepared) - plan.warm_up_decisions :]
        await quiet(system)

        city = City(system.kafka_bootstrap, f"bench-city-{os.getpid()}-{int(time.time())}")
        await city.start()
        load_peak: dict[str, float] = {}

        say(f"latency, tracing on: {plan.decisions} decisions at {plan.rate_per_s:g}/s (open loop)")
        profile = profiled(system, out / "profiles", "latency", plan.latency_s, plan.profile)
        with RssSampler(system) as sampler, timed(m, "latency, tracing on"):
            profiling = asyncio.create_task(profile(0)) if profile else None
            before = cpu.snapshot(system.pids())
            m["latency_tracing_on"] = await phases.latency(intake, city, on_projects, plan.rate_per_s)
            m["cpu_per_decision"] = cpu.between(before, cpu.snapshot(system.pids())).per_unit(
                m["latency_tracing_on"]["arrived"]
            )
            if profiling:
                await profiling
        load_peak = _peak(load_peak, sampler.peak)

        say("restarting the services with tracing off (OTEL_SDK_DISABLED=true)")
        await city.stop()
        system.stop_services()  # a stopped service has written every span it ended
        with timed(m, "latency breakdown from the spans"):
            arrived = {p: city.arrivals[p].wall for p in on_projects if p in city.arrivals}
            m["latency_breakdown"] = breakdown(read_spans(system.data_dir / "spans"), arrived)
        await system.start_services(tracing=False)
        await quiet(system)
        city = City(system.kafka_bootstrap, f"bench-city-off-{os.getpid()}-{int(time.time())}")
        await city.start()
        say(f"warming up the restarted services: {plan.warm_up_decisions} decisions, not measured")
        await phases.latency(intake, city, warm_up_projects, plan.rate_per_s)
        await quiet(system)
        say("latency, tracing off")
        with timed(m, "latency, tracing off"):
            m["latency_tracing_off"] = await phases.latency(intake, city, off_projects, plan.rate_per_s)
        await city.stop()
        system.stop_services()
        await system.start_services(tracing=True)
        await quiet(system)

        say(f"fan-out to {plan.fanout_cities} city groups, {len(fanout_projects)} publications")
        with timed(m, "fan-out"):
            m["fanout"] = await phases.fanout(
                intake, system.kafka_bootstrap, fanout_projects, plan.fanout_cities, say
            )

    # Before the bulk phase: an incomplete bulk leaves the services working through its backlog,
    # and the check would be timed on a saturated store. Its records are intake's only, so they do
    # not weigh on publication's bulk work.
    say(f"overlap check with {plan.overlap_records:,} standards and projects on record")
    async with httpx.AsyncClient(timeout=30) as http:
        intake = phases.Intake(http, system.services["project-intake"].url, book)
        with timed(m, "overlap check"):
            m["overlap"] = await overlaps.overlap_check(
                intake, system.mongo_url, plan.overlap_records, plan.overlap_proposals, say
            )

    say(f"bulk: building {plan.bulk} projects' events (not measured)")
    records = phases.catalogue(plan.bulk)
    city = City(system.kafka_bootstrap, f"bench-city-bulk-{os.getpid()}-{int(time.time())}")
    await city.start()
    say("bulk: producing and waiting for the city")
    profile = profiled(system, out / "profiles", "bulk", 20, plan.profile)
    with RssSampler(system) as sampler, timed(m, "bulk"):
        before = cpu.snapshot(system.pids())
        m["bulk"] = await phases.bulk(
            system.kafka_bootstrap, city, records, say, during=profile, longest_s=plan.bulk_window_s
        )
        m["cpu_per_standard"] = cpu.between(before, cpu.snapshot(system.pids())).per_unit(
            m["bulk"]["arrived"]
        )
    await city.stop()
    load_peak = _peak(load_peak, sampler.peak)
    m["rss_load_mb"] = load_peak

    m["startup"]["services_s"] = {name: s.startups_s for name, s in system.services.items()}

    # The baseline runs alone on the broker and the store: the services (and any backlog an
    # incomplete bulk left them) are stopped first.
    system.stop_services()
    say(f"raw Kafka and the baseline loop over {plan.baseline} records (services stopped)")
    with timed(m, "raw Kafka and baseline"):
        m["raw_kafka"], _ = await phases.raw_kafka(system.kafka_bootstrap, plan.baseline)
        m["baseline"] = await phases.baseline(system.kafka_bootstrap, system.mongo_url, plan.baseline)
        before = cpu.snapshot(system.pids())
        m["batched_baseline"] = await phases.batched_baseline(
            system.kafka_bootstrap, system.mongo_url, plan.baseline
        )
        m["cpu_per_batched_record"] = cpu.between(before, cpu.snapshot(system.pids())).per_unit(
            m["batched_baseline"]["records"]
        )

    with timed(m, "difference analysis"):
        m["difference_analysis"] = difference_analysis(plan)
    if plan.profile:
        m["profiles"] = summarize_profiles(out / "profiles")
    return m


def _peak(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: max(a.get(k, 0.0), b.get(k, 0.0)) for k in a.keys() | b.keys()}


def targets(m: dict[str, Any]) -> list[Target]:
    """The issue's targets against this run's figures."""
    on = m["latency_tracing_on"]["decision_to_city"]
    bulk = m["bulk"]
    bulk_rate = _num(bulk["standards_per_s"])
    partial = (
        "" if bulk["complete"] else f"incomplete: {bulk['arrived']} of {bulk['standards']} in the window"
    )
    found: list[Target] = [
        Target("decision-to-city p99 at 20/s", _num(on["p99_ms"]), "ms", "<=", 250),
        Target("decision-to-city p50 at 20/s", _num(on["p50_ms"]), "ms", "<=", 50),
        Target("bulk end to end", bulk_rate, "standards/s", ">=", BULK_FLOOR, partial),
        Target(
            "bulk ÷ batched baseline",
            ratio(bulk_rate, m["batched_baseline"]["per_s"]),
            "×",
            ">=",
            BULK_SHARE_OF_BATCHED,
            partial,
        ),
        Target(
            "50-city fan-out of one publication (max)",
            _num(m["fanout"]["published_to_all_cities"]["max_ms"]) / 1000,
            "s",
            "<=",
            1.0,
        ),
    ]
    assessed = m["difference_analysis"]["figures"]
    found.append(
        Target(
            f"difference analysis, 11 regions, {assessed['rows']:,.0f} rows (service assessment)",
            assessed["service_assessment_s"],
            "s",
            "<",
            1.0,
        )
    )
    found += overlaps.targets(m["overlap"])
    for name, mb in sorted(m["rss_idle_mb"].items()):
        found.append(Target(f"{name} RSS idle", mb, "MB", "<", 150))
    for name, starts in sorted(m["startup"]["services_s"].items()):
        found.append(Target(f"{name} ready (slowest of {len(starts)} starts)", max(starts), "s", "<=", 3.0))
    return found


BULK_FLOOR = 1000.0
"""Standards per second end to end the bulk must reach whatever the baseline."""
BULK_SHARE_OF_BATCHED = 0.8
"""The share of the batched baseline's rate the bulk must reach."""


def binding_bulk_target(batched_per_s: float | None) -> str:
    """Which of the two bulk targets asks more of this run: the floor, or the share of the batched
    baseline (the store's batch rate on this machine)."""
    if batched_per_s is None or math.isnan(float(batched_per_s)):
        return f"{BULK_FLOOR:,.0f} standards/s (the batched baseline was not measured)"
    share = BULK_SHARE_OF_BATCHED * float(batched_per_s)
    if share > BULK_FLOOR:
        return f"{BULK_SHARE_OF_BATCHED:g}× batched baseline = {share:,.0f} standards/s"
    return f"{BULK_FLOOR:,.0f} standards/s (above {BULK_SHARE_OF_BATCHED:g}× batched baseline = {share:,.0f})"


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def table(m: dict[str, Any], found: list[Target], plan: Plan, busy: str) -> Table:
    """The figures and the targets, one table."""
    t = Table(title=f"regstd bench ({plan.mode}) — {busy}", show_lines=False)
    for column in ("measurement", "figure", "target", "verdict"):
        t.add_column(column)
    verdicts = {"pass": "[green]pass[/]", "miss": "[red]miss[/]", "not measured": "[yellow]not measured[/]"}
    for target in found:
        t.add_row(
            target.name,
            format_figure(target.figure, target.unit),
            f"{target.comparison} {target.limit:g} {target.unit}",
            verdicts[target.verdict] + (f" ({target.note})" if target.note else ""),
        )
    t.add_section()

    def row(name: str, figure: str) -> None:
        t.add_row(name, figure, "", "")

    for label, key in (("tracing on", "latency_tracing_on"), ("tracing off", "latency_tracing_off")):
        lat = m[key]
        d, h = lat["decision_to_city"], lat["http_response"]
        row(
            f"decision→city, {label} (p50/p95/p99/max)",
            f"{_ms(d['p50_ms'])} / {_ms(d['p95_ms'])} / {_ms(d['p99_ms'])} / {_ms(d['max_ms'])}",
        )
        row(f"  final-vote HTTP response, {label} (p50/p99)", f"{_ms(h['p50_ms'])} / {_ms(h['p99_ms'])}")
        row(f"  decisions accepted / arrived, {label}", f"{lat['accepted']} / {lat['arrived']}")
    split = m["latency_breakdown"]
    row(
        f"where a decision's time goes, tracing on ({split['decisions']} traces; p50 / p95)",
        "sum of p50s: " + _ms(sum(s["p50_ms"] or 0 for s in split["stages"].values())),
    )
    for stage, summary in split["stages"].items():
        row(f"  {stage.replace('_', ' ')}", f"{_ms(summary['p50_ms'])} / {_ms(summary['p95_ms'])}")
    f = m["fanout"]
    row(
        f"fan-out to {f['cities']} cities: published→all (p50/max)",
        f"{_ms(f['published_to_all_cities']['p50_ms'])} / {_ms(f['published_to_all_cities']['max_ms'])}",
    )
    row(
        "  decision→all cities (p50/max)",
        f"{_ms(f['decision_to_all_cities']['p50_ms'])} / {_ms(f['decision_to_all_cities']['max_ms'])}",
    )
    b = m["bulk"]
    row("bulk: standards through numbering and publication", f"{b['arrived']:,} of {b['standards']:,}")
    row("  until the last city has them all", _s(b["until_last_city_s"]))
    row(
        "baseline loop (consume, insert, produce, commit)", format_figure(m["baseline"]["per_s"], "records/s")
    )
    batched = m["batched_baseline"]["per_s"]
    row("batched baseline (getmany ≤500, bulk upsert, produce, commit)", format_figure(batched, "records/s"))
    row("bulk target that binds", binding_bulk_target(batched))
    row("CPU per decision at 20/s, tracing on", cpu.describe(m["cpu_per_decision"], "decision"))
    row("CPU per standard, bulk", cpu.describe(m["cpu_per_standard"], "standard"))
    row("CPU per record, batched baseline", cpu.describe(m["cpu_per_batched_record"], "record"))
    r = m["raw_kafka"]
    row("raw Kafka produce / consume", f"{r['produce_per_s']:,.0f} / {r['consume_per_s']:,.0f} records/s")
    raw_floor = min(r["produce_per_s"], r["consume_per_s"])
    row(
        "baseline ÷ raw Kafka (slower of produce/consume)",
        format_figure(ratio(m["baseline"]["per_s"], raw_floor), "×"),
    )
    for name, figure in overlaps.rows(m["overlap"]):
        row(name, figure)
    for name, mb in sorted(m["rss_load_mb"].items()):
        row(f"{name} RSS peak under load", f"{mb:.0f} MB")
    row("stack up (Kafka + FerretDB, warm cache)", _s(m["startup"]["stack_up_s"]))
    row("stack + services ready", _s(m["startup"]["stack_and_services_s"]))
    for phase, seconds in m["phase_s"].items():
        row(f"phase wall time: {phase}", _s(seconds))
    da = m["difference_analysis"]
    for key, value in da["figures"].items():
        shown = _s(value) if key.endswith("_s") else f"{value:,.0f}"
        row(f"difference analysis (11 regions, {da['limit_rows']:,} rows): {key}", shown)
    return t


def _ms(value: Any) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _s(value: Any) -> str:
    return "—" if value is None else f"{value:.1f} s"


def keep_logs(system: System, into: Path, tail_bytes: int = 2_000_000) -> None:
    """Keep the end of each service's log beside the results (the data directory is temporary)."""
    into.mkdir(parents=True, exist_ok=True)
    for service in system.services.values():
        if service.log.exists():
            with open(service.log, "rb") as log:
                log.seek(max(0, service.log.stat().st_size - tail_bytes))
                (into / service.log.name).write_bytes(log.read())


def machine() -> dict[str, Any]:
    """What the figures were measured on, and how busy it was."""
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def _interrupt(signum: int, _: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    """Run the bench; exit 0 when it ran (missed targets are figures, not failures)."""
    plan = Plan.from_env(os.environ)
    # SIGTERM and SIGINT (also when started in the background, where SIGINT comes ignored) unwind
    # through the finally below, which stops the services and the stack.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    out = Path(os.environ.get("REGSTD_BENCH_OUT", REPO / "var" / "bench"))
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    info = machine()
    busy = f"load {info['load_average_at_start'][0]} on {info['cpus']} cores at start"
    with tempfile.TemporaryDirectory(prefix="regstd-bench-") as tmp:
        system = System(REPO, Path(tmp))
        try:
            m = asyncio.run(measure(system, plan, out))
        finally:
            system.stop_services()
            keep_logs(system, out / f"logs-{started.strftime('%Y%m%dT%H%M%SZ')}")
            try:
                system.stop_infra()
            except Exception as error:  # the temporary directory goes anyway; say what stayed
                console.print(f"stack down failed: {error}")
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    m["run_s"] = (datetime.now(UTC) - started).total_seconds()
    found = targets(m)
    if plan.mode == "full":  # issue 16: the full-size run finishes in under 10 minutes
        found.append(Target("the whole full-size run", m["run_s"] / 60, "min", "<", 10.0))
    settings = {
        "rate_per_s": plan.rate_per_s,
        "latency_s": plan.latency_s,
        "decisions_tracing_on": plan.decisions,
        "tracing_off_s": plan.tracing_off_s,
        "decisions_tracing_off": plan.decisions_off,
        "bulk_standards": plan.bulk,
        "bulk_window_s": plan.bulk_window_s,
        "baseline_records": plan.baseline,
        "fanout_cities": plan.fanout_cities,
        "fanout_publications": plan.fanout_publications,
        "overlap_records": plan.overlap_records,
        "overlap_proposals": plan.overlap_proposals,
        "profile": plan.profile,
    }
    document = result_document(
        started_at=started.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        mode=plan.mode,
        machine=info,
        settings=settings,
        measurements=m,
        targets=found,
    )
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    (out / f"result-{stamp}.json").write_text(text, encoding="utf-8")
    (out / "latest.json").write_text(text, encoding="utf-8")
    Console(width=max(Console().width, 150)).print(table(m, found, plan, busy))
    console.print(f"results: {out / f'result-{stamp}.json'} (and {out / 'latest.json'})")


if __name__ == "__main__":
    main()
