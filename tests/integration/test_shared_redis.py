"""SharedRedis: one detached embedded Redis per data dir, started once, restarted by anyone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from structlog.testing import capture_logs

from integrations.redis.embedded import serving_pid
from integrations.redis.processes import parent_pid
from integrations.redis.shared import SharedRedis, Watchdog, shared_redis
from tests.support.redis import stopping_shared_redis

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finding the server's pid reads /proc")

_DEADLINE_S = 20.0


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "redis"
    with stopping_shared_redis(directory):
        yield directory


def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)  # polling a condition, bounded by the deadline above


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(")") + 2 :][:1] == "Z"


def test_the_first_process_starts_it_and_the_others_find_it(data_dir: Path) -> None:
    url = SharedRedis(data_dir).ensure()
    pid = serving_pid(data_dir)

    assert SharedRedis(data_dir).ensure() == url
    assert SharedRedis(data_dir).url() == url
    assert serving_pid(data_dir) == pid
    client = redis.Redis.from_url(url)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_concurrent_starters_share_one_server(data_dir: Path) -> None:
    starters = 4
    barrier = threading.Barrier(starters)
    urls: list[str] = []
    failures: list[BaseException] = []

    def start() -> None:
        shared = SharedRedis(data_dir)
        barrier.wait()
        try:
            urls.append(shared.ensure())
        except (RuntimeError, OSError) as error:  # reported by the assertion below
            failures.append(error)

    with capture_logs() as logs:
        threads = [threading.Thread(target=start) for _ in range(starters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert failures == []
    assert len(set(urls)) == 1
    assert [entry["event"] for entry in logs].count("embedded_redis_started") == 1


_STARTER_SCRIPT = """
import sys
from pathlib import Path
from integrations.redis.embedded import serving_pid
from integrations.redis.processes import parent_pid
from integrations.redis.shared import SharedRedis

shared = SharedRedis(Path(sys.argv[1]))
shared.join()
url = shared.ensure()
print("started", url, serving_pid(shared.data_dir), flush=True)
sys.stdin.read()
"""


def _start_elsewhere(data_dir: Path) -> tuple[str, str]:
    """Start the server from the main thread of another process, as `subgate serve` would; kill that."""
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER_SCRIPT, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert starter.stdout is not None
    assert starter.stdin is not None
    try:
        for line in starter.stdout:
            if line.startswith("started "):
                _, url, pid = line.split()
                # Nobody's child: no parent-death signal can reach it, no zombie is left for the starter.
                assert parent_pid(int(pid)) != starter.pid
                return url, pid
        raise AssertionError("the starter process ended without starting the server")
    finally:
        starter.kill()
        starter.wait()
        starter.stdin.close()
        starter.stdout.close()


def test_the_server_outlives_the_process_that_started_it(data_dir: Path) -> None:
    url, pid = _start_elsewhere(data_dir)

    shared = SharedRedis(data_dir)
    assert shared.url() == url
    assert serving_pid(data_dir) == int(pid)

    # The killed starter no longer counts as a user: the last one out stops the server.
    shared.join()
    assert shared.leave() is True
    assert shared.url() is None
    _eventually(lambda: _process_gone(int(pid)), "the server has exited")


def test_the_last_user_to_leave_stops_the_server(data_dir: Path) -> None:
    first, second = SharedRedis(data_dir), SharedRedis(data_dir)
    first.join()
    second.join()
    url = first.ensure()
    pid = serving_pid(data_dir)
    assert pid is not None

    assert first.leave() is False
    assert second.url() == url

    assert second.leave() is True
    assert second.url() is None
    assert _process_gone(pid)


def test_the_watchdog_restarts_a_killed_server_on_the_same_port(data_dir: Path) -> None:
    shared = SharedRedis(data_dir)
    url = shared.ensure()
    killed = serving_pid(data_dir)
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    _eventually(lambda: not shared.answers(_port(url)), "the killed server stops answering")

    with capture_logs() as logs:
        assert Watchdog(shared, _port(url)).check() is True

    assert shared.url() == url
    restarted = serving_pid(data_dir)
    assert restarted not in (None, killed)
    assert [entry["event"] for entry in logs] == [
        "embedded_redis_unreachable",
        "embedded_redis_started",
        "embedded_redis_available",
    ]


def test_the_watchdog_thread_keeps_the_server_up(data_dir: Path) -> None:
    with shared_redis(data_dir, interval=0.05) as url:
        first = serving_pid(data_dir)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _eventually(
            lambda: serving_pid(data_dir) not in (None, first) and SharedRedis(data_dir).url() == url,
            "the watchdog has restarted the server on its port",
        )
    # This process was its only user: leaving stopped it.
    assert SharedRedis(data_dir).url() is None


def test_a_hung_server_is_replaced(data_dir: Path) -> None:
    shared = SharedRedis(data_dir, start_timeout=0.5)
    url = shared.ensure()
    hung = serving_pid(data_dir)
    assert hung is not None
    os.kill(hung, signal.SIGSTOP)
    try:
        assert shared.ensure(_port(url)) == url
        assert serving_pid(data_dir) not in (None, hung)
        assert _process_gone(hung)
    finally:
        # Let a server that was not replaced (the code under test failed) exit with the rest.
        if not _process_gone(hung):
            os.kill(hung, signal.SIGCONT)


def test_stop_without_a_server_reports_none(tmp_path: Path) -> None:
    assert SharedRedis(tmp_path / "never-started").stop() is False
