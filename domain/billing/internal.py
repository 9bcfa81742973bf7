"""Inbound event processing state for workers (Internal). HTTP handlers cannot import this module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from domain.billing.model import InboundEvent, InboundStatus
from domain.billing.ports import BillingUnit
from domain.shared.clock import Clock
from domain.shared.txn import TxnFn, with_retries

MAX_PROCESSING_ATTEMPTS = 20


class InboundInternal:
    def __init__(self, txn: TxnFn[BillingUnit], clock: Clock) -> None:
        self._txn = txn
        self._clock = clock

    async def load(self, event_id: str) -> InboundEvent | None:
        async def work(unit: BillingUnit) -> InboundEvent | None:
            return await unit.inbound_events.get(event_id)

        return await self._txn(work)

    async def finish(self, event_id: str, status: InboundStatus, reason: str | None = None) -> None:
        """Record the outcome; a final status is never overwritten by a late rerun."""

        async def work(unit: BillingUnit) -> None:
            event = await unit.inbound_events.get(event_id)
            if event is None or event.status != InboundStatus.ACCEPTED:
                return
            await unit.inbound_events.update(
                replace(event, status=status, reason=reason, processed_at=self._clock())
            )

        await with_retries(self._txn, work)

    async def postpone(self, event_id: str, reason: str) -> bool:
        """Count a failed try; after too many the event becomes `failed`. True if it may run again."""

        async def work(unit: BillingUnit) -> bool:
            event = await unit.inbound_events.get(event_id)
            if event is None or event.status != InboundStatus.ACCEPTED:
                return False
            attempts = event.attempts + 1
            exhausted = attempts >= MAX_PROCESSING_ATTEMPTS
            status = InboundStatus.FAILED if exhausted else InboundStatus.ACCEPTED
            await unit.inbound_events.update(replace(event, attempts=attempts, reason=reason, status=status))
            return not exhausted

        return await with_retries(self._txn, work)

    async def waiting(self, older_than: timedelta, limit: int) -> Sequence[InboundEvent]:
        async def work(unit: BillingUnit) -> Sequence[InboundEvent]:
            return await unit.inbound_events.accepted_before(self._clock() - older_than, limit)

        return await self._txn(work)
