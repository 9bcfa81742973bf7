"""SharedRedis: one detached embedded Redis per data dir, started once, restarted by anyone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import redis
from structlog.testing import capture_logs

from subgate.redis.embedded import (
    AOF_FILE_NAME,
    PASSWORD_FILE_NAME,
    PID_FILE_NAME,
    PORT_FILE_NAME,
    find_redis_server_executable,
    serving_pid,
)
from subgate.redis.processes import parent_pid, spawn_detached
from subgate.redis.shared import SharedRedis, Watchdog, shared_redis
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


def _password(data_dir: Path) -> str:
    return (data_dir / PASSWORD_FILE_NAME).read_text().strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_without_a_password(data_dir: Path) -> tuple[int, int]:
    """A detached server on the data dir as an earlier release ran it: no password. Its pid and port."""
    data_dir.mkdir(parents=True)
    port = _free_port()
    config = data_dir / "redis.conf"
    config.write_text(
        f'bind 127.0.0.1\nport {port}\ndir "{data_dir}"\npidfile "{data_dir / PID_FILE_NAME}"\n'
        f'logfile ""\nsave ""\nappendonly yes\nappendfilename "{AOF_FILE_NAME}"\n'
    )
    argv = [str(find_redis_server_executable()), str(config)]
    server = spawn_detached(argv, cwd=data_dir, log=data_dir / "redis.log")
    (data_dir / PORT_FILE_NAME).write_text(f"{port}\n")
    client = redis.Redis(port=port)
    try:
        _eventually(lambda: _answers(client), "the password-less server answers")
        client.set("queued-before-the-upgrade", "kept")
    finally:
        client.close()
    return server.pid, port


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


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


def test_every_process_connects_with_the_directorys_password(data_dir: Path) -> None:
    url, _ = _start_elsewhere(data_dir)
    password = _password(data_dir)

    assert urlsplit(url).password == password
    assert SharedRedis(data_dir).ensure() == url
    assert SharedRedis(data_dir).url() == url
    anonymous = redis.Redis(port=_port(url))
    try:
        with pytest.raises(redis.AuthenticationError, match="Authentication required"):
            anonymous.ping()
    finally:
        anonymous.close()
    # Another password in the file makes the server look absent, never open.
    (data_dir / PASSWORD_FILE_NAME).write_text("x" * 43 + "\n")
    assert SharedRedis(data_dir).url() is None


def test_a_server_an_earlier_release_left_without_a_password_gets_one(data_dir: Path) -> None:
    old_pid, port = _start_without_a_password(data_dir)

    with capture_logs() as logs:
        url = SharedRedis(data_dir).ensure()

    assert [entry["event"] for entry in logs] == ["embedded_redis_without_password", "embedded_redis_started"]
    assert _process_gone(old_pid)
    assert serving_pid(data_dir) not in (None, old_pid)
    assert urlsplit(url).port == port  # where the pools of processes still running look for it
    assert urlsplit(url).password == _password(data_dir)
    client = redis.Redis.from_url(url)
    try:
        assert client.get("queued-before-the-upgrade") == b"kept"  # the append-only file came along
    finally:
        client.close()
    anonymous = redis.Redis(port=port)
    try:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
    finally:
        anonymous.close()


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
    assert _password(data_dir) not in repr(logs)


_STARTER_SCRIPT = """
import sys
from pathlib import Path
from subgate.redis.embedded import serving_pid
from subgate.redis.processes import parent_pid
from subgate.redis.shared import SharedRedis

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
    assert logs[1]["url"] == f"redis://:***@127.0.0.1:{_port(url)}/0"  # where, not the password
    assert _password(data_dir) not in repr(logs)


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
