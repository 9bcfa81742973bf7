"""Run the `subgate` command line from tests: one-shot commands, and `subgate dev` as a user starts it."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BANNER_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


async def run_cli_result(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, deadline: float = 60
) -> CliResult:
    """Run `python -m subgate ARGS` to completion, whatever its exit status."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "subgate",
        *args,
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(deadline):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


async def run_cli(*args: str, env: Mapping[str, str], cwd: Path | None = None, deadline: float = 60) -> str:
    """Run `python -m subgate ARGS`; return stdout, or fail with stderr when it exits non-zero."""
    result = await run_cli_result(*args, env=env, cwd=cwd, deadline=deadline)
    if result.code != 0:
        raise AssertionError(f"subgate {' '.join(args)} exited {result.code}: {result.stderr[-2000:]}")
    return result.stdout


def free_port() -> int:
    """A loopback port free now, below the range the kernel hands out to outgoing connections.

    A port the kernel picks (bind to 0) comes from that range, so by the time a server binds
    it, a client socket of any process may have been given it as its own local port; the
    server then fails to start. Below the range only another listener can take it.
    """
    low = _ephemeral_low()
    for _ in range(100):
        port = random.randrange(max(1024, low - 12_000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default low end; other systems start higher


def dev_env(workdir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a `subgate dev` on its own data dir and free port, embedded Redis and SQLite."""
    env = {
        **os.environ,
        "SUBGATE_DATA_DIR": str(workdir / "data"),
        "SUBGATE_PORT": str(free_port()),
        "SUBGATE_LOG_FORMAT": "json",
    }
    for inherited in (
        "SUBGATE_REDIS_URL",
        "SUBGATE_DATABASE_URL",
        "SUBGATE_PUBLIC_BASE_URL",
        "SUBGATE_HOST",
        "SUBGATE_SECRET_KEY",
    ):
        env.pop(inherited, None)
    return env | overrides


@dataclass
class DevProcess:
    """A running `subgate dev` and what it printed before it was ready."""

    process: subprocess.Popen[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    base_url: str = ""
    api_key: str | None = None
    banner: list[str] = field(default_factory=list)

    def read_banner(self, *, want_key: bool, deadline_seconds: float = BANNER_DEADLINE_SECONDS) -> None:
        """Read stdout until the base URL (and, when `want_key`, the demo API key) was printed."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            if self.base_url and (self.api_key or not want_key):
                return
            line = self.process.stdout.readline()
            if not line:
                break
            self.banner.append(line.rstrip("\n"))
            if match := re.search(r"running at (\S+)", line):
                self.base_url = match.group(1)
            if match := re.search(r"API key \(shown once\): (\S+)", line):
                self.api_key = match.group(1)
        assert self.base_url, f"subgate dev printed no URL: {self.banner}; log: {self.log_tail()}"
        assert self.api_key or not want_key, f"no demo API key in {self.banner}; log: {self.log_tail()}"

    def read_until(self, pattern: str, deadline_seconds: float = BANNER_DEADLINE_SECONDS) -> str:
        """Read stdout until a line matches `pattern`; that line."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.banner.append(line.rstrip("\n"))
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in {self.banner}; log: {self.log_tail()}")

    def log_tail(self) -> str:
        return self.log.read_text()[-3000:]

    def stop(self) -> int:
        """SIGTERM, as a user's Ctrl-C or a process manager would; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@contextmanager
def running_dev(env: dict[str, str], cwd: Path, *, want_key: bool = True) -> Iterator[DevProcess]:
    """`subgate dev` started in `cwd`; stopped on exit, where it must exit 0."""
    log = cwd / f"dev-{env['SUBGATE_PORT']}-{time.monotonic_ns()}.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "subgate", "dev"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            cwd=cwd,
        )
        dev = DevProcess(process=process, env=env, cwd=cwd, log=log)
        try:
            dev.read_banner(want_key=want_key)
            yield dev
        finally:
            code = dev.stop()
            assert process.stdout is not None
            dev.banner.extend(process.stdout.read().splitlines())  # what it printed after the banner
            process.stdout.close()
        assert code == 0, dev.log_tail()


async def wait_until_healthy(base_url: str, deadline_seconds: float = 30.0) -> None:
    """Poll /healthz until the service answers 200."""
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http, asyncio.timeout(deadline_seconds):
        while True:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)  # polling the server's readiness, bounded by the timeout above
