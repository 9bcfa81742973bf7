"""Work signals: how a process tells workers "look at the store now".

`LocalSignal` wakes the worker loops of this process (in `subgate dev` the gateway and
the workers share one). `RedisSignal` publishes on a Redis channel for workers in other
processes, and `listen` relays that channel into a `LocalSignal`. Every piece is best
effort: the store is the queue of record and workers poll it, so a lost signal only
delays work until the next poll, and no Redis error ever reaches a caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.shared.work import WorkKind

log = structlog.get_logger()

CHANNEL = "subgate:work"
_FIRST_BACKOFF_SECONDS = 0.1
_MAX_BACKOFF_SECONDS = 5.0


class LocalSignal:
    """Per-kind wake-up callbacks registered by this process's worker loops."""

    def __init__(self) -> None:
        self._listeners: dict[WorkKind, list[Callable[[], None]]] = {kind: [] for kind in WorkKind}

    def subscribe(self, kind: WorkKind, wake: Callable[[], None]) -> None:
        self._listeners[kind].append(wake)

    def notify(self, kind: WorkKind) -> None:
        for wake in self._listeners[kind]:
            wake()


class RedisSignal:
    """Publishes wake-ups on Redis, coalesced: one message per kind per round trip.

    `notify` only marks the kind; a background task publishes what was marked while
    the previous publish was in flight, so a burst of events costs a few messages.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._marked: set[WorkKind] = set()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def notify(self, kind: WorkKind) -> None:
        self._marked.add(kind)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._publish())

    async def _publish(self) -> None:
        while self._marked:
            kinds, self._marked = self._marked, set()
            try:
                for kind in kinds:
                    await self._redis.publish(CHANNEL, kind.value)
            except (RedisError, OSError) as error:
                if not self._failing:
                    log.warning("work_signal_failed", error=str(error), fallback="workers poll the store")
                self._failing = True
                return
            if self._failing:
                log.info("work_signal_restored")
                self._failing = False

    async def settle(self) -> None:
        """Wait until what was marked so far has been published (or has failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class FanOutSignal:
    def __init__(self, signals: Iterable[LocalSignal | RedisSignal]) -> None:
        self._signals = tuple(signals)

    def notify(self, kind: WorkKind) -> None:
        for signal in self._signals:
            signal.notify(kind)


async def listen(redis: Redis, local: LocalSignal, stop: asyncio.Event) -> None:
    """Relay the Redis channel into `local` until `stop`; reconnects after any Redis failure."""
    backoff = _FIRST_BACKOFF_SECONDS
    while not stop.is_set():
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            if backoff > _FIRST_BACKOFF_SECONDS:
                log.info("work_signal_listening", channel=CHANNEL)
            backoff = _FIRST_BACKOFF_SECONDS
            # Every subscription start is a chance that signals were missed: look now.
            for kind in WorkKind:
                local.notify(kind)
            while not stop.is_set():
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                with contextlib.suppress(ValueError):
                    local.notify(WorkKind(_text(message.get("data"))))
        except (RedisError, OSError) as error:
            log.warning("work_signal_unavailable", error=str(error), retry_in=round(backoff, 2))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff * random.uniform(0.8, 1.2))  # noqa: S311 - jitter only
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def _text(data: object) -> str:
    return data.decode() if isinstance(data, bytes) else str(data)
