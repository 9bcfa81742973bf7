"""What an attempt's result does to its delivery: success, a retry on schedule, or a dead letter.

Also where endpoint health is kept (see `health`) and where a settled delivery lets the
next one of its lane go (see `ordering`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from domain.notifications.health import EndpointBook
from domain.notifications.model import (
    Attempt,
    Channel,
    DeadLetter,
    DeadLetterKind,
    Delivery,
    DeliveryStatus,
)
from domain.notifications.ordering import wake_next
from domain.notifications.ports import NotificationsUnit, SendResult
from domain.notifications.retry import RetryPolicy
from domain.shared.ids import new_id

HTTP_GONE = 410  # the merchant removed the endpoint: stop sending to it


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


@dataclass(kw_only=True)
class AttemptRecorder:
    """Records the results of one batch inside one transaction."""

    unit: NotificationsUnit
    book: EndpointBook
    policy: RetryPolicy
    disable_after: timedelta
    now: datetime
    woken: list[str] = field(default_factory=list)  # lanes whose next delivery was made due

    async def record(self, one: AttemptResult) -> Delivery:
        leased = one.claimed
        if one.deferred:
            later = self.now + timedelta(seconds=one.defer_seconds)
            return await self.unit.deliveries.update(replace(leased, next_attempt_at=later, lease_owner=None))
        result = one.result
        attempt = Attempt(
            at=self.now,
            status_code=result.status_code if result else None,
            duration_ms=result.duration_ms if result else 0,
            error=one.problem if result is None else result.error,
            response_excerpt=result.response_excerpt if result else None,
            headers=dict(result.headers) if result else {},
        )
        attempts = (*leased.attempts, attempt)
        tried = replace(leased, attempts=attempts, updated_at=self.now, lease_owner=None)
        if result is not None and result.ok:
            await self._endpoint_succeeded(leased)
            return await self._settle(replace(tried, status=DeliveryStatus.SUCCEEDED, next_attempt_at=None))
        delay = None if result is None else self.policy.delay_after(tried.attempts_in_round)
        if delay is not None and result is not None and result.retry_after is not None:
            # The endpoint asked for a pause (429/503): wait at least that long; the sender caps it.
            delay = max(delay, result.retry_after)
        if result is not None and result.status_code == HTTP_GONE and leased.channel == Channel.WEBHOOK:
            delay = None
            if leased.endpoint_id is not None:
                await self.book.disable(leased.endpoint_id, self.now, "the endpoint answered 410 Gone")
        elif result is not None:
            await self._endpoint_failed(leased)
        if delay is None:
            # The dead letter first: on a store whose units are not transactions, a record cut
            # short after it leaves the delivery leased, and its next claim finds the letter and
            # records it dead without sending again (`NotificationsInternal.claim`).
            await self.unit.dead_letters.add(
                DeadLetter(
                    id=new_id("dl"),
                    merchant_id=leased.merchant_id,
                    kind=DeadLetterKind.EMAIL if leased.channel == Channel.EMAIL else DeadLetterKind.WEBHOOK,
                    delivery_id=leased.id,
                    reason=_reason(attempt, tried.attempts_in_round, leased.channel),
                    created_at=self.now,
                    endpoint_id=leased.endpoint_id,
                )
            )
            return await self._settle(replace(tried, status=DeliveryStatus.DEAD, next_attempt_at=None))
        retry = replace(
            tried, status=DeliveryStatus.FAILED, next_attempt_at=self.now + timedelta(seconds=delay)
        )
        return await self.unit.deliveries.update(retry)

    async def _settle(self, delivery: Delivery) -> Delivery:
        stored = await self.unit.deliveries.update(delivery)
        if await wake_next(self.unit, stored.lane, self.now) and stored.lane is not None:
            self.woken.append(stored.lane)
        return stored

    async def _endpoint_succeeded(self, delivery: Delivery) -> None:
        if delivery.channel == Channel.WEBHOOK and delivery.endpoint_id is not None:
            await self.book.succeeded(delivery.endpoint_id)

    async def _endpoint_failed(self, delivery: Delivery) -> None:
        if delivery.channel == Channel.WEBHOOK and delivery.endpoint_id is not None:
            await self.book.failed(delivery.endpoint_id, self.now, self.disable_after)


def _reason(last: Attempt, count: int, channel: Channel) -> str:
    if last.status_code == HTTP_GONE and channel == Channel.WEBHOOK:
        return "endpoint answered 410 Gone and was disabled"
    detail = (
        f"{'SMTP' if channel == Channel.EMAIL else 'HTTP'} {last.status_code}"
        if last.status_code is not None
        else (last.error or "no response")
    )
    return f"gave up after {count} attempts; last: {detail}"
