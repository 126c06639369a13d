"""`python -m regstd.bench.startup`: how long each service takes to be ready, and where that time goes.

Brings up its own Kafka and FerretDB once (as `make bench` does, `System`), then starts and stops
the services N times (`--runs`, default 5): each alone, then all three at once as `make bench` and
`regstd local up` start them. Ready means what it means in `make bench`: `/health/ready` answers 200
and the service's consumer group is stable with members.

The breakdown comes from the service's own log lines, in seconds since its process was spawned:
`imports` (its first line, "starting": the modules are imported), `wired` (uvicorn's "Started
server process": the app is built), `store`, `topics` and `producer` (the store's indexes and the
app's `prepare` steps, the topic declaration and the producer's connection, side by side; from
"runtime started"), `consumers` (every consumer assigned), `listening` (uvicorn bound its port) and
`ready` (as above, measured from outside). `cpu` is the CPU time the process had used by then: on a
busy machine the wall times vary with the load, the CPU time much less.

`--from-source` adds, in the same runs, each start again with Python not finding any compiled
bytecode (`PYTHONPYCACHEPREFIX` naming an empty directory, nothing written there): what a start costs
where the environment was installed without it and Python may not write `__pycache__` (decision 39).
"""

import argparse
import asyncio
import json
import statistics
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from regstd.bench.system import RunningService, System

REPO = Path(__file__).resolve().parents[4]
STEPS = ("imports", "wired", "store", "topics", "producer", "consumers", "listening", "ready", "cpu")
"""The columns of a start, in the order they happen (store, topics and producer side by side); `cpu` is the
CPU seconds the process had used when it was ready."""

console = Console(width=160)


@dataclass(frozen=True)
class Start:
    """One start of one service: when each step was done, in seconds since the spawn."""

    service: str
    mode: str
    steps: Mapping[str, float]


def steps_from_log(lines: Iterable[str], spawned_at: float) -> dict[str, float]:
    """The steps a start's JSON log lines show, in seconds since `spawned_at` (wall-clock seconds).
    Lines that are not JSON, and steps the log does not show, are left out."""
    found: dict[str, float] = {}
    lifespan_began: float | None = None
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or "time" not in entry:
            continue
        at = datetime.fromisoformat(entry["time"]).timestamp() - spawned_at
        message = str(entry.get("message", ""))
        if message == "starting":
            found.setdefault("imports", at)
        elif message.startswith("Started server process"):
            found.setdefault("wired", at)
        elif message == "Waiting for application startup.":
            lifespan_began = at
        elif message == "runtime started" and lifespan_began is not None:
            # The runtime's marks count from its own start, which is the lifespan's.
            for step in ("store", "topics", "producer", "consumers"):
                mark = entry.get(f"{step}_s")
                if isinstance(mark, int | float):
                    found.setdefault(step, lifespan_began + mark)
        elif message.startswith("Uvicorn running on"):
            found.setdefault("listening", at)
    return {k: round(v, 3) for k, v in found.items()}


def _steps_of(service: RunningService, ready_s: float) -> dict[str, float]:
    with open(service.log, "rb") as log:
        log.seek(service.log_offset)
        lines = log.read().decode(errors="replace").splitlines()
    measured = {"ready": round(ready_s, 3), "cpu": round(service.ready_cpu_s, 3)}
    return steps_from_log(lines, service.spawned_at) | measured


FROM_SOURCE = "from source"


def without_bytecode(empty_dir: Path) -> dict[str, str]:
    """The environment in which Python finds no compiled bytecode and writes none: it compiles every
    module it imports, at every start."""
    return {"PYTHONPYCACHEPREFIX": str(empty_dir), "PYTHONDONTWRITEBYTECODE": "1"}


async def measure(
    system: System,
    names: Sequence[str],
    runs: int,
    modes: Sequence[str],
    variants: Mapping[str, Mapping[str, str]],
) -> list[Start]:
    """Start and stop the services `runs` times in each mode and variant (a name and the
    environment it adds; "" adds nothing), interleaved; every start with its steps."""
    starts: list[Start] = []
    for run in range(runs):
        for mode in modes:
            groups = [[name] for name in names] if mode == "alone" else [list(names)]
            for variant, env in variants.items():
                label = f"{mode}, {variant}" if variant else mode
                for group in groups:
                    took = await system.start_services(tracing=True, names=group, env=env)
                    for name, ready_s in took.items():
                        starts.append(Start(name, label, _steps_of(system.services[name], ready_s)))
                    system.stop_services(group)
        console.print(f"run {run + 1} of {runs} done", style="dim")
    return starts


def summary(starts: Sequence[Start]) -> Table:
    """Every start, then the median of each step per service and mode."""
    table = Table(title="start-up: seconds since the process was spawned")
    for column in ("service", "mode", *STEPS):
        table.add_column(column, justify="left" if column in ("service", "mode") else "right")
    keys = sorted({(s.service, s.mode) for s in starts})
    for service, mode in keys:
        mine = [s for s in starts if (s.service, s.mode) == (service, mode)]
        for start in mine:
            table.add_row(service, mode, *(_cell(start.steps.get(step)) for step in STEPS))
        medians = [_median([s.steps[step] for s in mine if step in s.steps]) for step in STEPS]
        table.add_row(service, f"{mode} median", *(_cell(m) for m in medians), style="bold")
    return table


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> None:
    """Measure the services' start-up on a stack of its own and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m regstd.bench.startup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=5, help="starts of each service in each mode (5)")
    parser.add_argument("--mode", choices=("alone", "together", "both"), default="both")
    parser.add_argument("--from-source", action="store_true", help="also start without compiled bytecode")
    parser.add_argument("--json", type=Path, help="also write every start to this file")
    args = parser.parse_args(argv)
    modes = ("alone", "together") if args.mode == "both" else (args.mode,)
    with tempfile.TemporaryDirectory(prefix="regstd-startup-") as tmp:
        system = System(REPO, Path(tmp))
        try:
            infra_s = system.start_infra()
            console.print(f"stack up in {infra_s:.1f} s", style="dim")
            asyncio.run(system.ready_for_groups())
            variants: dict[str, Mapping[str, str]] = {"": {}}
            if args.from_source:
                empty = Path(tmp) / "no-bytecode"
                empty.mkdir()
                variants[FROM_SOURCE] = without_bytecode(empty)
            starts = asyncio.run(measure(system, [*system.services], args.runs, modes, variants))
        finally:
            system.stop_services()
            system.stop_infra()
    console.print(summary(starts))
    if args.json:
        args.json.write_text(json.dumps([vars(s) | {"steps": dict(s.steps)} for s in starts], indent=1))


if __name__ == "__main__":
    main()
