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
from typing import Final

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter

from integrations.redis.windows import PROBE_INTERVAL_SECONDS, RedisAway, RedisWindows

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
        self._windows = RedisWindows(
            redis_url,
            limits,
            key_prefix=_KEY_PREFIX,
            outage=("rate_limit_unchecked", "rate_limit_checked_again"),
            probe_interval=probe_interval,
            monotonic=monotonic,
        )

    async def hit(self, identity: str) -> float | None:
        """Count one request of `identity`: None when allowed, else seconds until one would be."""
        try:
            return await self._windows.count(identity, _first_full)
        except RedisAway:
            return None  # fails open: a missing counter must not take the API down with it

    async def aclose(self) -> None:
        await self._windows.aclose()


async def _first_full(
    limiter: MovingWindowRateLimiter, limits: tuple[RateLimitItem, ...], identity: str
) -> float | None:
    for item in limits:
        if not await limiter.hit(item, identity):
            stats = await limiter.get_window_stats(item, identity)
            # The oldest request in the window leaves it at `reset_time`, freeing a slot.
            return max(0.0, stats.reset_time - time.time())
    return None
