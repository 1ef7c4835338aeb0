"""A chart's value axis: round tick values from 0 to at least the peak, so gridlines fall on numbers people
read at a glance (0, 500, 1,000, 1,500 rather than 0, 437, 874)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from web.text import compact


@dataclass(frozen=True, slots=True)
class Tick:
    value: int
    y: float
    label: str


def nice_step(peak: int, most: int) -> int:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is a whole number (units are counted) and gives at most
    `most` steps up to `peak`."""
    if peak <= most:
        return 1
    magnitude = 10 ** math.floor(math.log10(peak / most))
    steps = (factor * magnitude for factor in (1, 2, 2.5, 5, 10))
    return next(int(s) for s in steps if s == int(s) and math.ceil(peak / s) <= most)


def scale_top(peak: int, most: int = 4) -> int:
    """The axis' top value: the peak rounded up to a whole step (1 for a chart of zeros)."""
    step = nice_step(max(peak, 1), most)
    return max(step, math.ceil(max(peak, 1) / step) * step)


def ticks(peak: int, bottom: float, height: float, most: int = 4) -> list[Tick]:
    """Ticks from 0 to scale_top(peak), as y positions in a plot whose baseline is at `bottom`."""
    step = nice_step(max(peak, 1), most)
    top = scale_top(peak, most)
    return [Tick(v, round(bottom - height * v / top, 2), compact(v, top)) for v in range(0, top + 1, step)]
