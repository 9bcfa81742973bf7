"""Fan-out, claims, attempts and their records for workers (Internal).

HTTP handlers cannot import this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from domain.notifications.emails import EMAIL_EVENTS, customer_of, email_type
from domain.notifications.health import DISABLE_AFTER, DISPATCH_FAILED, EndpointBook, Journal
from domain.notifications.model import (
    Channel,
    DeadLetter,
    DeadLetterKind,
    Delivery,
    DeliveryStatus,
    Endpoint,
    lane_of,
)
from domain.notifications.ordering import DEFAULT_ORDER_WAIT, lane_hold, wake_next
from domain.notifications.payload import message_body
from domain.notifications.ports import (
    Mailer,
    NotificationsUnit,
    OutboundEmail,
    OutboundWebhook,
    WebhookSender,
)
from domain.notifications.recording import AttemptRecorder, AttemptResult
from domain.notifications.replay import ReplaySummary, replay_dead_letter, replay_many
from domain.notifications.retry import RetryPolicy
from domain.notifications.stats import AttemptTally
from domain.shared.clock import Clock, system_clock
from domain.shared.errors import ConcurrencyConflict
from domain.shared.events import EventType
from domain.shared.ids import new_id
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import Page, PageRequest
from domain.shared.txn import TxnFn
from domain.shared.work import WorkKind, WorkSignal

__all__ = [
    "AttemptResult",
    "ClaimedDelivery",
    "DeadLettersInternal",
    "DeliveryOptions",
    "NotificationsInternal",
]


class StdlibJournal:
    """The journal when none is given: the standard library's logging, never silence."""

    def __init__(self) -> None:
        self._log = logging.getLogger("subgate.notifications")

    def info(self, event: str, **fields: Any) -> None:
        self._log.info(_line(event, fields))

    def warning(self, event: str, **fields: Any) -> None:
        self._log.warning(_line(event, fields))


def _line(event: str, fields: dict[str, Any]) -> str:
    return " ".join([event, *(f"{key}={value!r}" for key, value in fields.items())])


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryOptions:
    order_wait: timedelta = DEFAULT_ORDER_WAIT  # how long a delivery waits for an earlier one of its lane
    disable_after: timedelta = DISABLE_AFTER  # failing this long without a success disables an endpoint
    journal: Journal | None = None  # where operators read what happened; stdlib logging when None
    # The store's units are not transactions: a claim finishes a give-up cut short (see `claim`).
    carried: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedDelivery:
    """A delivery leased to one worker, with what sending it needs."""

    delivery: Delivery
    endpoint: Endpoint | None  # None for an email, or when the endpoint is unusable (see problem)
    message: OutboxMessage | None
    problem: str | None = None  # why no attempt can be made

    @property
    def trace_carrier(self) -> Mapping[str, str]:
        """The trace of the event that caused the message (none for a message that is gone)."""
        return {} if self.message is None else self.message.trace_carrier


