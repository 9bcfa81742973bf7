"""The Redis client every process shares: arq's flavour, connecting lazily.

Nothing here connects at construction: a process starts (and keeps running) while
Redis is away, and the first command reconnects once it is back.
"""

from __future__ import annotations

from arq.connections import ArqRedis
from redis.exceptions import RedisError

SOCKET_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2.0


def redis_client(url: str) -> ArqRedis:
    client: ArqRedis = ArqRedis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=15,
    )
    return client


async def ping(client: ArqRedis) -> bool:

    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
