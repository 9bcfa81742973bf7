"""`subgate serve`/`worker`/`dev` as background processes, and the few things tests do through them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis.asyncio
from arq.constants import default_queue_name, health_check_key_suffix

from integrations.providers.stripe.samples import signed_headers, subscription_event
from integrations.redis.client import redis_client

STOP_DEADLINE_S = 30.0
DEFAULT_DEADLINE_S = 30.0
STRIPE_SECRET = "whsec_outage_stripe_secret"


@dataclass
class SubgateProcess:
    """One running `subgate COMMAND`; its stdout and stderr go to `log`."""

    command: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def logged(self, event: str) -> bool:
        """Whether a JSON log line with this event name was written."""
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("event") == event:
                    return True
        return False

    def kill(self) -> None:
        """SIGKILL, like a crash or the OOM killer: no clean-up code runs."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM, as a process manager would; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@contextlib.contextmanager
def running_subgate(command: str, env: dict[str, str], cwd: Path) -> Iterator[SubgateProcess]:
    """`subgate COMMAND` in the background; on exit SIGTERMed, and then it must exit 0.

    A process the test killed itself is only collected.
    """
    log = cwd / f"{command}-{time.monotonic_ns()}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "subgate", command],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = SubgateProcess(command=command, process=process, log=log)
    try:
        yield running
    finally:
        if running.alive:
            code = running.stop()
            assert code == 0, f"subgate {command} exited {code}: {running.log_tail()}"


async def eventually(
    condition: Callable[[], Awaitable[bool]],
    what: str,
    deadline_seconds: float = DEFAULT_DEADLINE_S,
    interval_seconds: float = 0.05,
) -> None:
    """Poll `condition` until it holds; fail with `what` once the deadline passes."""
    deadline = time.monotonic() + deadline_seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(interval_seconds)  # polling a condition, bounded by the deadline above


async def connect_stripe(client: httpx.AsyncClient) -> str:
    """Register a Stripe connection; its webhook URL."""
    response = await client.post(
        "/v1/connections", json={"provider": "stripe", "webhook_secrets": [STRIPE_SECRET]}
    )
    assert response.status_code == 201, response.text
    url: str = response.json()["webhook_url"]
    return url


async def post_subscription_created(client: httpx.AsyncClient, webhook_url: str, subscription_id: str) -> str:
    """Post a signed `customer.subscription.created` event; the status the gateway answered."""
    body = subscription_event(
        "customer.subscription.created", event_id=f"evt_{subscription_id}", sub_id=subscription_id
    )
    response = await client.post(
        webhook_url, content=body, headers=signed_headers(body, STRIPE_SECRET, int(time.time()))
    )
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def wait_for_subscription(client: httpx.AsyncClient, subscription_id: str) -> None:
    """Wait until a worker has applied the event that creates `subscription_id`."""

    async def applied() -> bool:
        found = await client.get("/v1/subscriptions", params={"provider_subscription_id": subscription_id})
        return found.status_code == 200 and len(found.json()["data"]) == 1

    await eventually(applied, f"subscription {subscription_id} is applied")


async def wait_for_arq_worker(redis_url: str) -> None:
    """Queue an arq `wake` job and wait until a worker has taken it off the queue.

    Only that job: the queue itself is seldom empty, since the scheduler's cron job is queued
    ahead of each tick. Queued as the service queues it: as JSON.
    """
    pool = redis_client(redis_url)
    try:
        job = await pool.enqueue_job("wake", "inbound")
        assert job is not None

        async def consumed() -> bool:
            return await pool.zscore(default_queue_name, job.job_id) is None

        await eventually(consumed, "an arq worker has taken the wake job")
    finally:
        await pool.aclose()


async def arq_health_recorded(redis_url: str) -> bool:
    """Whether an arq worker's health-check key is in Redis (written while it runs)."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        found: int = await client.exists(default_queue_name + health_check_key_suffix)
    finally:
        await client.aclose()
    return found == 1


async def readiness(base_url: str) -> tuple[int, dict[str, bool]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        response = await http.get("/readyz")
    checks: dict[str, bool] = response.json()["checks"]
    return response.status_code, checks
