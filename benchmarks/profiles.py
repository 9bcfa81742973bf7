"""Optional sampling profiles of the processes under load, with py-spy (`--profile DIR`).

py-spy is not a dependency of the project: install it next to the interpreter (`uv pip install
py-spy`) or anywhere on PATH. `Profiler` attaches to a child for the measured phase only and
writes py-spy's "raw" output (one line per distinct stack and thread: `thread;frame;... count`);
`summarize` turns such a file into the functions of the event loop's thread with the most
samples: where its time was spent (self) and under what (inclusive). Only
samples of running threads count (py-spy leaves idle ones out), so the shares are of the CPU
time the process got, not of wall time.
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
        raise BenchmarkError(
            "--profile needs py-spy on PATH or in the virtualenv: `uv pip install py-spy` "
            "(`uv sync`, which `make` runs, removes it again from the project's .venv)"
        )
    return found


class Profiler:
    """py-spy recording one process from `__enter__` to `__exit__` into `output`."""

    def __init__(self, pid: int, output: Path) -> None:
        self.output = output
        output.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(_RATE_HZ),
            "--format",
            "raw",
            "--threads",
        ]
        argv += ["--output", str(output)]
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
    share: float  # 0..1 of the event loop thread's samples


@dataclass(frozen=True, slots=True)
class Summary:
    samples: int
    main_thread: float  # share of the samples taken in the main thread (the event loop's)
    self_time: tuple[Hotspot, ...]  # event loop thread, of its samples
    main_total: tuple[Hotspot, ...]  # event loop thread, inclusive, under the loop, of its samples


_LOOP_RUNNER = "Runner.run (asyncio/runners.py)"
_IN_LOOP = "(the event loop itself: uvloop, I/O, callbacks in C)"


def _frame_name(frame: str) -> str:
    """`function (path/to/module.py:123)` -> `function (path/to/module.py)`, lines merged."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{name} ({file})" if file else name


def _loop_frames(names: list[str]) -> list[str]:
    """The frames a main-thread stack has under the event loop (the process's own set-up above
    it is on every stack); a stack that ends in the loop itself is time spent in the loop."""
    if _LOOP_RUNNER not in names:
        return names
    below = names[len(names) - names[::-1].index(_LOOP_RUNNER) :]
    return below or [_IN_LOOP]


def summarize(raw: Path, top: int = 15) -> Summary:
    """Read py-spy raw output recorded with `--threads` (each stack starts `thread (id): name`).

    Hotspots are those of the main thread, which runs the event loop: one core at most, and
    where an asyncio process saturates first. Other threads (the store's thread pool) mostly
    wait in system calls (fsync, file locks), which py-spy cannot tell from running.
    """
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = main = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        total += count
        if not thread.endswith(": MainThread") or not frames:
            continue
        main += count
        names = _loop_frames([_frame_name(frame) for frame in frames])
        own[names[-1]] += count
        for name in set(names):
            under[name] += count
    if main == 0:
        raise BenchmarkError(f"no samples of the main thread in {raw}")
    return Summary(
        samples=total,
        main_thread=main / total,
        self_time=tuple(Hotspot(name, n / main) for name, n in own.most_common(top)),
        main_total=tuple(Hotspot(name, n / main) for name, n in under.most_common(top)),
    )


def render(title: str, summary: Summary) -> str:
    lines = [
        f"## {title}: {summary.samples:,} samples while running, "
        f"{summary.main_thread * 100:.0f} % of them in the event loop's thread",
        "",
        "event loop thread, self:",
        *_rows(summary.self_time),
        "",
        "event loop thread, inclusive (under the loop):",
        *_rows(summary.main_total),
    ]
    return "\n".join(lines)


def _rows(hotspots: Sequence[Hotspot]) -> list[str]:
    return [f"  {spot.share * 100:5.1f} %  {spot.function}" for spot in hotspots]


def maybe_profile(directory: Path | None, name: str, pid: int) -> contextlib.AbstractContextManager[object]:
    """A `Profiler` writing `directory/name.txt`, or nothing when no directory was asked for."""
    if directory is None:
        return contextlib.nullcontext()
    return Profiler(pid, directory / f"{name}.txt")
