"""Failed authentications per client address on a real Redis: counted there across every `serve`
process, each count kept only as long as its window, and still counted (in each process's
memory) while Redis cannot be reached."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from gateway.app import create_app
from integrations.redis.failures import MemoryFailureCounter, RedisFailureCounter
from integrations.redis.ratelimit import parse_rate_limit
from integrations.redis.windows import PROBE_INTERVAL_SECONDS
from subgate.bootstrap import Deps, build, migrate
from subgate.settings import load_settings
from tests.support.mongo import collect_abandoned_sockets
from tests.support.redis import CrashableRedis

WRONG = {"authorization": "Bearer sg_" + "w" * 43}


class SteppedMonotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connects are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def unique_client() -> str:
    """An address no other test counted failures for (the session's Redis keeps counts)."""
    return f"2001:db8:{uuid.uuid4().int % 0xFFFF:x}:{uuid.uuid4().int % 0xFFFF:x}::1"


@asynccontextmanager
async def serve_process(
    data_dir: Path, redis_url: str, limit: str, client: str
) -> AsyncIterator[tuple[Deps, httpx.AsyncClient]]:
    """What one `subgate serve` builds (its own Deps and app) on a shared SQLite file and Redis;
    `client` is the address its requests come from."""
    settings = load_settings(
        {"SUBGATE_DATA_DIR": str(data_dir), "SUBGATE_AUTH_FAILURE_LIMIT": limit}, dotenv=None
    )
    deps = await build(settings, redis_url=redis_url)
    try:
        await migrate(deps.store)
        transport = httpx.ASGITransport(app=create_app(deps.gateway), client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://subgate.test") as http:
            yield deps, http
    finally:
        await deps.close()
        collect_abandoned_sockets()


async def statuses(client: httpx.AsyncClient, times: int) -> list[int]:
    return [(await client.get("/v1/connections", headers=WRONG)).status_code for _ in range(times)]


async def test_every_process_counts_into_the_same_budget(tmp_path: Path, redis_url: str) -> None:
    limit, client = "3/minute", unique_client()
    async with AsyncExitStack() as stack:
        first_deps, first = await stack.enter_async_context(serve_process(tmp_path, redis_url, limit, client))
        _, second = await stack.enter_async_context(serve_process(tmp_path, redis_url, limit, client))
        _, api_key = await first_deps.admin.create_merchant("Acme")

        on_first = await statuses(first, 2)
        on_second = await statuses(second, 1)  # the third failure, counted in the same window
        second_after = await second.get("/v1/connections", headers=WRONG)
        # The first process learns at its own next failure: one look-up more, then refused.
        first_after = await statuses(first, 2)
        valid_unseen = await second.get("/v1/connections", headers={"authorization": f"Bearer {api_key}"})

    assert on_first == [401, 401]
    assert on_second == [401]
    assert second_after.status_code == 429
    assert first_after == [401, 429]
    assert valid_unseen.status_code == 429


async def test_redis_keeps_each_count_only_as_long_as_its_window(redis_url: str) -> None:
    identity = unique_client()
    counter = RedisFailureCounter(
        redis_url, parse_rate_limit("3/minute"), MemoryFailureCounter(parse_rate_limit("3/minute"))
    )
    redis: Redis = Redis.from_url(redis_url)
    try:
        spent = [await counter.spend(identity) for _ in range(4)]
        keys = [key async for key in redis.scan_iter(match=f"subgate:authfail*{identity}*")]
        ttls = [await redis.ttl(key) for key in keys]
    finally:
        await redis.aclose()
        await counter.aclose()

    assert spent[:2] == [None, None]
    assert spent[2] is not None
    assert 55 < spent[2] <= 60  # the third failure spends the budget until the first leaves
    assert spent[3] is not None
    assert len(keys) == 1
    assert all(0 < ttl <= 60 for ttl in ttls)


async def test_with_redis_unreachable_each_process_counts_in_its_own_memory(
    tmp_path: Path, closed_port: int
) -> None:
    with capture_logs() as logs:
        unreachable = f"redis://127.0.0.1:{closed_port}/0"
        async with serve_process(tmp_path, unreachable, "2/minute", unique_client()) as (_, client):
            answers = await statuses(client, 4)

    assert answers == [401, 401, 429, 429]
    assert [entry["event"] for entry in logs].count("auth_failures_counted_locally") == 1


async def test_counting_moves_back_to_redis_once_it_answers_again(tmp_path: Path) -> None:
    monotonic = SteppedMonotonic()
    limits = parse_rate_limit("2/minute")
    with CrashableRedis(tmp_path / "redis") as server:
        counter = RedisFailureCounter(server.url, limits, MemoryFailureCounter(limits), monotonic=monotonic)
        try:
            with capture_logs() as logs:
                server.kill()
                during = [await counter.spend("during") for _ in range(2)]
                server.start()
                monotonic.now += PROBE_INTERVAL_SECONDS
                after = [await counter.spend("after") for _ in range(2)]
                redis: Redis = Redis.from_url(server.url)
                try:
                    in_redis = [key async for key in redis.scan_iter(match="subgate:authfail*after*")]
                finally:
                    await redis.aclose()
        finally:
            await counter.aclose()

    assert during[0] is None
    assert during[1] is not None  # counted in memory: the budget is spent all the same
    assert after[0] is None
    assert after[1] is not None
    assert len(in_redis) == 1
    events = [entry["event"] for entry in logs]
    assert events.count("auth_failures_counted_locally") == 1
    assert events.count("auth_failures_counted_in_redis_again") == 1


async def test_a_zero_limit_turns_the_throttle_off(tmp_path: Path, redis_url: str) -> None:
    async with serve_process(tmp_path, redis_url, "0", unique_client()) as (deps, client):
        answers = await statuses(client, 5)

    assert deps.auth_failures is None
    assert answers == [401] * 5
