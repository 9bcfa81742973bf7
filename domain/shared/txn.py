"""The transaction port (TxnFn): run a closure against one unit of work.

The adapter opens a transaction, builds the unit (the repositories bound to
that transaction), awaits the closure and commits, or rolls back if it raised.
A context declares the unit it needs as a Protocol of its own repositories, so
it cannot reach another context's repositories through the unit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from domain.shared.errors import ConcurrencyConflict

U = TypeVar("U")
U_co = TypeVar("U_co", covariant=True)
T = TypeVar("T")


class TxnFn(Protocol[U_co]):
    async def __call__(self, work: Callable[[U_co], Awaitable[T]], /) -> T: ...


async def with_retries(txn: TxnFn[U], work: Callable[[U], Awaitable[T]], attempts: int = 5) -> T:
    """Re-run `work` in a fresh transaction when an optimistic write lost a race."""
    for attempt in range(1, attempts + 1):
        try:
            return await txn(work)
        except ConcurrencyConflict:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
