"""Moving windows of the `limits` library, counted in Redis, and what a counter does while Redis is away.

The rate limiter (requests per API key) and the failed-authentication counter (per client
address) both count in Redis: each keeps its windows under a key prefix of its own, for as long
as a window lasts. When Redis cannot be asked, `count` raises `RedisAway` and the caller decides
(the rate limiter lets the request through, the failure counter counts in memory). The outage is
logged once when it starts and once when it ends, never per request, and while it lasts Redis is
asked again only every `probe_interval` seconds, so requests do not each wait for a connection
attempt to time out.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import structlog
from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError as LimitsStorageError
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

log = structlog.get_logger()

# A check sits in front of every API request: an unresponsive Redis must cost little.
CONNECT_TIMEOUT_SECONDS: Final = 0.5
SOCKET_TIMEOUT_SECONDS: Final = 1.0
# While Redis is unreachable, how long it goes unasked before it is tried again.
PROBE_INTERVAL_SECONDS: Final = 2.0

Measure = Callable[[MovingWindowRateLimiter, tuple[RateLimitItem, ...], str], Awaitable[float | None]]
"""Counts one hit of an identity in every window: None while it is within them all, else the
seconds until it would be."""


class RedisAway(Exception):
    """Redis cannot be asked now (it failed, or failed less than a probe interval ago)."""


class RedisWindows:
    def __init__(
        self,
        redis_url: str,
        limits: Sequence[RateLimitItem],
        *,
        key_prefix: str,
        outage: tuple[str, str],
        probe_interval: float = PROBE_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`outage`: the names of the log lines when Redis is lost and when it answers again."""
        if not limits:
            raise ValueError("a count in moving windows needs at least one limit")
        self.limits = tuple(limits)
        self._lost, self._back = outage
        self._pool: ConnectionPool = ConnectionPool.from_url(
            redis_url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=SOCKET_TIMEOUT_SECONDS
        )
        # `limits` types its pass-through options as scalars; a pool is what it documents for
        # `connection_pool`, so the options travel untyped. Our pool: we close it.
        options: dict[str, Any] = {"connection_pool": self._pool}
        storage = RedisStorage(
            f"async+{redis_url}", implementation="redispy", key_prefix=key_prefix, **options
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._probe_interval = probe_interval
        self._monotonic = monotonic
        self._away_until: float | None = None  # set while Redis is unreachable

    async def count(self, identity: str, measure: Measure) -> float | None:
        """`measure` of `identity` in Redis; raises RedisAway when Redis cannot be asked."""
        if self._away_until is not None and self._monotonic() < self._away_until:
            raise RedisAway
        try:
            wait = await measure(self._limiter, self.limits, identity)
        except (RedisError, LimitsStorageError, OSError, TimeoutError) as error:
            if self._away_until is None:
                log.warning(
                    self._lost, reason="redis_unreachable", error=type(error).__name__, detail=str(error)
                )
            self._away_until = self._monotonic() + self._probe_interval
            raise RedisAway from None
        if self._away_until is not None:
            self._away_until = None
            log.info(self._back)
        return wait

    async def aclose(self) -> None:
        await self._pool.aclose()