class NotificationsInternal:
    """Fan-out, claiming, attempts and their records. Every operation is safe to run twice.

    Without a `mailer` no customer emails are made (a deployment always passes one: SMTP,
    or the one that keeps sent-mail records).
    """

    def __init__(
        self,
        txn: TxnFn[NotificationsUnit],
        clock: Clock,
        signal: WorkSignal,
        sender: WebhookSender,
        policy: RetryPolicy,
        attempt_timeout: float,
        *,
        mailer: Mailer | None = None,
        options: DeliveryOptions | None = None,
    ) -> None:
        options = options or DeliveryOptions()
        self._txn = txn
        self._clock = clock
        self._signal = signal
        self._sender = sender
        self._mailer = mailer
        self._policy = policy
        self._order_wait = options.order_wait
        self._disable_after = options.disable_after
        self._journal: Journal = options.journal or StdlibJournal()
        self._carried = options.carried
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
        except Exception as error:  # noqa: BLE001 - one message never stops the others' fan-out
            # Rolled back: the message stays pending and is tried again at the next fan-out.
            self._journal.warning(DISPATCH_FAILED, message_id=message.id, error=error)
            return 0
        return len(deliveries)

    async def _fan_out(self, unit: NotificationsUnit, *, message: OutboxMessage) -> list[Delivery]:
        """The message's deliveries, those it has not got yet; then the message marked dispatched.

        In that order: on a store whose units are not transactions, a fan-out cut short between
        the two leaves the message pending, and the next one makes only what is missing.
        """
        now = self._clock()
        made: list[Delivery] = []
        for endpoint in await unit.endpoints.all_for(message.merchant_id):
            if not endpoint.wants(message.event_type.value) or await unit.deliveries.exists(
                message.id, endpoint.id
            ):
                continue
            made.append(self._new_delivery(message, now, endpoint_id=endpoint.id))
        email = email_type(message.event_type, message.data)
        if self._mailer is not None and email is not None and not await unit.deliveries.has_email(message.id):
            to = await unit.recipients.email_for(message)
            # A welcome to a subscription first seen active goes only where an address is known:
            # its absence then is no failure to report (most checkouts' creations carry none).
            if to is None and message.event_type in EMAIL_EVENTS:
                self._journal.warning(
                    "email_not_sent",
                    message_id=message.id,
                    event_type=email.value,
                    reason="no usable customer email address is known",
                )
            elif to is not None:
                made.append(
                    self._new_delivery(
                        message, now, recipient=to, email=email, customer_id=customer_of(message)
                    )
                )
        for delivery in made:
            await unit.deliveries.add(delivery)
        await unit.outbox.mark_dispatched(message.id)
        return made

    @staticmethod
    def _new_delivery(
        message: OutboxMessage,
        now: datetime,
        *,
        endpoint_id: str | None = None,
        recipient: str | None = None,
        email: EventType | None = None,
        customer_id: str | None = None,
    ) -> Delivery:
        """A webhook to `endpoint_id`, or the email of type `email` to `recipient` (an email's
        type can differ from its message's: see `email_type`)."""
        towards = endpoint_id if recipient is None else f"email:{recipient}"
        return Delivery(
            id=new_id("dlv"),
            merchant_id=message.merchant_id,
            endpoint_id=endpoint_id,
            message_id=message.id,
            event_type=(email or message.event_type).value,
            status=DeliveryStatus.PENDING,
            attempts=(),
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
            channel=Channel.WEBHOOK if recipient is None else Channel.EMAIL,
            recipient=recipient,
            customer_id=customer_id,
            lane=lane_of(towards or "", message.subject_id) if message.subject_id else None,
            subject_id=message.subject_id or None,
        )

    async def claim(self, owner: str, limit: int) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries to `owner`, with their endpoints and messages.

        A delivery that must wait for an earlier one of its lane goes straight back, due
        when that one may have settled (see `domain.notifications.ordering`).
        """

        async def work(unit: NotificationsUnit) -> list[ClaimedDelivery]:
            now = self._clock()
            leased = await unit.deliveries.claim_due(now, now + self._lease, owner, limit)
            if self._carried:
                leased = await self._given_up_before(unit, leased, now)
            if not leased:
                return []
            ready = await self._in_order(unit, leased, now)
            endpoints = {
                e.id: e
                for e in await unit.endpoints.get_many([d.endpoint_id for d in ready if d.endpoint_id])
            }
            messages = {m.id: m for m in await unit.outbox.get_many([d.message_id for d in ready])}
            return [_claimed(d, endpoints, messages.get(d.message_id)) for d in ready]

        return await self._txn(work)

    @staticmethod
    async def _given_up_before(
        unit: NotificationsUnit, leased: Sequence[Delivery], now: datetime
    ) -> list[Delivery]:
        """`leased` without the deliveries given up on already: a record of the last attempt
        wrote the dead letter and was cut short before the delivery (on a store whose units
        are not transactions, see `recording`). Those are recorded dead now, not sent again."""
        left = []
        for delivery in leased:
            if not await unit.dead_letters.open_for_delivery(delivery.id):
                left.append(delivery)
                continue
            dead = replace(delivery, status=DeliveryStatus.DEAD, next_attempt_at=None, lease_owner=None)
            stored = await unit.deliveries.update(dead)
            await wake_next(unit, stored.lane, now)
        return left

    async def _in_order(
        self, unit: NotificationsUnit, leased: Sequence[Delivery], now: datetime
    ) -> list[Delivery]:
        ready = []
        for delivery in leased:
            hold = await lane_hold(unit, delivery, now, self._order_wait)
            if hold.until is not None:
                await unit.deliveries.update(replace(delivery, next_attempt_at=hold.until, lease_owner=None))
                continue
            if hold.gave_up:
                delivery = await unit.deliveries.update(replace(delivery, order_given_up=True))  # noqa: PLW2901
                self._journal.warning(
                    "delivery_order_given_up",
                    delivery_id=delivery.id,
                    waited_for=hold.blocker_id,
                    lane=delivery.lane,
                )
            ready.append(delivery)
        return ready

    async def send(self, claimed: ClaimedDelivery) -> AttemptResult:
        """One attempt: sign and POST the message, or mail it (never raises for the peer's failure)."""
        delivery, message = claimed.delivery, claimed.message
        if claimed.problem is not None or message is None:
            return AttemptResult(claimed=delivery, problem=claimed.problem or "the message no longer exists")
        if message.payload_expired_at is not None or delivery.erased_at is not None:
            # Only a race with a purge or an erasure gets here: both refuse to make it due again.
            return AttemptResult(claimed=delivery, problem="its body was removed (retention or erasure)")
        now = self._clock()
        if delivery.channel == Channel.EMAIL:
            if self._mailer is None or delivery.recipient is None:
                return AttemptResult(claimed=delivery, problem="emails are not configured")
            email = OutboundEmail(
                to=delivery.recipient,
                delivery_id=delivery.id,
                message_id=message.id,
                # The email's own type (the activation email of a subscription first seen active
                # comes from its `subscription.created` message).
                event_type=delivery.event_type,
                occurred_at=message.occurred_at,
                data=message.data,
            )
            return AttemptResult(claimed=delivery, result=await self._mailer.send(email))
        if claimed.endpoint is None:
            return AttemptResult(claimed=delivery, problem="the endpoint no longer exists")
        result = await self._sender.send(
            OutboundWebhook(
                url=claimed.endpoint.url,
                message_id=message.id,
                timestamp=now,
                body=message_body(message),
                secrets=claimed.endpoint.signing_secrets(now),
            )
        )
        return AttemptResult(claimed=delivery, result=result)

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
        endpoint_ids = [r.claimed.endpoint_id for r in results if r.claimed.endpoint_id and not r.deferred]
        recorder = AttemptRecorder(
            unit=unit,
            book=await EndpointBook.load(unit, endpoint_ids),
            policy=self._policy,
            disable_after=self._disable_after,
            now=self._clock(),
        )
        recorded = []
        # Endpoint health by the hour, counted in this same transaction (see `stats`).
        tally = AttemptTally(writer=results[0].claimed.lease_owner or "unleased")
        for one in results:
            try:
                stored = await recorder.record(one)
            except ConcurrencyConflict:
                continue
            recorded.append(stored)
            if not one.deferred and stored.endpoint_id is not None and stored.channel == Channel.WEBHOOK:
                tally.count(stored.merchant_id, stored.endpoint_id, stored.attempts[-1])
        await tally.store(unit.endpoint_stats)
        for disabled in recorder.book.disabled:
            self._journal.warning(
                "endpoint_disabled",
                endpoint_id=disabled.endpoint.id,
                merchant_id=disabled.endpoint.merchant_id,
                url=disabled.endpoint.url,
                reason=disabled.reason,
            )
        if recorder.book.disabled:
            self._signal.notify(WorkKind.OUTBOX)
        if recorder.woken:
            self._signal.notify(WorkKind.DELIVERIES)
        return recorded

    async def release(self, owner: str) -> int:
        """Hand back what `owner` still leases (it stopped, or its heartbeat did)."""

        async def work(unit: NotificationsUnit) -> int:
            return await unit.deliveries.release_leases(owner, self._clock())

        return await self._txn(work)


def _claimed(
    delivery: Delivery, endpoints: dict[str, Endpoint], message: OutboxMessage | None
) -> ClaimedDelivery:
    if delivery.channel == Channel.EMAIL or delivery.endpoint_id is None:
        return ClaimedDelivery(delivery=delivery, endpoint=None, message=message)
    endpoint = endpoints.get(delivery.endpoint_id)
    problem = None
    if endpoint is None or endpoint.merchant_id != delivery.merchant_id or endpoint.deleted_at is not None:
        problem = "the endpoint was deleted"
    elif not endpoint.enabled:
        problem = "the endpoint is disabled"
    return ClaimedDelivery(
        delivery=delivery, endpoint=endpoint if problem is None else None, message=message, problem=problem
    )


class DeadLettersInternal:
    """Operator access to dead letters (admin CLI); needs only the store."""

    def __init__(self, txn: TxnFn[NotificationsUnit], clock: Clock = system_clock) -> None:
        self._txn = txn
        self._clock = clock

    async def list(
        self, merchant_id: str | None, kind: DeadLetterKind | None, page: PageRequest
    ) -> Page[DeadLetter]:
        async def work(unit: NotificationsUnit) -> Page[DeadLetter]:
            return await unit.dead_letters.list(merchant_id, kind, page)

        return await self._txn(work)

    async def replay(self, dead_letter_id: str, merchant_id: str | None = None) -> Delivery:
        """Replay one dead letter; NotFound or Conflict (already replayed, endpoint disabled...)."""

        async def work(unit: NotificationsUnit) -> Delivery:
            return await replay_dead_letter(unit, merchant_id, dead_letter_id, self._clock())

        return await self._txn(work)

    async def replay_all(self, merchant_id: str | None, kind: DeadLetterKind | None) -> ReplaySummary:
        return await replay_many(self._txn, self._clock, merchant_id=merchant_id, kind=kind)
