"""A stop request that reaches `subgate worker` while it is still starting ends it cleanly.

Before the event loop takes SIGTERM over, the start is unwound: exit status 0, not death by
the signal; the embedded Redis this process started is released again; nothing is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import sqlite3
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from pathlib import Path

from subgate.redis.embedded import serving_pid
from subgate.redis.shared import LOCK_FILE_NAME
from tests.support.cli import dev_env
from tests.support.redis import stopping_shared_redis
from tests.support.service_processes import eventually


def has_open(pid: int, path: Path) -> bool:
    """Whether process `pid` holds `path` open (read from /proc)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False


@contextlib.asynccontextmanager
async def starting_worker(env: dict[str, str], cwd: Path, waits_on: Path) -> AsyncIterator[Process]:
    """`subgate worker`, yielded once its start holds `waits_on` open (where it then waits);
    killed on the way out if it still runs. Its output goes to `cwd/worker.log`."""
    with (cwd / "worker.log").open("wb") as output:
        worker = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "subgate", "worker"),
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:

        async def waiting() -> bool:
            return has_open(worker.pid, waits_on)

        await eventually(waiting, f"the starting worker opened {waits_on.name}", 60)
        yield worker
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


async def assert_exits_0(worker: Process, cwd: Path) -> None:
    async with asyncio.timeout(30):
        code = await worker.wait()
    assert code == 0, (cwd / "worker.log").read_text(errors="replace")[-3000:]


async def test_sigterm_during_the_start_exits_0_and_leaves_nothing_behind(tmp_path: Path) -> None:
    env = dev_env(tmp_path)
    env.pop("SUBGATE_REDIS_URL", None)  # the worker starts the data dir's embedded Redis itself
    data = Path(env["SUBGATE_DATA_DIR"])
    await asyncio.to_thread(data.mkdir, mode=0o700, parents=True)
    database = (data / "subgate.db").resolve()
    # Another process holds the lock of a store not created yet: the worker's start, which
    # creates the schema once it has started Redis, waits on it with the store open.
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with stopping_shared_redis(data / "redis"):
            async with starting_worker(env, tmp_path, database) as worker:
                assert serving_pid(data / "redis") is not None  # it started the embedded Redis first
                worker.send_signal(signal.SIGTERM)
                await assert_exits_0(worker, tmp_path)
    finally:
        holder.rollback()
        holder.close()

    assert serving_pid(data / "redis") is None  # its only user released it on the way out
    with contextlib.closing(sqlite3.connect(database)) as check:
        tables = check.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []  # nothing written: not even the schema


async def test_sigterm_before_the_event_loop_runs_exits_0_and_starts_nothing(tmp_path: Path) -> None:
    env = dev_env(tmp_path)
    env.pop("SUBGATE_REDIS_URL", None)
    data = Path(env["SUBGATE_DATA_DIR"])
    redis_dir = data / "redis"
    redis_dir.mkdir(parents=True)
    lock = (redis_dir / LOCK_FILE_NAME).resolve()
    # Another process is starting the embedded Redis: the worker waits for its lock, before
    # its event loop and store exist.
    with lock.open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        async with starting_worker(env, tmp_path, lock) as worker:
            worker.send_signal(signal.SIGTERM)
            # The other starter is done. The worker's way out takes the lock too (to let go of
            # the Redis it may be the last user of); whichever gets there first, the result is
            # the same: nothing of it stays running.
            fcntl.flock(held.fileno(), fcntl.LOCK_UN)
            await assert_exits_0(worker, tmp_path)

    assert serving_pid(redis_dir) is None
    assert not (data / "subgate.db").exists()
