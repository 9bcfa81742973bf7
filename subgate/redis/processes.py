"""The embedded Redis' processes: started as our child or detached, watched, and stopped.

A :class:`Child` is spawned by this process, which alone can wait for it and
reap it. A :class:`Detached` process is started through a short-lived
``/bin/sh`` that puts it in the background and exits at once: it is re-parented
to init straight away, so it is nobody's child, no parent-death signal ties it
to anyone, and its exit leaves no zombie in the process that started it. A
process that is not our child is watched through /proc and stopped by signals.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, Self

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

__all__ = [
    "Child",
    "Detached",
    "Running",
    "ServerProcess",
    "parent_pid",
    "process_exists",
    "read_int",
    "runs_in",
    "spawn_child",
    "spawn_detached",
    "terminate_pid",
]

STOP_TIMEOUT_S: Final = 10.0
_POLL_INTERVAL_S: Final = 0.05
_LAUNCH_TIMEOUT_S: Final = 10.0
# Runs "$@" in the background with its output appended to the log named by $1,
# prints its pid and exits; the background process is then re-parented to init.
_LAUNCHER: Final = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'


class ServerProcess(Protocol):
    @property
    def pid(self) -> int: ...

    def ended(self) -> str | None:
        """None while the process runs, else how it ended."""

    def pause(self, seconds: float) -> None:
        """Wait up to ``seconds``; return sooner if the process ends."""

    def terminate(self) -> None:
        """SIGTERM (Redis flushes its AOF), then SIGKILL if it does not exit in time."""


class Child:
    """A process we spawned and reap."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        return self._process.pid

    def ended(self) -> str | None:
        code = self._process.poll()
        return None if code is None else f"process exited with code {code}"

    def pause(self, seconds: float) -> None:
        # Waiting on the process doubles as the pause and notices an exit at once.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=seconds)

    def terminate(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class Detached:
    """A process that is not our child, known by its pid."""

    def __init__(self, pid: int) -> None:
        self._pid = pid

    @property
    def pid(self) -> int:
        return self._pid

    def ended(self) -> str | None:
        return None if process_exists(self._pid) else "process exited"

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)  # not our child: there is nothing to wait() on

    def terminate(self) -> None:
        terminate_pid(self._pid)


def spawn_child(
    argv: Sequence[str], *, cwd: Path, log: Path, preexec_fn: Callable[[], None] | None = None
) -> Child:
    # Output goes to a file rather than a pipe: nobody drains a pipe while the
    # server runs, and a full pipe would block its logging.
    with log.open("ab") as output:
        return Child(
            subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C in the terminal must not stop Redis
                # before the app has finished flushing its work into it.
                start_new_session=True,
                # preexec_fn is unsafe with threads because code run after fork
                # may wait on a lock another thread held; the caller's hook must
                # take no lock (see embedded._parent_death_signal_hook).
                preexec_fn=preexec_fn,  # noqa: PLW1509
            )
        )


def spawn_detached(argv: Sequence[str], *, cwd: Path, log: Path) -> Detached:
    with log.open("ab") as output:
        launcher = subprocess.Popen(
            ["/bin/sh", "-c", _LAUNCHER, "sh", str(log), *argv],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=output,
            # The session the server inherits: no terminal, so no Ctrl-C or hang-up reaches it.
            start_new_session=True,
        )
        printed, _ = launcher.communicate(timeout=_LAUNCH_TIMEOUT_S)
    try:
        return Detached(int(printed.strip()))
    except ValueError:
        raise RuntimeError(
            f"launching {argv[0]} failed (launcher exit {launcher.returncode}, output {printed!r})"
        ) from None


def terminate_pid(pid: int, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop a process that may not be our child: SIGTERM, then SIGKILL if it hangs on."""
    # A stopped (SIGSTOP) process acts on SIGTERM only once continued.
    _signal_and_wait(pid, (signal.SIGTERM, signal.SIGCONT), timeout)
    if process_exists(pid):
        _signal_and_wait(pid, (signal.SIGKILL,), timeout)
    if process_exists(pid):
        raise RuntimeError(f"could not stop process {pid}")


def runs_in(pid: int, executable: Path, cwd: Path) -> bool:
    """True when ``pid`` runs ``executable`` from the directory ``cwd``.

    Both checks guard against the pid having been reused by an unrelated
    process. Without /proc (non-Linux) this conservatively returns False.
    """
    proc = Path("/proc") / str(pid)
    try:
        exe = (proc / "exe").readlink()
        where = (proc / "cwd").readlink()
    except OSError:
        return False
    return exe == executable.resolve() and where == cwd


def parent_pid(pid: int) -> int | None:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name in field 2 may contain spaces and parentheses, so parse
    # from the last closing parenthesis: "<state> <ppid> ...".
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def process_exists(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return False if Path("/proc/self").exists() else _answers_signal_zero(pid)
    except OSError:
        return True
    # A zombie has exited already and just awaits reaping by its parent.
    return state[state.rfind(")") + 2 :][:1] != "Z"


def read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _signal_and_wait(pid: int, signals: Sequence[signal.Signals], timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        for signum in signals:
            os.kill(pid, signum)
    deadline = time.monotonic() + timeout
    while process_exists(pid) and time.monotonic() < deadline:
        # Not our child, so there is nothing to wait() on; poll instead.
        time.sleep(_POLL_INTERVAL_S)


def _answers_signal_zero(pid: int) -> bool:
    """Without /proc: whether the kernel still knows ``pid`` (signal 0 only checks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class Running(ABC):
    """Something started and stopped by hand that a `with` block can also hold for its span."""

    @abstractmethod
    def start(self) -> object: ...

    @abstractmethod
    def stop(self) -> object: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
