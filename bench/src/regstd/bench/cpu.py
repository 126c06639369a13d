"""Where the machine's CPU goes during a phase: seconds by part of the stack, and per unit of work.

A phase's rate is bounded by what one unit of its work costs in CPU: a machine of `cores` cores runs
at most `cores / seconds per unit` units a second, however the work is scheduled. Split by part of
the stack (each service, FerretDB, PostgreSQL, the Kafka broker, the bench itself and the rest of
the machine), the cost says which part a faster pipeline would have to cut, and which of the bulk
targets the machine can reach at all (decision 47).
"""

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

FERRETDB = "FerretDB"
POSTGRES = "PostgreSQL"
KAFKA = "Kafka"
BENCH = "bench"
REST = "rest of the machine"
"""Kernel threads and every other process: the machine's busy time that no named part used."""


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds used so far, by process and in total, at one moment."""

    at: float
    by_process: Mapping[int, tuple[str, float]]
    """pid → (part of the stack, CPU seconds the process has used)."""
    busy_s: float
    """The whole machine's busy CPU seconds (every core, everything but idle and I/O wait)."""
    stolen_s: float = 0.0
    """CPU seconds the hypervisor gave to other machines while this one wanted them (steal)."""


@dataclass(frozen=True)
class CpuUse:
    """The CPU a phase used, by part of the stack."""

    wall_s: float
    by_part: dict[str, float]
    """Part → CPU seconds; `REST` is the machine's busy time no named part accounts for."""
    cores: int
    stolen_s: float = 0.0
    """CPU seconds the host took while this machine wanted them: a run with much of it ran slower."""

    @property
    def total_s(self) -> float:
        """All the CPU the machine spent during the phase."""
        return sum(self.by_part.values())

    @property
    def busy_share(self) -> float:
        """How busy the machine was: 1.0 means every core, the whole phase."""
        return self.total_s / (self.wall_s * self.cores) if self.wall_s > 0 else 0.0

    def per_unit(self, units: int) -> dict[str, Any]:
        """Milliseconds of CPU per unit of work, in total and by part, and the rate this machine
        could reach at that cost with every core busy on nothing else."""
        if units <= 0 or self.total_s <= 0:
            return {"units": units, "ms": None, "by_part_ms": {}, "ceiling_per_s": None}
        return {
            "units": units,
            "ms": self.total_s * 1000 / units,
            "by_part_ms": {
                part: seconds * 1000 / units
                for part, seconds in sorted(self.by_part.items(), key=lambda item: -item[1])
            },
            "ceiling_per_s": self.cores * units / self.total_s,
            "busy_share": self.busy_share,
            "stolen_share": self.stolen_s / (self.wall_s * self.cores) if self.wall_s > 0 else 0.0,
            "cores": self.cores,
        }


def part_of(
    pid: int, name: str, cmdline: Iterable[str], services: Mapping[int, str], bench: int
) -> str | None:
    """Which part of the stack a process is, or None for one that is none of them."""
    if pid in services:
        return services[pid]
    if pid == bench:
        return BENCH
    if name == "ferretdb":
        return FERRETDB
    if name == "postgres":  # the server and each of its backends
        return POSTGRES
    if name == "java" and "kafka.Kafka" in cmdline:
        return KAFKA
    return None


def snapshot(services: Mapping[str, int | None]) -> Snapshot:
    """Every part's CPU seconds now. `services` maps each service's name to its pid."""
    by_pid = {pid: name for name, pid in services.items() if pid is not None}
    own = os.getpid()
    found: dict[int, tuple[str, float]] = {}
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            info = process.info
            part = part_of(process.pid, info["name"] or "", info["cmdline"] or [], by_pid, own)
            if part is not None:
                times = process.cpu_times()
                found[process.pid] = (part, times.user + times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    machine = psutil.cpu_times()
    # Guest time is already part of user time; steal is the hypervisor's, not this machine's work.
    busy = (
        machine.user
        + machine.system
        + sum(getattr(machine, field, 0.0) for field in ("nice", "irq", "softirq"))
    )
    stolen = getattr(machine, "steal", 0.0)
    return Snapshot(at=time.monotonic(), by_process=found, busy_s=busy, stolen_s=stolen)


def between(before: Snapshot, after: Snapshot) -> CpuUse:
    """What each part used from one snapshot to the next. A process that started in between counts
    from zero; one that ended in between is lost to its part and shows in the rest."""
    by_part: dict[str, float] = {}
    for pid, (part, seconds) in after.by_process.items():
        earlier = before.by_process.get(pid)
        used = seconds - (earlier[1] if earlier is not None and earlier[0] == part else 0.0)
        by_part[part] = by_part.get(part, 0.0) + max(0.0, used)
    named = sum(by_part.values())
    by_part[REST] = max(0.0, (after.busy_s - before.busy_s) - named)
    return CpuUse(
        wall_s=after.at - before.at,
        by_part=by_part,
        cores=psutil.cpu_count() or 1,
        stolen_s=max(0.0, after.stolen_s - before.stolen_s),
    )


def describe(per_unit: Mapping[str, Any], unit: str, top: int = 6) -> str:
    """One line: the total per unit, its biggest parts, and the ceiling it sets."""
    if per_unit.get("ms") is None:
        return "not measured"
    parts = ", ".join(
        f"{part} {ms:.1f}" for part, ms in list(per_unit["by_part_ms"].items())[:top] if ms >= 0.05
    )
    return (
        f"{per_unit['ms']:.1f} ms per {unit} ({parts}); machine {per_unit['busy_share'] * 100:.0f}% busy, "
        f"{per_unit.get('stolen_share', 0.0) * 100:.0f}% taken by the host; "
        f"at this cost {per_unit['cores']} cores run at most {per_unit['ceiling_per_s']:,.0f} {unit}s/s"
    )
