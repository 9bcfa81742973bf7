"""Keep a loop that needs Redis running across Redis outages.

Redis only runs arq here (cron, wake-ups); the database is the queue of record.
So a lost connection is no reason for a process to end: the loop is started
again, after a short capped and jittered pause, until the connection is back or
the process is asked to stop. `supervised_arq_worker` does this for the arq
Worker, building a fresh one for every run; while none runs, the scheduler's step
runs from this process's own loop (`workers.scheduling.SchedulerStandIn`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import structlog
from arq.worker import Worker
from redis.exceptions import RedisError

from workers.deps import WorkerDeps
from workers.runner import build_worker
from workers.scheduling import SchedulerStandIn

log = structlog.get_logger()

# A dropped or refused connection (redis' ConnectionError and TimeoutError are RedisErrors;
# the socket layer may also raise OSError, which includes the built-in TimeoutError).
CONNECTION_ERRORS: Final[tuple[type[BaseException], ...]] = (RedisError, OSError)

# How long stopping waits to delete the worker's health-check key from Redis.
_HEALTH_KEY_DELETE_TIMEOUT_S: Final = 2.0
# Past this many doublings the delay is at its cap anyway; stop growing the exponent.
_MAX_DOUBLINGS: Final = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Exponential delays from `initial` up to `cap` seconds, each shortened by a random share.

    The jitter keeps processes that lost the same Redis from all coming back at
    the same instant. A run that lasted `healthy_after` seconds counts as a
    recovery: the next failure starts again from `initial`.
    """

    initial: float = 0.2
    cap: float = 5.0
    jitter: float = 0.5
    healthy_after: float = 30.0
    rand: Callable[[], float] = random.random

    def delay(self, failures: int) -> float:
        """The pause after the `failures`-th failure in a row (1 for the first)."""
        full = min(self.cap, self.initial * 2.0 ** min(max(failures - 1, 0), _MAX_DOUBLINGS))
        return full * (1 - self.jitter * self.rand())


DEFAULT_BACKOFF: Final = Backoff()


async def pause_unless_stopped(seconds: float, stop: asyncio.Event) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def supervise(
    name: str,
    run_once: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    retry_on: tuple[type[BaseException], ...] = CONNECTION_ERRORS,
    backoff: Backoff = DEFAULT_BACKOFF,
    pause: Callable[[float, asyncio.Event], Awaitable[None]] = pause_unless_stopped,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run `run_once` until it returns or `stop` is set, starting it again after a `retry_on` error.

    Each failure is logged once (`redis_unavailable`) before the pause. Any
    other exception ends the supervision and propagates: it is a bug, not an
    outage.
    """
    failures = 0
    while not stop.is_set():
        started = clock()
        try:
            await run_once()
        except retry_on as error:
            if stop.is_set():
                return  # failing while being stopped is just stopping
            failures = 1 if clock() - started >= backoff.healthy_after else failures + 1
            delay = backoff.delay(failures)
            log.warning(
                "redis_unavailable",
                component=name,
                error=f"{type(error).__name__}: {error}",
                failures=failures,
                retry_in_seconds=round(delay, 3),
            )
            await pause(delay, stop)
        else:
            return


async def supervised_arq_worker(deps: WorkerDeps, stop: asyncio.Event) -> None:
    """The arq Worker of this process until `stop`, rebuilt after every Redis outage; meanwhile
    the scheduler keeps time from this process's own loop."""
    stand_in = SchedulerStandIn(deps, asyncio.Lock())
    covering = asyncio.create_task(stand_in.run(stop))
    try:
        await supervise("arq_worker", lambda: run_arq_worker(deps, stop, stand_in), stop)
    finally:
        if not stop.is_set():
            covering.cancel()  # supervision ended for another reason: so does the stand-in
        # When stopping, its step in progress ends on its own (a unit of work is not cut short).
        await asyncio.gather(covering, return_exceptions=True)


async def run_arq_worker(
    deps: WorkerDeps, stop: asyncio.Event, stand_in: SchedulerStandIn | None = None
) -> None:
    """Run one fresh arq Worker until `stop` is set; if it fails first, wind it down and raise why.

    The shared Redis pool is left open either way: it reconnects by itself, and the
    process closes it on the way out. `stand_in` hears when the Worker has reached Redis and
    when it stopped.
    """
    arq_worker = build_worker(
        deps,
        handle_signals=False,
        busy=None if stand_in is None else stand_in.busy,
        on_startup=None if stand_in is None else stand_in.redis_answered,
    )
    running = asyncio.ensure_future(arq_worker.async_run())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((running, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not running.done():
            running.cancel()
        if stand_in is not None:
            stand_in.redis_lost()
    await _wind_down(arq_worker, stopping=stop.is_set())
    with contextlib.suppress(asyncio.CancelledError):
        await running  # re-raises what ended the worker, for `supervise` to judge


async def _wind_down(arq_worker: Worker, *, stopping: bool) -> None:
    """arq's own `Worker.close()` without closing the pool: end the jobs in flight, run the hooks.

    A cancelled job is queued again by arq; its work is in the store anyway.
    """
    jobs = list(arq_worker.tasks.values())
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
    if stopping:
        # So that `arq --check` stops reporting this worker; an unreachable Redis must not hold us up.
        with contextlib.suppress(RedisError, OSError):
            await asyncio.wait_for(
                arq_worker.pool.delete(arq_worker.health_check_key), _HEALTH_KEY_DELETE_TIMEOUT_S
            )
    if arq_worker.on_shutdown is not None:
        await arq_worker.on_shutdown(arq_worker.ctx)
