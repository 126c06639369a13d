"""Sampling profiles of the service processes with py-spy, and what they show in a few lines.

`py-spy record --format raw` writes collapsed stacks: one line per distinct stack,
`frame;frame;…;leaf count`, the root first. The summary counts, for each function, the samples in
which it is the leaf (self time) and those in which it appears anywhere (inclusive time).
"""

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<where>[^()]*)\)$")


@dataclass(frozen=True)
class Hotspot:
    """A function and its share of the samples."""

    function: str
    samples: int
    share: float

    def to_json(self) -> dict[str, Any]:
        """The hotspot as it goes into the result file."""
        return {"function": self.function, "samples": self.samples, "share": round(self.share, 4)}


@dataclass(frozen=True)
class ProfileSummary:
    """The top functions of one profile by self and by inclusive samples."""

    samples: int
    self_top: list[Hotspot]
    inclusive_top: list[Hotspot]

    def to_json(self) -> dict[str, Any]:
        """The summary as it goes into the result file."""
        return {
            "samples": self.samples,
            "self": [h.to_json() for h in self.self_top],
            "inclusive": [h.to_json() for h in self.inclusive_top],
        }


def _short(frame: str) -> str:
    """`handle (regstd/runtime/consumer.py:97)` → `handle (regstd/runtime/consumer.py)`; paths cut to
    what follows site-packages or src/, so that lines of one function add up."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    where = match["where"].rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{match['function']} ({where})"


def summarize_collapsed(text: str, top: int = 15, inclusive_filter: str = "") -> ProfileSummary:
    """Self and inclusive hotspots from collapsed stacks; `inclusive_filter` keeps only functions
    whose location contains it (e.g. "regstd") in the inclusive list."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        self_counts[frames[-1]] += count
        for frame in set(frames):
            if inclusive_filter in frame:
                inclusive[frame] += count

    def hot(counter: Counter[str]) -> list[Hotspot]:
        return [Hotspot(f, n, n / total if total else 0.0) for f, n in counter.most_common(top)]

    return ProfileSummary(total, hot(self_counts), hot(inclusive))


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter, or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(pid: int, seconds: float, output: Path, *, idle: bool = False) -> str | None:
    """Sample a process for some seconds into collapsed stacks; None when it worked, else why not."""
    executable = py_spy()
    if executable is None:
        return "py-spy is not installed (it is a dependency of regstd-bench: run make setup)"
    args = [
        executable, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--rate", "100", "--format", "raw", "--output", str(output), "--nonblocking",
    ]  # fmt: skip
    if idle:
        args.append("--idle")
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        return f"py-spy exited {process.returncode}: {err.decode(errors='replace')[-500:]}"
    return None
