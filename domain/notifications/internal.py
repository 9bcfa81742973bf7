"""Fan-out, attempts and sweeping for workers (Internal). HTTP handlers cannot import this module."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from domain.notifications.model import (
    RETRYABLE,
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
from domain.shared.queue import TaskQueue
from domain.shared.txn import TxnFn

MAX_URL_LENGTH = 2048

HTTP_GONE = 410  # the merchant removed the endpoint: stop sending to it


@dataclass(frozen=True, slots=True, kw_only=True)
class _Claim:
    delivery: Delivery
    endpoint: Endpoint | None
    message: OutboxMessage | None


class NotificationsInternal:
    """Fan-out, attempts and sweeping. Every operation is safe to run twice."""

    def __init__(
        self,
        txn: TxnFn[NotificationsUnit],
        clock: Clock,
        queue: TaskQueue,
        sender: WebhookSender,
        policy: RetryPolicy,
        attempt_timeout: float,
    ) -> None:
        self._txn = txn
        self._clock = clock
        self._queue = queue
        self._sender = sender
        self._policy = policy
        # While an attempt runs, the delivery is leased so the sweeper leaves it alone.
        self._lease = timedelta(seconds=attempt_timeout + 30)

    async def dispatch_pending(self, limit: int = 100) -> int:
        """Turn pending outbox messages into deliveries; returns how many deliveries were created."""

        async def pending(unit: NotificationsUnit) -> Sequence[OutboxMessage]:
            return await unit.outbox.pending(limit)

        # One transaction per message, started together so that the store can commit them
        # together; they start in outbox order, so deliveries are created in that order too.
        counts = await asyncio.gather(*(self._dispatch(message) for message in await self._txn(pending)))
        return sum(counts)

    async def _dispatch(self, message: OutboxMessage) -> int:
        try:
            deliveries = await self._txn(functools.partial(self._fan_out, message=message))
        except ConcurrencyConflict:
            return 0  # another dispatcher took this message
        for delivery in deliveries:
            await self._queue.enqueue_delivery(
                delivery.id, delivery.version, self._clock(), message.trace_carrier
            )
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

    async def attempt(self, delivery_id: str) -> Delivery | None:
        """Run one attempt if the delivery is due. Returns the delivery as stored afterwards."""
        try:
            claim = await self._txn(lambda unit: self._claim(unit, delivery_id))
        except ConcurrencyConflict:
            return None  # another worker holds it
        if claim is None:
            return None
        if claim.endpoint is None or claim.message is None:
            return await self._record(claim.delivery, None, "endpoint or message no longer exists", {})
        now = self._clock()
        result = await self._sender.send(
            OutboundWebhook(
                url=claim.endpoint.url,
                message_id=claim.message.id,
                timestamp=now,
                body=message_body(claim.message),
                secrets=claim.endpoint.signing_secrets(now),
                trace_carrier=claim.message.trace_carrier,
            )
        )
        return await self._record(claim.delivery, result, None, claim.message.trace_carrier)

    async def _claim(self, unit: NotificationsUnit, delivery_id: str) -> _Claim | None:
        delivery = await unit.deliveries.get(delivery_id)
        now = self._clock()
        if delivery is None or delivery.status not in RETRYABLE:
            return None
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return None  # not due yet (or leased by a running attempt)
        leased = await unit.deliveries.update(replace(delivery, next_attempt_at=now + self._lease))
        endpoint = await unit.endpoints.get(delivery.merchant_id, delivery.endpoint_id)
        message = await unit.outbox.get(delivery.message_id)
        if endpoint is not None and not endpoint.enabled:
            endpoint = None
        return _Claim(delivery=leased, endpoint=endpoint, message=message)

    async def _record(
        self, leased: Delivery, result: SendResult | None, problem: str | None, carrier: Mapping[str, str]
    ) -> Delivery | None:
        now = self._clock()
        attempt = Attempt(
            at=now,
            status_code=result.status_code if result else None,
            duration_ms=result.duration_ms if result else 0,
            error=problem if result is None else result.error,
            response_excerpt=result.response_excerpt if result else None,
        )

        async def work(unit: NotificationsUnit) -> Delivery:
            attempts = (*leased.attempts, attempt)
            if result is not None and result.ok:
                done = replace(
                    leased,
                    status=DeliveryStatus.SUCCEEDED,
                    attempts=attempts,
                    next_attempt_at=None,
                    updated_at=now,
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
            )
            return await unit.deliveries.update(retry)

        try:
            stored = await self._txn(work)
        except ConcurrencyConflict:
            return None  # the lease expired and another worker took over; its record wins
        if stored.status == DeliveryStatus.FAILED and stored.next_attempt_at is not None:
            await self._queue.enqueue_delivery(stored.id, stored.version, stored.next_attempt_at, carrier)
        return stored

    async def enqueue_due(self, limit: int = 500) -> int:
        """The sweeper's half: re-enqueue every delivery the database says is due."""

        async def work(unit: NotificationsUnit) -> Sequence[Delivery]:
            return await unit.deliveries.due(self._clock(), limit)

        due = await self._txn(work)
        for delivery in due:
            await self._queue.enqueue_delivery(delivery.id, delivery.version, self._clock(), {})
        return len(due)


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
