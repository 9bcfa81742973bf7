"""An asyncio event loop whose clock is virtual: time passes only when every task is waiting.

Whenever nothing is ready to run, the clock jumps straight to the next timer, so a minute-long
poll costs nothing, and a deadline cannot pass because the machine is busy: virtual time does
not move while anything can still run. That makes "nothing happened until the poll" a
deterministic check: when `advance(seconds)` returns, every timer due before then has fired and
all the work it set off has run (the clock jumps only once nothing can run), so what has not
happened could not have happened by then.

Real I/O still works (a thread finishing wakes the loop as usual); the clock only jumps when
no I/O is ready at that moment. With no timer pending at all, the loop blocks for real.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

__all__ = ["VirtualTimeLoop", "advance", "in_virtual_time"]

P = ParamSpec("P")


class _JumpingSelector(selectors.DefaultSelector):
    """The loop's selector: a wait with nothing ready moves the clock instead of the wall clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            return super().select(None)  # no timer at all: only real I/O can wake the loop
        ready = super().select(0)
        if not ready and timeout > 0:
            self.now += timeout  # the loop asks to wait until its next timer: jump there
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


async def advance(seconds: float) -> None:
    """Let `seconds` of virtual time pass: all that was due before then has run when this returns."""
    await asyncio.sleep(seconds)


def in_virtual_time(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test on a fresh `VirtualTimeLoop` (the test itself becomes a plain function)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
            runner.run(test(*args, **kwargs))

    return run
