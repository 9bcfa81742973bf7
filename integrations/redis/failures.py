"""Failed authentications per client, counted in Redis (shared by every `serve` process).

The gateway's `FailureCounter` port: `spend` counts one failure of an identity (a client
address or network) and says how long that identity's budget stays spent, once it is. Counts
are moving windows of the `limits` library under their own key prefix, kept by Redis only as
long as their window, so what a client rotating addresses costs Redis is bounded by the
failures it can make in one window.

While Redis cannot be reached, failures are counted in this process's memory instead
(`MemoryFailureCounter`, bounded): the throttle keeps working, each process on its own. The
switch is logged once each way, and Redis is asked again only every few seconds meanwhile.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Final

from limits import RateLimitItem
from limits.aio.strategies import MovingWindowRateLimiter

from integrations.redis.windows import PROBE_INTERVAL_SECONDS, RedisAway, RedisWindows

_KEY_PREFIX: Final = "subgate:authfail"
# Identities the in-memory fallback remembers at most; the least recently failing are forgotten
# first. Forgetting one gives it a fresh budget, which a new address would have had anyway.
MAX_REMEMBERED: Final = 10_000


class MemoryFailureCounter:
    """The same moving windows in this process's memory, for at most `max_identities` identities."""

    def __init__(
        self,
        limits: Sequence[RateLimitItem],
        *,
        max_identities: int = MAX_REMEMBERED,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not limits:
            raise ValueError("a failure counter needs at least one limit")
        self._limits = tuple(limits)
        self._max = max_identities
        self._monotonic = monotonic
        # identity -> per limit, the times of its failures still inside that limit's window.
        self._failures: OrderedDict[str, tuple[deque[float], ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    async def spend(self, identity: str) -> float | None:
        now = self._monotonic()
        windows = self._failures.pop(identity, None)
        if windows is None:
            windows = tuple(deque[float](maxlen=item.amount) for item in self._limits)
            while len(self._failures) >= self._max:
                self._failures.popitem(last=False)
        self._failures[identity] = windows  # the most recent last
        waits = []
        for item, times in zip(self._limits, windows, strict=True):
            window = item.get_expiry()
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) < item.amount:
                times.append(now)
            if len(times) >= item.amount:
                waits.append(times[0] + window - now)
        return max(waits, default=None)


class RedisFailureCounter:
    def __init__(
        self,
        redis_url: str,
        limits: Sequence[RateLimitItem],
        fallback: MemoryFailureCounter,
        *,
        probe_interval: float = PROBE_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fallback = fallback
        self._windows = RedisWindows(
            redis_url,
            limits,
            key_prefix=_KEY_PREFIX,
            outage=("auth_failures_counted_locally", "auth_failures_counted_in_redis_again"),
            probe_interval=probe_interval,
            monotonic=monotonic,
        )

    async def spend(self, identity: str) -> float | None:
        """Count one failure of `identity`: None while it has failures left in every window,
        else seconds until its oldest counted failure leaves the window that is full."""
        try:
            return await self._windows.count(identity, _spent)
        except RedisAway:
            return await self._fallback.spend(identity)

    async def aclose(self) -> None:
        await self._windows.aclose()


async def _spent(
    limiter: MovingWindowRateLimiter, limits: tuple[RateLimitItem, ...], identity: str
) -> float | None:
    waits = []
    for item in limits:
        counted = await limiter.hit(item, identity)
        stats = await limiter.get_window_stats(item, identity)
        if not counted or stats.remaining == 0:
            waits.append(max(0.0, stats.reset_time - time.time()))
    return max(waits, default=None)
