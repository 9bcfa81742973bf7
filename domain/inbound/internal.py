"""Inbound event processing state for workers (Internal). HTTP handlers cannot import this module.

Accepted events are the work queue: a worker claims a batch (a lease with its own
name on it), applies each event, and records the outcomes of many events in one
transaction. An outcome is recorded only while the event is still `accepted`, so a
late rerun (after a lease ran out) never overwrites a final status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from domain.inbound.model import InboundEvent, InboundStatus
from domain.inbound.ports import InboundUnit
from domain.shared.clock import Clock
from domain.shared.errors import ConcurrencyConflict
from domain.shared.txn import TxnFn, with_retries

MAX_PROCESSING_ATTEMPTS = 20
# An event that must wait (its subscription is not known yet) is tried again after
# 1, 2, 4 ... seconds, at most this long apart.
MAX_POSTPONEMENT = timedelta(seconds=60)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessingOutcome:
    """What became of one claimed event: a final status, or `None` to try again later."""

    event_id: str
    status: InboundStatus | None
    reason: str | None = None
    # A postponement for a cause that passes on its own (the provider's API down, a lost
    # race) never makes the event `failed`, however often it happens; one that waits for
    # something that may never come (the subscription of an orphan payment) gives up after
    # MAX_PROCESSING_ATTEMPTS.
    transient: bool = False
    # The event as this worker's claim stored it: when it is still stored so (same version),
    # the outcome is written without reading it again (see `InboundInternal.record`).
    claimed: InboundEvent | None = field(default=None, compare=False, repr=False)


class InboundInternal:
    def __init__(
        self, txn: TxnFn[InboundUnit], clock: Clock, lease: timedelta = timedelta(seconds=60)
    ) -> None:
        self._txn = txn
        self._clock = clock
        self._lease = lease

    async def claim(self, owner: str, limit: int) -> Sequence[InboundEvent]:
        """Lease up to `limit` due events to `owner`, oldest first."""

        async def work(unit: InboundUnit) -> Sequence[InboundEvent]:
            now = self._clock()
            return await unit.inbound_events.claim_due(now, now + self._lease, owner, limit)

        return await self._txn(work)

    async def record(self, outcomes: Sequence[ProcessingOutcome]) -> list[InboundEvent]:
        """Record many outcomes in one transaction; returns the events as stored afterwards."""

        # First, each claimed `accepted` event as its claim left it, unread: the write's
        # compare-and-set on the version proves that it is still stored so. If anything changed
        # one meanwhile (a lease ran out and another run got to it), that write is undone and the
        # outcomes are recorded as ever, every event read as stored.
        if any(outcome.claimed is not None for outcome in outcomes):
            with contextlib.suppress(ConcurrencyConflict):
                return await self._txn(lambda unit: _record(unit, outcomes, self._clock(), as_claimed=True))
        return await with_retries(
            self._txn, lambda unit: _record(unit, outcomes, self._clock(), as_claimed=False)
        )

    async def release(self, owner: str) -> int:
        """Hand back what `owner` still leases (it stopped, or its heartbeat did)."""

        async def work(unit: InboundUnit) -> int:
            return await unit.inbound_events.release_leases(owner, self._clock())

        return await self._txn(work)


async def _record(
    unit: InboundUnit, outcomes: Sequence[ProcessingOutcome], now: datetime, *, as_claimed: bool
) -> list[InboundEvent]:
    stored = []
    for outcome in outcomes:
        claimed = outcome.claimed if as_claimed else None
        if claimed is not None and claimed.status == InboundStatus.ACCEPTED:
            stored.append(await unit.inbound_events.update(_after(claimed, outcome, now)))
            continue
        event = await unit.inbound_events.get(outcome.event_id)
        if event is None or event.status != InboundStatus.ACCEPTED:
            continue  # a late rerun never overwrites a final status
        stored.append(await unit.inbound_events.update(_after(event, outcome, now)))
    return stored


def _after(event: InboundEvent, outcome: ProcessingOutcome, now: datetime) -> InboundEvent:
    if outcome.status is not None:
        return replace(
            event, status=outcome.status, reason=outcome.reason, processed_at=now, lease_owner=None
        )
    attempts = event.attempts + 1
    if attempts >= MAX_PROCESSING_ATTEMPTS and not outcome.transient:
        return replace(
            event,
            attempts=attempts,
            status=InboundStatus.FAILED,
            reason=outcome.reason,
            processed_at=now,
            lease_owner=None,
        )
    wait = min(timedelta(seconds=2 ** (attempts - 1)), MAX_POSTPONEMENT)
    return replace(event, attempts=attempts, reason=outcome.reason, due_at=now + wait, lease_owner=None)
