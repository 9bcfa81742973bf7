"""Figures, their targets and medians; the results document (JSON) and its Markdown table.

Each benchmark repeat yields `Measurement`s; `collect` groups them by key into `Figure`s whose
value is the median of the repeats. The JSON document is the output of record: the Markdown
table (stdout, and the README) is rendered from it by `markdown`, which `python -m benchmarks
--markdown FILE` runs on a saved document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from benchmarks.stats import median

SCHEMA: Final = 1
Unit = Literal["/s", "ms", "MB", "x", "s"]
_UNITS: Final[tuple[str, ...]] = ("/s", "ms", "MB", "x", "s")

RSS_TARGET_MB: Final = 150.0
# Every `subgate serve` (or `worker`) process of a repeat reports its peak; the highest counts.
RSS_SERVE_LABEL: Final = "Peak RSS, `subgate serve`, highest of its runs"
RSS_WORKER_LABEL: Final = "Peak RSS, `subgate worker`, highest of its runs"


@dataclass(frozen=True, slots=True)
class Target:
    """`value op bound`; `text` is how the table shows it."""

    op: Literal[">=", "<="]
    bound: float
    text: str

    def met(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def as_json(self) -> dict[str, Any]:
        return {"op": self.op, "bound": self.bound, "text": self.text}


@dataclass(frozen=True, slots=True)
class Measurement:
    """One figure of one repeat."""

    key: str
    label: str
    unit: Unit
    value: float
    target: Target | None = None
    note: str = ""  # shown in the target column when there is no target ("reference", ...)


def rss_target() -> Target:
    return Target("<=", RSS_TARGET_MB, f"≤ {RSS_TARGET_MB:.0f} MB")


def highest_per_key(measurements: Iterable[Measurement]) -> list[Measurement]:
    """One repeat's measurements with those of one key merged into the highest; peak memory
    figures last (several benchmarks report the peak of a `subgate serve`, say)."""
    merged: dict[str, Measurement] = {}
    for one in measurements:
        if one.key not in merged or one.value > merged[one.key].value:
            merged[one.key] = one if one.key not in merged else replace(merged[one.key], value=one.value)
    ordered = list(merged.values())
    return [m for m in ordered if not m.key.startswith("rss.")] + [
        m for m in ordered if m.key.startswith("rss.")
    ]


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    unit: Unit
    samples: tuple[float, ...]
    target: Target | None
    note: str

    @property
    def median(self) -> float:
        return median(self.samples)

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.median)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "median": self.median,
            "samples": list(self.samples),
            "target": None if self.target is None else self.target.as_json(),
            "note": self.note,
            "met": self.met,
        }


def collect(measurements: Iterable[Measurement]) -> list[Figure]:
    """Group by key, in the order keys first appear; the first measurement names the figure."""
    first: dict[str, Measurement] = {}
    samples: dict[str, list[float]] = {}
    for one in measurements:
        first.setdefault(one.key, one)
        samples.setdefault(one.key, []).append(one.value)
    return [
        Figure(
            key=key,
            label=one.label,
            unit=one.unit,
            samples=tuple(samples[key]),
            target=one.target,
            note=one.note,
        )
        for key, one in first.items()
    ]


def document(
    figures: Sequence[Figure], *, command: str, repeats: int, seconds: float, settings: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "command": command,
        "repeats": repeats,
        "seconds": round(seconds, 1),
        "settings": dict(settings),
        "figures": [figure.as_json() for figure in figures],
    }


def format_value(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}"
    if unit == "MB":
        return f"{value:.0f}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "s":
        return f"{value:.2f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"  # ms


def _label(figure: Mapping[str, Any]) -> str:
    """Rates name their unit in the label (events/s, notifications/s...); others get it here."""
    unit = str(figure["unit"])
    return str(figure["label"]) if unit in ("/s", "x") else f"{figure['label']} ({unit})"


def markdown(results: Mapping[str, Any]) -> str:
    """The results document as a Markdown table, with a line that says how it was made."""
    repeats = int(results["repeats"])
    settings = results["settings"]
    head = (
        f"`{results['command']}`: {settings['sizes']}; median of {repeats} "
        f"run{'s' if repeats != 1 else ''}; {settings['machine']}; took {results['seconds']:.0f} s"
    )
    lines = [
        head,
        "",
        "| Figure | Median | Runs | Target | Met |",
        "|---|---:|---:|---|:---:|",
    ]
    for figure in results["figures"]:
        unit = str(figure["unit"])
        runs = ", ".join(format_value(sample, unit) for sample in figure["samples"])
        target = figure["target"]["text"] if figure["target"] else figure["note"]
        met = {None: "", True: "yes", False: "**no**"}[figure["met"]]
        lines.append(
            f"| {_label(figure)} | {format_value(figure['median'], unit)} | {runs} | {target} | {met} |"
        )
    missed = [_label(figure) for figure in results["figures"] if figure["met"] is False]
    if missed:
        lines += ["", "Targets missed: " + "; ".join(missed) + "."]
    return "\n".join(lines)


def check_units(results: Mapping[str, Any]) -> None:
    """Refuse a document this renderer does not know (another schema, a unit it cannot show)."""
    if results.get("schema") != SCHEMA:
        raise ValueError(f"unknown results schema {results.get('schema')!r}; expected {SCHEMA}")
    for figure in results["figures"]:
        if figure["unit"] not in _UNITS:
            raise ValueError(f"figure {figure['key']!r} has an unknown unit {figure['unit']!r}")
