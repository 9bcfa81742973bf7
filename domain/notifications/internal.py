"""Fan-out, claims, attempts and their records for workers (Internal).

HTTP handlers cannot import this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.notifications.model import (
    Attempt,
    DeadLetter,
    DeadLetterKind,
    Delivery,
    DeliveryStatus,
    Endpoint,
)
from domain.notifications.payload import message_body
from domain.notifications.ports import (
    NotificationsUnit,
    OutboundWebhook,
    SendResult,
    WebhookSender,
)
from domain.notifications.retry import RetryPolicy
from domain.shared.clock import Clock
from domain.shared.errors import ConcurrencyConflict
from domain.shared.ids import new_id
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import Page, PageRequest
from domain.shared.txn import TxnFn
from domain.shared.work import WorkKind, WorkSignal

MAX_URL_LENGTH = 2048

HTTP_GONE = 410  # the merchant removed the endpoint: stop sending to it


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedDelivery:
    """A delivery leased to one worker, with what sending it needs."""

    delivery: Delivery
    endpoint: Endpoint | None  # None: deleted or disabled since the delivery was made
    message: OutboxMessage | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptResult:
    """What happened to one claimed delivery.

    `result` is the peer's answer; None with a `problem` means no attempt could be made
    (the endpoint or message is gone). `deferred` puts the delivery back, due after
    `defer_seconds`, without counting an attempt (its endpoint is at its concurrency cap).
    """

    claimed: Delivery
    result: SendResult | None = None
    problem: str | None = None
    deferred: bool = False
    defer_seconds: float = 1.0


class NotificationsInternal:
    """Fan-out, claiming, attempts and their records. Every operation is safe to run twice."""

    def __init__(
        self,
        txn: TxnFn[NotificationsUnit],
        clock: Clock,
        signal: WorkSignal,
        sender: WebhookSender,
        policy: RetryPolicy,
        attempt_timeout: float,
    ) -> None:
        self._txn = txn
        self._clock = clock
        self._signal = signal
        self._sender = sender
        self._policy = policy
        # A claimed delivery stays leased for longer than one attempt may take; a worker
        # that dies mid-attempt has its leases handed back by the others (see release).
        self._lease = timedelta(seconds=attempt_timeout + 30)

    async def dispatch_pending(self, limit: int = 100) -> int:
        """Turn up to `limit` pending outbox messages into deliveries; returns how many were made."""

        async def pending(unit: NotificationsUnit) -> Sequence[OutboxMessage]:
            return await unit.outbox.pending(limit)

        # One transaction per message, started together so that the store can commit them
        # together; they start in outbox order, so deliveries are created in that order too.
        counts = await asyncio.gather(*(self._dispatch(message) for message in await self._txn(pending)))
        made = sum(counts)
        if made:
            self._signal.notify(WorkKind.DELIVERIES)
        return made

    async def _dispatch(self, message: OutboxMessage) -> int:
        try:
            deliveries = await self._txn(functools.partial(self._fan_out, message=message))
        except ConcurrencyConflict:
            return 0  # another dispatcher took this message
        return len(deliveries)

    async def _fan_out(self, unit: NotificationsUnit, *, message: OutboxMessage) -> list[Delivery]:
        await unit.outbox.mark_dispatched(message.id)
        now = self._clock()
        made: list[Delivery] = []
        for endpoint in await unit.endpoints.all_for(message.merchant_id):
            if not endpoint.wants(message.event_type.value) or await unit.deliveries.exists(
                message.id, endpoint.id
            ):
                continue
            delivery = Delivery(
                id=new_id("dlv"),
                merchant_id=message.merchant_id,
                endpoint_id=endpoint.id,
                message_id=message.id,
                event_type=message.event_type.value,
                status=DeliveryStatus.PENDING,
                attempts=(),
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            await unit.deliveries.add(delivery)
            made.append(delivery)
        return made

    async def claim(self, owner: str, limit: int) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries to `owner`, with their endpoints and messages."""

        async def work(unit: NotificationsUnit) -> list[ClaimedDelivery]:
            now = self._clock()
            leased = await unit.deliveries.claim_due(now, now + self._lease, owner, limit)
            if not leased:
                return []
            endpoints = {e.id: e for e in await unit.endpoints.get_many([d.endpoint_id for d in leased])}
            messages = {m.id: m for m in await unit.outbox.get_many([d.message_id for d in leased])}
            claimed = []
            for delivery in leased:
                endpoint = endpoints.get(delivery.endpoint_id)
                usable = (
                    endpoint is not None and endpoint.enabled and endpoint.merchant_id == delivery.merchant_id
                )
                claimed.append(
                    ClaimedDelivery(
                        delivery=delivery,
                        endpoint=endpoint if usable else None,
                        message=messages.get(delivery.message_id),
                    )
                )
            return claimed

        return await self._txn(work)

    async def send(self, claimed: ClaimedDelivery) -> AttemptResult:
        """One attempt: sign and POST the message (never raises for the peer's failure)."""
        if claimed.endpoint is None or claimed.message is None:
            return AttemptResult(claimed=claimed.delivery, problem="endpoint or message no longer exists")
        now = self._clock()
        result = await self._sender.send(
            OutboundWebhook(
                url=claimed.endpoint.url,
                message_id=claimed.message.id,
                timestamp=now,
                body=message_body(claimed.message),
                secrets=claimed.endpoint.signing_secrets(now),
                trace_carrier=claimed.message.trace_carrier,
            )
        )
        return AttemptResult(claimed=claimed.delivery, result=result)

    async def record(self, results: Sequence[AttemptResult]) -> list[Delivery]:
        """Record many attempts in one transaction; returns the deliveries as stored afterwards.

        A delivery whose lease was lost (another worker took it over after the lease ran
        out) is left to that worker: its record wins.
        """
        if not results:
            return []
        try:
            return await self._txn(functools.partial(self._record_all, results=results))
        except ConcurrencyConflict:
            # A store that aborts a whole transaction on one conflict: record them one by one.
            recorded = []
            for one in results:
                with contextlib.suppress(ConcurrencyConflict):
                    recorded.extend(await self._txn(functools.partial(self._record_all, results=[one])))
            return recorded

    async def _record_all(
        self, unit: NotificationsUnit, *, results: Sequence[AttemptResult]
    ) -> list[Delivery]:
        now = self._clock()
        recorded = []
        for one in results:
            try:
                recorded.append(await self._record_one(unit, one, now))
            except ConcurrencyConflict:
                continue
        return recorded

    async def _record_one(self, unit: NotificationsUnit, one: AttemptResult, now: datetime) -> Delivery:
        leased = one.claimed
        if one.deferred:
            later = now + timedelta(seconds=one.defer_seconds)
            return await unit.deliveries.update(replace(leased, next_attempt_at=later, lease_owner=None))
        result = one.result
        attempt = Attempt(
            at=now,
            status_code=result.status_code if result else None,
            duration_ms=result.duration_ms if result else 0,
            error=one.problem if result is None else result.error,
            response_excerpt=result.response_excerpt if result else None,
        )
        attempts = (*leased.attempts, attempt)
        if result is not None and result.ok:
            done = replace(
                leased,
                status=DeliveryStatus.SUCCEEDED,
                attempts=attempts,
                next_attempt_at=None,
                updated_at=now,
                lease_owner=None,
            )
            return await unit.deliveries.update(done)
        delay = None if result is None else self._policy.delay_after(len(attempts))
        if delay is not None and result is not None and result.retry_after is not None:
            # The endpoint asked for a pause (429/503): wait at least that long; the sender caps it.
            delay = max(delay, result.retry_after)
        if result is not None and result.status_code == HTTP_GONE:
            delay = None
            await _disable_endpoint(unit, leased)
        if delay is None:
            dead = replace(
                leased,
                status=DeliveryStatus.DEAD,
                attempts=attempts,
                next_attempt_at=None,
                updated_at=now,
                lease_owner=None,
            )
            stored = await unit.deliveries.update(dead)
            await unit.dead_letters.add(
                DeadLetter(
                    id=new_id("dl"),
                    merchant_id=leased.merchant_id,
                    kind=DeadLetterKind.WEBHOOK,
                    delivery_id=leased.id,
                    reason=_reason(attempt, len(attempts)),
                    created_at=now,
                )
            )
            return stored
        retry = replace(
            leased,
            status=DeliveryStatus.FAILED,
            attempts=attempts,
            next_attempt_at=now + timedelta(seconds=delay),
            updated_at=now,
            lease_owner=None,
        )
        return await unit.deliveries.update(retry)

    async def deliver_due(self, owner: str, limit: int = 100) -> list[Delivery]:
        """Claim what is due, attempt each in turn and record them: the plain, sequential path."""
        claimed = await self.claim(owner, limit)
        return await self.record([await self.send(one) for one in claimed])

    async def release(self, owner: str) -> int:
        """Hand back what `owner` still leases (it stopped, or its heartbeat did)."""

        async def work(unit: NotificationsUnit) -> int:
            return await unit.deliveries.release_leases(owner, self._clock())

        return await self._txn(work)


class DeadLettersInternal:
    """Operator access to dead letters (admin CLI); needs only the store."""

    def __init__(self, txn: TxnFn[NotificationsUnit]) -> None:
        self._txn = txn

    async def list(
        self, merchant_id: str | None, kind: DeadLetterKind | None, page: PageRequest
    ) -> Page[DeadLetter]:
        async def work(unit: NotificationsUnit) -> Page[DeadLetter]:
            return await unit.dead_letters.list(merchant_id, kind, page)

        return await self._txn(work)


async def _disable_endpoint(unit: NotificationsUnit, delivery: Delivery) -> None:
    endpoint = await unit.endpoints.get(delivery.merchant_id, delivery.endpoint_id)
    if endpoint is not None and endpoint.enabled:
        await unit.endpoints.update(replace(endpoint, enabled=False))


def _reason(last: Attempt, count: int) -> str:
    if last.status_code == HTTP_GONE:
        return "endpoint answered 410 Gone and was disabled"
    detail = f"HTTP {last.status_code}" if last.status_code is not None else (last.error or "no response")
    return f"gave up after {count} attempts; last: {detail}"
