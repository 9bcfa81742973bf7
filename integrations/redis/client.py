"""The Redis client every process shares: arq's flavour, connecting lazily, jobs as JSON.

Nothing here connects at construction: a process starts (and keeps running) while
Redis is away, and the first command reconnects once it is back. The URL carries the
password (`subgate.redis.url`); jobs this client queues or reads are JSON
(`integrations.redis.jobs`), never pickles.
"""

from __future__ import annotations

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from integrations.redis.jobs import job_from_json, job_to_json

SOCKET_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2.0


def redis_client(url: str) -> ArqRedis:
    client: ArqRedis = ArqRedis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=15,
    )
    # Set afterwards: `from_url` hands its keyword arguments to the connections, not to arq.
    client.job_serializer = job_to_json
    client.job_deserializer = job_from_json
    return client


async def ping(client: ArqRedis) -> bool:

    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
