"""Child processes for the benchmarks: start, wait until they listen, sample their memory, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Self, TypeVar

import psutil  # type: ignore[import-untyped]  # psutil ships neither py.typed nor stubs
import uvloop

T = TypeVar("T")

ROOT: Final = Path(__file__).resolve().parent.parent
HOST: Final = "127.0.0.1"
_STOP_TIMEOUT_S: Final = 15.0
_RSS_INTERVAL_S: Final = 0.05
_LOG_TAIL_CHARS: Final = 4000


def drive(main: Coroutine[Any, Any, T]) -> T:
    """Run the benchmark's own client side (load, polling, set-up) on uvloop: the cheaper the
    client is, the more of the shared CPUs the processes measured get."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


class BenchmarkError(RuntimeError):
    """A benchmark could not produce a trustworthy figure; the message says why."""


def free_port() -> int:
    """A port nobody listens on right now (a tiny race with other processes is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    """The environment of every child: ours, minus SUBGATE_* settings, with a bytecode cache.

    Production installs ship compiled bytecode; without a cache (PYTHONDONTWRITEBYTECODE is set
    on some machines) each child would compile every module again and take seconds to start. The
    cache lives under the temp dir, so the checkout is left untouched.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("SUBGATE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "subgate-bench-pycache")
    return env


def subgate_env(data_dir: Path, redis_url: str, **settings: str) -> dict[str, str]:
    """A subgate child's environment: only the settings given here (plus defaults) apply."""
    env = child_env()
    env.update(
        {
            "SUBGATE_DATA_DIR": str(data_dir),
            "SUBGATE_REDIS_URL": redis_url,
            "SUBGATE_LOG_FORMAT": "json",
        }
    )
    env.update({f"SUBGATE_{name.upper()}": value for name, value in settings.items()})
    return env


def subgate_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "subgate", *args]


def module_command(module: str, *args: str) -> list[str]:
    """Run one of the benchmark helper modules (`benchmarks.<module>`) in a fresh interpreter."""
    return [sys.executable, "-m", f"benchmarks.{module}", *args]


def run_subgate_cli(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> str:
    """Run a short `subgate` command and return its standard output; a failure raises loudly."""
    done = subprocess.run(
        subgate_command(*args),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"`subgate {' '.join(args)}` exited with {done.returncode}:\n{done.stderr}")
    return done.stdout


class _PeakRss:
    """Samples a process's resident set size in a background thread and keeps the highest value."""

    def __init__(self, pid: int) -> None:
        self.peak_bytes = 0
        self.process = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(_RSS_INTERVAL_S)

    def sample(self) -> None:
        try:
            rss = int(self.process.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return
        self.peak_bytes = max(self.peak_bytes, rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Child:
    """One child process whose output goes to a log file, with its peak RSS sampled while it runs."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path
    ) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as sink:
            self._process = subprocess.Popen(
                argv, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
            )
        self.started_at = time.monotonic()
        self._rss = _PeakRss(self._process.pid)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def peak_rss_bytes(self) -> int:
        return self._rss.peak_bytes

    @property
    def peak_rss_mb(self) -> float:
        return self._rss.peak_bytes / 1_000_000

    def cpu_seconds(self) -> float:
        """User plus system CPU time the child (every thread of it) has used so far."""
        try:
            times = self._rss.process.cpu_times()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied) as error:
            raise BenchmarkError(f"cannot read the CPU time of {self.name}: {error}") from None
        return float(times.user + times.system)

    def check_alive(self) -> None:
        code = self._process.poll()
        if code is not None:
            raise BenchmarkError(f"{self.name} exited early with code {code}\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as error:
            return f"<no log: {error}>"
        return f"--- end of {self.log} ---\n{text[-_LOG_TAIL_CHARS:]}"

    def wait_listening(self, port: int, timeout: float = 60.0) -> None:
        """Return once the child accepts TCP connections on `port`."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
                return
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"{self.name} did not listen on port {port} within {timeout:g}s\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def wait_logged(self, text: str, timeout: float = 60.0) -> None:
        """Return once the child's log contains `text` (a log event's name, say)."""
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"{self.name} did not log {text!r} within {timeout:g}s\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchmarkError(
                f"{self.name} did not finish within {timeout:g}s\n{self.log_tail()}"
            ) from None

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it lingers; returns the exit code. Safe to call twice."""
        if self._process.poll() is None:
            self._rss.sample()
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._rss.stop()
        return self._process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
