"""Requests per API key, counted in Redis by the `limits` library (moving window).

The gateway's `RateLimiter` port. It fails open: when Redis cannot be asked, the request
goes through, because a missing counter must not take the API down with it. The outage
is logged once when it starts and once when it ends, never per request, and while it
lasts Redis is asked again only every few seconds, so requests do not each wait for a
connection attempt to time out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError as LimitsStorageError
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

log = structlog.get_logger()

# A rate check sits in front of every API request: an unresponsive Redis must cost little.
CONNECT_TIMEOUT_SECONDS: Final = 0.5
SOCKET_TIMEOUT_SECONDS: Final = 1.0
# While Redis is unreachable, how long requests go unchecked before it is tried again.
PROBE_INTERVAL_SECONDS: Final = 2.0
_KEY_PREFIX: Final = "subgate:ratelimit"
_DISABLED: Final = frozenset({"", "0"})


def parse_rate_limit(text: str) -> tuple[RateLimitItem, ...]:
    """`100/second`, `1000 per minute`, or several: `100/second;5000/hour`. `0` or empty: none.

    Raises ValueError for anything else, including a zero amount (it would refuse everything).
    """
    cleaned = text.strip()
    if cleaned in _DISABLED:
        return ()
    items = tuple(parse_many(cleaned))
    if any(item.amount < 1 for item in items):
        raise ValueError(f"every limit must allow at least one request, got {text!r}")
    return items


class RedisRateLimiter:
    def __init__(
        self,
        redis_url: str,
        limits: Sequence[RateLimitItem],
        *,
        probe_interval: float = PROBE_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not limits:
            raise ValueError("a rate limiter needs at least one limit")
        self._limits = tuple(limits)
        self._pool: ConnectionPool = ConnectionPool.from_url(
            redis_url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=SOCKET_TIMEOUT_SECONDS
        )
        # `limits` types its pass-through options as scalars; a pool is what it documents for
        # `connection_pool`, so the options travel untyped. Our pool: we close it.
        options: dict[str, Any] = {"connection_pool": self._pool}
        storage = RedisStorage(
            f"async+{redis_url}", implementation="redispy", key_prefix=_KEY_PREFIX, **options
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._probe_interval = probe_interval
        self._monotonic = monotonic
        self._unchecked_until: float | None = None  # set while Redis is unreachable

    async def hit(self, identity: str) -> float | None:
        """Count one request of `identity`: None when allowed, else seconds until one would be."""
        if self._unchecked_until is not None and self._monotonic() < self._unchecked_until:
            return None
        try:
            wait = await self._hit(identity)
        except (RedisError, LimitsStorageError, OSError, TimeoutError) as error:
            if self._unchecked_until is None:
                log.warning(
                    "rate_limit_unchecked",
                    reason="redis_unreachable",
                    error=type(error).__name__,
                    detail=str(error),
                )
            self._unchecked_until = self._monotonic() + self._probe_interval
            return None
        if self._unchecked_until is not None:
            self._unchecked_until = None
            log.info("rate_limit_checked_again")
        return wait

    async def _hit(self, identity: str) -> float | None:
        for item in self._limits:
            if not await self._limiter.hit(item, identity):
                stats = await self._limiter.get_window_stats(item, identity)
                # The oldest request in the window leaves it at `reset_time`, freeing a slot.
                return max(0.0, stats.reset_time - time.time())
        return None

    async def aclose(self) -> None:
        await self._pool.aclose()
