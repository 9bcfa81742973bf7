"""`supervise` keeps a Redis-bound loop running through connection errors, with capped backoff."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError
from structlog.testing import capture_logs

from subgate.supervise import Backoff, pause_unless_stopped, supervise

NO_JITTER = Backoff(initial=0.2, cap=1.0, jitter=0.5, rand=lambda: 0.0)


class FlakyLoop:
    """A run_once that fails with the given errors, one per call, then returns."""

    def __init__(self, *errors: BaseException) -> None:
        self._errors = list(errors)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self._errors:
            raise self._errors.pop(0)


class RecordedPauses:
    """Stands in for the pause between runs: remembers each delay, returns at once."""

    def __init__(self, *, stop_after: int | None = None) -> None:
        self.delays: list[float] = []
        self._stop_after = stop_after

    async def __call__(self, seconds: float, stop: asyncio.Event) -> None:
        self.delays.append(seconds)
        if self._stop_after is not None and len(self.delays) >= self._stop_after:
            stop.set()


class SteppingClock:
    """Each reading is `step` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_reruns_after_connection_errors_until_the_run_returns() -> None:
    loop = FlakyLoop(RedisConnectionError("Connection refused"), OSError("reset"), RedisTimeoutError("slow"))
    pauses = RecordedPauses()

    with capture_logs() as logs:
        await supervise("arq_worker", loop, asyncio.Event(), backoff=NO_JITTER, pause=pauses)

    assert loop.calls == 4
    assert pauses.delays == [0.2, 0.4, 0.8]
    warnings = [entry for entry in logs if entry["event"] == "redis_unavailable"]
    assert [entry["log_level"] for entry in warnings] == ["warning"] * 3
    assert warnings[0]["component"] == "arq_worker"
    assert warnings[0]["error"] == "ConnectionError: Connection refused"
    assert [entry["failures"] for entry in warnings] == [1, 2, 3]


def test_delays_double_up_to_the_cap_and_jitter_only_shortens_them() -> None:
    assert [NO_JITTER.delay(n) for n in range(1, 7)] == [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    full_jitter = Backoff(initial=0.2, cap=1.0, jitter=0.5, rand=lambda: 1.0)
    assert [full_jitter.delay(n) for n in (1, 4)] == [0.1, 0.5]
    # However long the outage, the exponent never overflows.
    assert NO_JITTER.delay(10_000) == 1.0


async def test_stop_during_the_pause_ends_the_supervision() -> None:
    loop = FlakyLoop(*[RedisConnectionError("down")] * 10)
    pauses = RecordedPauses(stop_after=2)

    await supervise("arq_worker", loop, asyncio.Event(), backoff=NO_JITTER, pause=pauses)

    assert loop.calls == 2


async def test_a_failure_while_stopping_is_not_retried_or_reported() -> None:
    stop = asyncio.Event()

    async def fails_as_it_stops() -> None:
        stop.set()
        raise RedisConnectionError("closed under us")

    pauses = RecordedPauses()
    with capture_logs() as logs:
        await supervise("arq_worker", fails_as_it_stops, stop, pause=pauses)

    assert pauses.delays == []
    assert logs == []


async def test_other_errors_are_bugs_and_propagate() -> None:
    loop = FlakyLoop(RedisConnectionError("down"), ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        await supervise("arq_worker", loop, asyncio.Event(), backoff=NO_JITTER, pause=RecordedPauses())
    assert loop.calls == 2


async def test_a_run_that_lasted_starts_the_backoff_over() -> None:
    down = RedisConnectionError("down")
    backoff = Backoff(initial=0.2, cap=1.0, jitter=0.5, healthy_after=30.0, rand=lambda: 0.0)
    pauses = RecordedPauses()

    # Short runs fail in a row; then a run of 30 s (healthy) fails: back to the first delay.
    clock = SteppingClock(step=0.5)
    loop = FlakyLoop(down, down, down)

    async def run_once() -> None:
        if loop.calls == 2:
            clock.step = 30.0
        await loop()

    await supervise("arq_worker", run_once, asyncio.Event(), backoff=backoff, pause=pauses, clock=clock)

    assert pauses.delays == [0.2, 0.4, 0.2]


async def test_never_runs_once_stopped() -> None:
    stop = asyncio.Event()
    stop.set()
    loop = FlakyLoop()

    await supervise("arq_worker", loop, stop, pause=RecordedPauses())

    assert loop.calls == 0


async def test_the_default_pause_ends_as_soon_as_stop_is_set() -> None:
    stop = asyncio.Event()
    pausing = asyncio.create_task(pause_unless_stopped(3600, stop))
    stop.set()
    async with asyncio.timeout(5):
        await pausing
