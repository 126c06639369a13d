"""Bar charts drawn as SVG on the server: no chart library, no script. The page shows the same
numbers as a table, which is what a screen reader reads (the SVG is labelled as an image)."""

from dataclasses import dataclass

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 48
"""The drawing's size and the margins left for the axis labels (SVG user units)."""


@dataclass(frozen=True)
class Bar:
    """One bar: where it is drawn, and what it says."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    over: bool  # above the target line


@dataclass(frozen=True)
class Chart:
    """A bar chart's geometry: bars, the y axis' ticks, and a target line if any."""

    width: int
    height: int
    bars: list[Bar]
    slots: list[tuple[float, str]]  # (x of the middle, label): every period, with a bar or not
    ticks: list[tuple[float, str]]  # (y, label)
    target_y: float | None
    target_label: str
    baseline_y: float
    left: int


def bar_chart(values: list[tuple[str, float | None]], target: float | None = None, unit: str = "") -> Chart:
    """Bars for (label, value) pairs (a missing value draws no bar), on a scale from 0 that holds
    the largest value and the target; a dashed line marks the target."""
    highest = max([v for _, v in values if v is not None] + ([target] if target is not None else []) + [1.0])
    step = _nice(highest / 4)
    top = step * 4
    plot_h = HEIGHT - TOP - BOTTOM
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / max(len(values), 1)

    def y_of(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    bars = []
    for i, (label, value) in enumerate(values):
        if value is None:
            continue
        y = y_of(value)
        bars.append(
            Bar(
                x=round(LEFT + i * slot + slot * 0.15, 1),
                y=round(y, 1),
                width=round(slot * 0.7, 1),
                height=round(TOP + plot_h - y, 1),
                label=label,
                value=f"{value:g}{unit}",
                over=target is not None and value > target,
            )
        )
    ticks = [(round(y_of(step * k), 1), f"{step * k:g}") for k in range(5)]
    slots = [(round(LEFT + i * slot + slot / 2, 1), label) for i, (label, _) in enumerate(values)]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        slots=slots,
        ticks=ticks,
        target_y=None if target is None else round(y_of(target), 1),
        target_label="" if target is None else f"{target:g}{unit}",
        baseline_y=TOP + plot_h,
        left=LEFT,
    )


def _nice(value: float) -> float:
    """A tick step: the first of 1, 2 or 5 times a power of ten (at least 1: counts and months) at
    or above `value`."""
    power = 1.0
    while power * 10 < value:
        power *= 10
    return next(power * k for k in (1, 2, 5, 10) if power * k >= value)
