"""Rate limits per API key on a real Redis: counted there, 429 + Retry-After past the budget, and
open (every request goes through, the outage logged once) while Redis cannot be reached."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import httpx
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.ratelimit import key_identity
from integrations.redis.ratelimit import RedisRateLimiter, parse_rate_limit
from integrations.redis.windows import PROBE_INTERVAL_SECONDS
from subgate.bootstrap import Deps, build, migrate
from subgate.settings import load_settings
from tests.support.mongo import collect_abandoned_sockets
from tests.support.redis import CrashableRedis

ENDPOINT = {"url": "http://127.0.0.1:9/hooks"}


class SteppedMonotonic:
    """A monotonic clock the test moves by hand (the limiter's outage back-off reads it)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound (so nobody else takes it) but not listening: connects are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@asynccontextmanager
async def running(
    tmp_path: Path, redis_url: str, rate_limit: str
) -> AsyncIterator[tuple[Deps, httpx.AsyncClient]]:
    """The app as the composition root builds it, on SQLite, with the given SUBGATE_RATE_LIMIT."""
    settings = load_settings(
        {
            "SUBGATE_DATA_DIR": str(tmp_path),
            "SUBGATE_ALLOW_PRIVATE_TARGETS": "true",
            "SUBGATE_RATE_LIMIT": rate_limit,
        },
        dotenv=None,
    )
    deps = await build(settings, redis_url=redis_url)
    try:
        await migrate(deps.store)
        transport = httpx.ASGITransport(app=create_app(deps.gateway), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://subgate.test") as client:
            yield deps, client
    finally:
        await deps.close()
        collect_abandoned_sockets()


async def new_key(deps: Deps) -> dict[str, str]:
    _, api_key = await deps.admin.create_merchant(f"Merchant {uuid.uuid4().hex[:6]}")
    return {"authorization": f"Bearer {api_key}"}


async def stored_endpoints(deps: Deps) -> int:
    async with deps.store.session() as session:
        return len(await session.find("endpoints", {}, limit=100))


async def test_redis_counts_each_identity_and_the_limiter_says_how_long_to_wait(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, parse_rate_limit("3/minute"))
    me, other = f"id-{uuid.uuid4().hex}", f"id-{uuid.uuid4().hex}"
    redis: Redis = Redis.from_url(redis_url)
    try:
        allowed = [await limiter.hit(me) for _ in range(3)]
        refused = await limiter.hit(me)
        other_allowed = await limiter.hit(other)
        [counter] = [key async for key in redis.scan_iter(match=f"subgate:ratelimit*{me}*")]
        # One list entry per counted request (redis-py types LLEN for its sync and async clients alike).
        counted = await cast("Awaitable[int]", redis.llen(counter))
    finally:
        await redis.aclose()
        await limiter.aclose()

    assert allowed == [None, None, None]
    assert refused is not None
    assert 0 < refused <= 60
    assert other_allowed is None
    assert counted == 3  # the refused request took no slot


async def test_past_its_budget_a_key_gets_429_with_retry_after_and_nothing_is_created(
    tmp_path: Path, redis_url: str
) -> None:
    async with running(tmp_path, redis_url, "2/minute") as (deps, client):
        auth, other_auth = await new_key(deps), await new_key(deps)
        first = await client.post("/v1/endpoints", json=ENDPOINT, headers=auth)
        second = await client.get("/v1/endpoints", headers=auth)
        refused = await client.post("/v1/endpoints", json=ENDPOINT, headers=auth)
        other = await client.get("/v1/endpoints", headers=other_auth)
        webhooks = [
            (await client.post("/webhooks/stripe/conn_missing", json={})).status_code for _ in range(4)
        ]
        endpoints = await stored_endpoints(deps)

    assert (first.status_code, second.status_code, other.status_code) == (201, 200, 200)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert webhooks == [404] * 4  # provider webhooks carry no API key and are never limited
    assert endpoints == 1


async def test_a_zero_limit_turns_rate_limiting_off(tmp_path: Path, redis_url: str) -> None:
    async with running(tmp_path, redis_url, "0") as (deps, client):
        auth = await new_key(deps)
        answers = [(await client.get("/v1/endpoints", headers=auth)).status_code for _ in range(5)]

    assert deps.rate_limiter is None
    assert answers == [200] * 5


async def test_with_redis_unreachable_the_api_stays_open_and_the_outage_is_logged_once(
    tmp_path: Path, closed_port: int
) -> None:
    with capture_logs() as logs:
        async with running(tmp_path, f"redis://127.0.0.1:{closed_port}/0", "1/minute") as (deps, client):
            auth = await new_key(deps)
            answers = [
                (await client.post("/v1/endpoints", json=ENDPOINT, headers=auth)).status_code
                for _ in range(3)
            ]
            endpoints = await stored_endpoints(deps)

    assert answers == [201, 201, 201]
    assert endpoints == 3
    assert [entry["event"] for entry in logs].count("rate_limit_unchecked") == 1


async def test_an_outage_is_logged_once_however_often_redis_is_tried_again(closed_port: int) -> None:
    monotonic = SteppedMonotonic()
    limiter = RedisRateLimiter(
        f"redis://127.0.0.1:{closed_port}/0", parse_rate_limit("1/minute"), monotonic=monotonic
    )
    try:
        with capture_logs() as logs:
            answers = [await limiter.hit(key_identity("sg_key"))]
            for _ in range(3):
                monotonic.now += PROBE_INTERVAL_SECONDS  # each of these asks Redis again
                answers.append(await limiter.hit(key_identity("sg_key")))
    finally:
        await limiter.aclose()

    assert answers == [None] * 4
    [logged] = [entry for entry in logs if entry["event"] == "rate_limit_unchecked"]
    assert (logged["log_level"], logged["error"]) == ("warning", "ConnectionError")


async def test_limits_apply_again_once_redis_is_back(tmp_path: Path) -> None:
    monotonic = SteppedMonotonic()
    with CrashableRedis(tmp_path / "redis") as server:
        limiter = RedisRateLimiter(server.url, parse_rate_limit("1/minute"), monotonic=monotonic)
        try:
            with capture_logs() as logs:
                before = [await limiter.hit("before") for _ in range(2)]
                server.kill()
                during = [await limiter.hit("during") for _ in range(2)]
                server.start()
                skipped = await limiter.hit("after")  # within the back-off: Redis is not asked yet
                monotonic.now += PROBE_INTERVAL_SECONDS
                after = [await limiter.hit("after") for _ in range(2)]
        finally:
            await limiter.aclose()

    assert before[0] is None
    assert before[1] is not None
    assert during == [None, None]
    assert skipped is None
    assert after[0] is None
    assert after[1] is not None
    events = [entry["event"] for entry in logs]
    assert events.count("rate_limit_unchecked") == 1
    assert events.count("rate_limit_checked_again") == 1
