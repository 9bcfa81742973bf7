"""A worker killed in the middle of a backlog, with Redis restarted too: every message arrives.

Real processes as a user runs them. Deliveries go to a receiver that lets only a couple
of requests in at a time, so that the backlog is still being worked on when the worker
is killed. The leases of the killed worker are handed back by the next one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest

from subgate.redis.embedded import serving_pid
from tests.support.cli import DevProcess, dev_env, run_cli, running_dev, wait_until_healthy
from tests.support.receiver import Receiver, running_receiver
from tests.support.redis import CrashableRedis, stopping_shared_redis
from tests.support.service_processes import (
    connect_stripe,
    eventually,
    post_subscription_created,
    running_subgate,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finding the embedded server reads /proc")

MESSAGES = 500
# Two deliveries at a time for the one endpoint: the backlog takes a few seconds to drain.
SLOW = {"SUBGATE_ENDPOINT_CONCURRENCY": "2", "SUBGATE_ALLOW_PRIVATE_TARGETS": "true"}


async def _post_backlog(client: httpx.AsyncClient, webhook_url: str) -> None:
    async def post(n: int) -> None:
        assert await post_subscription_created(client, webhook_url, f"sub_{n:04}") == "accepted"

    for start in range(0, MESSAGES, 50):
        await asyncio.gather(*(post(n) for n in range(start, min(start + 50, MESSAGES))))


def _message_ids(receiver: Receiver) -> set[str]:
    ids = set()
    for got in receiver.received:
        # A resent message keeps its webhook-id, the body's id.
        assert got.headers["webhook-id"] == json.loads(got.body)["id"]
        ids.add(got.headers["webhook-id"])
    return ids


@asynccontextmanager
async def _merchant(
    base_url: str, api_key: str, receiver: Receiver
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    auth = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=auth, timeout=30) as client:
        webhook_url = await connect_stripe(client)
        endpoint = await client.post("/v1/endpoints", json={"url": receiver.url})
        assert endpoint.status_code == 201, endpoint.text
        yield client, webhook_url


async def test_a_worker_killed_mid_backlog_with_redis_restarted_loses_nothing(tmp_path: Path) -> None:
    with CrashableRedis(tmp_path / "external-redis") as redis_server:
        env = dev_env(tmp_path, SUBGATE_REDIS_URL=redis_server.url, **SLOW)
        created = json.loads(await run_cli("merchants", "create", "Crash test", env=env, cwd=tmp_path))
        base_url = f"http://127.0.0.1:{env['SUBGATE_PORT']}"
        async with running_receiver() as receiver:
            with running_subgate("serve", env, tmp_path):
                await wait_until_healthy(base_url)
                async with _merchant(base_url, created["api_key"], receiver) as (client, webhook_url):
                    await _post_backlog(client, webhook_url)
                    with running_subgate("worker", env, tmp_path) as first:

                        async def started() -> bool:
                            return len(receiver.received) >= MESSAGES // 10

                        await eventually(started, "the first worker is delivering")
                        redis_server.kill()
                        redis_server.start()
                        assert first.alive, first.log_tail()
                        first.kill()
                    assert len(_message_ids(receiver)) < MESSAGES  # killed in the middle

                    with running_subgate("worker", env, tmp_path) as second:

                        async def all_arrived() -> bool:
                            return len(_message_ids(receiver)) == MESSAGES

                        await eventually(all_arrived, "every message arrived", deadline_seconds=120)
                        assert second.alive, second.log_tail()
                    deliveries = await client.get(
                        "/v1/deliveries", params={"status": "succeeded", "limit": 1}
                    )
                    assert deliveries.status_code == 200


@contextmanager
def _crashing_dev(env: dict[str, str], cwd: Path) -> Iterator[DevProcess]:
    """`subgate dev` that the test kills itself; only collected on the way out."""
    log = cwd / f"dev-crash-{time.monotonic_ns()}.log"
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
        dev.read_banner(want_key=True)
        yield dev
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def test_dev_killed_with_its_redis_mid_backlog_loses_nothing(tmp_path: Path) -> None:
    env = dev_env(tmp_path, **SLOW)
    redis_dir = Path(env["SUBGATE_DATA_DIR"]) / "redis"
    with stopping_shared_redis(redis_dir):
        async with running_receiver() as receiver:
            with _crashing_dev(env, tmp_path) as first:
                assert first.api_key is not None
                async with _merchant(first.base_url, first.api_key, receiver) as (client, webhook_url):
                    await _post_backlog(client, webhook_url)

                    async def started() -> bool:
                        return len(receiver.received) >= MESSAGES // 10

                    await eventually(started, "dev is delivering")
                    redis_pid = serving_pid(redis_dir)
                    assert redis_pid is not None
                    os.kill(redis_pid, signal.SIGKILL)
                    first.process.kill()  # the whole service crashes along with its Redis
                    first.process.wait()
            assert len(_message_ids(receiver)) < MESSAGES

            with running_dev(env, tmp_path, want_key=False) as second:

                async def all_arrived() -> bool:
                    return len(_message_ids(receiver)) == MESSAGES

                await eventually(all_arrived, "every message arrived", deadline_seconds=120)
                assert second.process.poll() is None, second.log_tail()
