"""Optional sampling profiles of the processes under load, with py-spy (`--profile DIR`).

py-spy is not a dependency of the project: install it next to the interpreter (`uv pip install
py-spy`) or anywhere on PATH. `Profiler` attaches to a child for the measured phase only and
writes py-spy's "raw" output (one line per distinct stack: `frame;frame;... count`);
`summarize` turns such a file into the functions with the most samples, both where the time was
spent (self) and what it was spent under (total).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from benchmarks.processes import BenchmarkError

_STOP_TIMEOUT_S = 30.0
_RATE_HZ = 200


def py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise BenchmarkError("--profile needs py-spy: `uv pip install py-spy` (or pip) first")
    return found


class Profiler:
    """py-spy recording one process from `__enter__` to `__exit__` into `output`."""

    def __init__(self, pid: int, output: Path) -> None:
        self.output = output
        output.parent.mkdir(parents=True, exist_ok=True)
        argv = [py_spy(), "record", "--pid", str(pid), "--rate", str(_RATE_HZ), "--format", "raw"]
        argv += ["--output", str(output), "--nonblocking"]
        self._log = output.with_suffix(".log").open("wb")
        self._process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                self._process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()


@dataclass(frozen=True, slots=True)
class Hotspot:
    function: str
    share: float  # 0..1 of all samples


@dataclass(frozen=True, slots=True)
class Summary:
    samples: int
    self_time: tuple[Hotspot, ...]
    total_time: tuple[Hotspot, ...]


def _frame_name(frame: str) -> str:
    """`function (path/to/module.py:123)` -> `function (path/to/module.py)`, lines merged."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{name} ({file})" if file else name


def summarize(raw: Path, top: int = 15) -> Summary:
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            under[name] += count
    if total == 0:
        raise BenchmarkError(f"no samples in {raw}")

    def ranked(counter: Counter[str]) -> tuple[Hotspot, ...]:
        return tuple(Hotspot(name, count / total) for name, count in counter.most_common(top))

    return Summary(samples=total, self_time=ranked(own), total_time=ranked(under))


def render(title: str, summary: Summary) -> str:
    lines = [f"## {title} ({summary.samples:,} samples)", "", "self:"]
    lines += _rows(summary.self_time)
    lines += ["", "total (inclusive):"]
    lines += _rows(summary.total_time)
    return "\n".join(lines)


def _rows(hotspots: Sequence[Hotspot]) -> list[str]:
    return [f"  {spot.share * 100:5.1f} %  {spot.function}" for spot in hotspots]


def maybe_profile(directory: Path | None, name: str, pid: int) -> contextlib.AbstractContextManager[object]:
    """A `Profiler` writing `directory/name.txt`, or nothing when no directory was asked for."""
    if directory is None:
        return contextlib.nullcontext()
    return Profiler(pid, directory / f"{name}.txt")
