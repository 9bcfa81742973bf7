"""An endpoint's last day as a bar chart drawn on the server: one stacked bar per hour.

Only the geometry is computed here; the template writes the SVG (autoescaped like any page),
so the chart needs no script and no image request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from domain.notifications.stats import EndpointHealth, Outcome

WIDTH: Final = 480
HEIGHT: Final = 120
_AXIS: Final = 16  # room for the hour labels under the bars
_GAP: Final = 2


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    outcome: str
    count: int
    hour: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    baseline: float
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]
    peak: int
    description: str


def day_chart(health: EndpointHealth) -> Chart:
    hours = health.hours
    peak = max((counts.attempts for _, counts in hours), default=0)
    plot = HEIGHT - _AXIS
    slot = WIDTH / max(1, len(hours))
    bars: list[Bar] = []
    labels: list[Label] = []
    for index, (start, counts) in enumerate(hours):
        x = index * slot + _GAP / 2
        top = float(plot)
        for outcome, count in (
            (Outcome.SUCCEEDED, counts.succeeded),
            (Outcome.FAILED, counts.failed),
            (Outcome.UNREACHABLE, counts.unreachable),
        ):
            if not count or not peak:
                continue
            height = plot * count / peak
            top -= height
            bars.append(Bar(x, top, slot - _GAP, height, outcome.value, count, start.strftime("%H:00")))
        if index % 6 == 0 or index == len(hours) - 1:
            labels.append(Label(x, start.strftime("%H:00")))
    total = health.total
    description = (
        f"Attempts per hour over the last 24 hours: {total.succeeded} succeeded, "
        f"{total.failed} failed, {total.unreachable} without an answer"
    )
    return Chart(WIDTH, HEIGHT, float(plot), tuple(bars), tuple(labels), peak, description)
