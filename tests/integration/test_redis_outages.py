"""Losing Redis, or the process that started the embedded one, stops no process and loses no work.

Each test runs the real commands as a user would (`subgate serve`, `worker`, `dev`) on
their own data dir, then crashes Redis (or a process) with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from subgate.redis.embedded import serving_pid
from tests.support.cli import dev_env, run_cli, running_dev, wait_until_healthy
from tests.support.receiver import running_receiver
from tests.support.redis import CrashableRedis, stopping_shared_redis
from tests.support.service_processes import (
    arq_health_recorded,
    connect_stripe,
    eventually,
    post_subscription_created,
    readiness,
    running_subgate,
    wait_for_arq_worker,
    wait_for_subscription,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finding the embedded server reads /proc")


async def _merchant_key(env: dict[str, str], cwd: Path) -> str:
    created = json.loads(await run_cli("merchants", "create", "Outage test", env=env, cwd=cwd))
    key: str = created["api_key"]
    return key


def _base_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['SUBGATE_PORT']}"


async def test_the_worker_rides_out_a_redis_crash_and_restart(tmp_path: Path) -> None:
    with CrashableRedis(tmp_path / "external-redis") as redis_server:
        env = dev_env(tmp_path, SUBGATE_REDIS_URL=redis_server.url)
        api_key = await _merchant_key(env, tmp_path)
        with (
            running_subgate("serve", env, tmp_path) as serve,
            running_subgate("worker", env, tmp_path) as worker,
        ):
            base_url = _base_url(env)
            await wait_until_healthy(base_url)
            auth = {"authorization": f"Bearer {api_key}"}
            async with httpx.AsyncClient(base_url=base_url, headers=auth, timeout=10) as client:
                webhook_url = await connect_stripe(client)
                await wait_for_arq_worker(redis_server.url)

                redis_server.kill()

                async def worker_saw_it() -> bool:
                    return worker.logged("redis_unavailable")

                await eventually(worker_saw_it, "the worker reports Redis unavailable")
                assert worker.alive, worker.log_tail()
                # The gateway answers as usual: the store, not Redis, holds accepted events.
                assert await readiness(base_url) == (503, {"store": True, "redis": False})
                assert await post_subscription_created(client, webhook_url, "sub_during_outage") == "accepted"

                redis_server.start()  # same port, as a process manager would bring it back

                await wait_for_arq_worker(redis_server.url)
                await wait_for_subscription(client, "sub_during_outage")
                assert await post_subscription_created(client, webhook_url, "sub_after_outage") == "accepted"
                await wait_for_subscription(client, "sub_after_outage")
                assert await readiness(base_url) == (200, {"store": True, "redis": True})
                assert await arq_health_recorded(redis_server.url)
            assert worker.alive, worker.log_tail()
            assert serve.alive, serve.log_tail()
        # Stopped cleanly (exit status 0, checked on leaving), the worker took its health key along.
        assert not await arq_health_recorded(redis_server.url)


async def test_killing_the_process_that_started_the_embedded_redis_leaves_it_to_the_others(
    tmp_path: Path,
) -> None:
    env = dev_env(tmp_path)
    redis_dir = Path(env["SUBGATE_DATA_DIR"]) / "redis"
    with stopping_shared_redis(redis_dir) as shared, running_subgate("serve", env, tmp_path) as serve:
        await wait_until_healthy(_base_url(env))
        url = shared.url()
        redis_pid = serving_pid(redis_dir)
        assert url is not None
        assert redis_pid is not None
        with running_subgate("worker", env, tmp_path) as worker:
            await wait_for_arq_worker(url)

            serve.kill()

            # The same server goes on (not a restarted one), and the worker with it.
            await wait_for_arq_worker(url)
            assert serving_pid(redis_dir) == redis_pid
            assert shared.url() == url
            assert worker.alive, worker.log_tail()
        # The worker was the last process using it: stopping cleanly, it stopped the server.
        assert shared.url() is None


async def test_dev_keeps_working_when_its_embedded_redis_is_killed(tmp_path: Path) -> None:
    env = dev_env(tmp_path, SUBGATE_ALLOW_PRIVATE_TARGETS="true")
    redis_dir = Path(env["SUBGATE_DATA_DIR"]) / "redis"
    with stopping_shared_redis(redis_dir) as shared, running_dev(env, tmp_path) as dev:
        assert dev.api_key is not None
        await wait_until_healthy(dev.base_url)
        auth = {"authorization": f"Bearer {dev.api_key}"}
        async with (
            httpx.AsyncClient(base_url=dev.base_url, headers=auth, timeout=10) as client,
            running_receiver() as receiver,
        ):
            webhook_url = await connect_stripe(client)
            endpoint = await client.post("/v1/endpoints", json={"url": receiver.url})
            assert endpoint.status_code == 201, endpoint.text
            url = shared.url()
            killed = serving_pid(redis_dir)
            assert url is not None
            assert killed is not None

            os.kill(killed, signal.SIGKILL)

            async def restarted() -> bool:
                return serving_pid(redis_dir) not in (None, killed) and shared.url() == url

            await eventually(restarted, "the watchdog has restarted the embedded Redis on its port")
            await wait_for_arq_worker(url)
            assert await post_subscription_created(client, webhook_url, "sub_after_crash") == "accepted"
            await wait_for_subscription(client, "sub_after_crash")
            await receiver.wait_for(1)
            assert dev.process.poll() is None, dev.log_tail()
    # `dev` was its only user: stopping cleanly, it stopped the server.
    assert shared.url() is None
