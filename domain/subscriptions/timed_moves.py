"""Timed moves of subscriptions as pure rules, and the due time every stored subscription carries.

    move                         for                            due at
    trial reminder               every trialing subscription    `trial_notice_before` before `trial_end`
    cancel at period end         subscriptions subgate runs     `current_period_end`
    pending -> expired           subscriptions subgate runs     `pending_expiry` after `created_at`
    past_due -> unpaid           subscriptions subgate runs     `past_due_grace` after `past_due_since`

A provider runs its own subscriptions' clock (Stripe cancels at the period end, expires an
incomplete subscription, marks an overdue one unpaid, and says so in its webhooks), so only
the trial reminder applies to them as well; it is told once per trial end, by whichever of
the provider and the scheduler comes first.

Every write of a subscription goes through `StampingTxn`, which stores the earliest due
instant of the first three in `next_transition_at`, and the start of a past_due spell in
`past_due_since` (for subscriptions subgate runs): the scheduler reads the subscriptions
that are due through those two indexes, and never the others. The grace period is applied
when reading, so a changed `SUBGATE_PAST_DUE_GRACE_DAYS` holds for subscriptions that are
past_due already.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from domain.shared.clock import Clock
from domain.shared.events import EventType
from domain.shared.inbox import ProcessedInputs
from domain.shared.outbox import OutboxRepository
from domain.shared.pagination import Page, PageRequest
from domain.shared.txn import TxnFn
from domain.subscriptions.lifecycle import events_for_change
from domain.subscriptions.model import Subscription
from domain.subscriptions.ports import (
    CustomerRepository,
    PlanRepository,
    ProviderLinks,
    SubscriptionFilter,
    SubscriptionRepository,
    SubscriptionsUnit,
)
from domain.subscriptions.state_machine import TERMINAL, SubscriptionStatus, check_transition

S = SubscriptionStatus
T = TypeVar("T")

DEFAULT_PAST_DUE_GRACE = timedelta(days=7)


class Move(enum.StrEnum):
    TRIAL_NOTICE = "trial_notice"
    CANCEL_AT_PERIOD_END = "cancel_at_period_end"
    EXPIRE_PENDING = "expire_pending"
    MARK_UNPAID = "mark_unpaid"


_TARGET = {
    Move.CANCEL_AT_PERIOD_END: S.CANCELED,
    Move.EXPIRE_PENDING: S.EXPIRED,
    Move.MARK_UNPAID: S.UNPAID,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    trial_notice_before: timedelta = timedelta(days=3)
    pending_expiry: timedelta = timedelta(hours=23)
    past_due_grace: timedelta = DEFAULT_PAST_DUE_GRACE


@dataclass(frozen=True, slots=True, kw_only=True)
class Due:
    move: Move
    at: datetime


def planned(sub: Subscription, timing: Timing) -> list[Due]:
    """Every move ahead of `sub` as it is now, earliest first."""
    moves: list[Due] = []
    if sub.status == S.TRIALING and sub.trial_end is not None and sub.trial_notice_for != sub.trial_end:
        moves.append(Due(move=Move.TRIAL_NOTICE, at=sub.trial_end - timing.trial_notice_before))
    if not sub.provider_managed and sub.status not in TERMINAL:
        if sub.cancel_at_period_end and sub.current_period_end is not None:
            moves.append(Due(move=Move.CANCEL_AT_PERIOD_END, at=sub.current_period_end))
        if sub.status == S.PENDING:
            moves.append(Due(move=Move.EXPIRE_PENDING, at=sub.created_at + timing.pending_expiry))
        if sub.status == S.PAST_DUE and sub.past_due_since is not None:
            moves.append(Due(move=Move.MARK_UNPAID, at=sub.past_due_since + timing.past_due_grace))
    return sorted(moves, key=lambda due: due.at)


def due_now(sub: Subscription, now: datetime, timing: Timing) -> Due | None:
    """The earliest move whose time has come (at or before `now`), if any."""
    moves = planned(sub, timing)
    return moves[0] if moves and moves[0].at <= now else None


def next_transition_at(sub: Subscription, timing: Timing) -> datetime | None:
    """The earliest move found through `next_transition_at` (all but unpaid, see the module)."""
    moves = [due for due in planned(sub, timing) if due.move != Move.MARK_UNPAID]
    return moves[0].at if moves else None


def trial_reminder_key(merchant_id: str, subscription_id: str, trial_end: datetime | None) -> str:
    """One reminder per trial end, whoever tells it (the provider's event or the scheduler)."""
    return f"trial-end:{merchant_id}:{subscription_id}:{trial_end.isoformat() if trial_end else None}"


def stamped(sub: Subscription, timing: Timing, now: datetime) -> Subscription:
    """`sub` with `past_due_since` and `next_transition_at` brought up to date, as it is stored.

    One that carries an unfinished change is due now: the scheduler finishes it if nobody
    else does first (see `recording`).
    """
    runs_here = sub.status == S.PAST_DUE and not sub.provider_managed
    since = (sub.past_due_since or now) if runs_here else None
    current = sub if since == sub.past_due_since else replace(sub, past_due_since=since)
    due = now if current.unfinished is not None else next_transition_at(current, timing)
    return current if due == current.next_transition_at else replace(current, next_transition_at=due)


def apply_due(sub: Subscription, due: Due, now: datetime) -> tuple[Subscription, list[EventType]]:
    """Carry out one due move; the new value and the events it causes."""
    if due.move == Move.TRIAL_NOTICE:
        # A reminder that comes too late (the trial already ended) is dropped, not told.
        told = sub.trial_end is not None and now < sub.trial_end
        after = replace(sub, trial_notice_for=sub.trial_end)
        return after, [EventType.SUBSCRIPTION_TRIAL_WILL_END] if told else []
    target = _TARGET[due.move]
    check_transition(sub.status, target)
    after = replace(sub, status=target, updated_at=now)
    if due.move == Move.CANCEL_AT_PERIOD_END:
        after = replace(after, canceled_at=due.at)
    return after, events_for_change(sub, after)


# --------------------------------------------------------------------------- stamping writes


class _StampedSubscriptions:
    def __init__(self, inner: SubscriptionRepository, timing: Timing, clock: Clock) -> None:
        self._inner = inner
        self._timing = timing
        self._clock = clock

    async def get(self, merchant_id: str, subscription_id: str) -> Subscription | None:
        return await self._inner.get(merchant_id, subscription_id)

    async def add(self, subscription: Subscription) -> None:
        await self._inner.add(stamped(subscription, self._timing, self._clock()))

    async def update(self, subscription: Subscription) -> Subscription:
        return await self._inner.update(stamped(subscription, self._timing, self._clock()))

    async def list(
        self, merchant_id: str, where: SubscriptionFilter, page: PageRequest
    ) -> Page[Subscription]:
        return await self._inner.list(merchant_id, where, page)

    async def due(self, now: datetime, limit: int) -> Sequence[Subscription]:
        return await self._inner.due(now, limit)

    async def past_due_since(self, cutoff: datetime, limit: int) -> Sequence[Subscription]:
        return await self._inner.past_due_since(cutoff, limit)


class _StampedUnit:
    """A unit whose subscription writes are stamped; every other repository as it is."""

    def __init__(self, unit: SubscriptionsUnit, timing: Timing, clock: Clock) -> None:
        self._unit = unit
        self._subscriptions = _StampedSubscriptions(unit.subscriptions, timing, clock)

    @property
    def subscriptions(self) -> SubscriptionRepository:
        return self._subscriptions

    @property
    def customers(self) -> CustomerRepository:
        return self._unit.customers

    @property
    def plans(self) -> PlanRepository:
        return self._unit.plans

    @property
    def provider_links(self) -> ProviderLinks:
        return self._unit.provider_links

    @property
    def outbox(self) -> OutboxRepository:
        return self._unit.outbox

    @property
    def processed(self) -> ProcessedInputs:
        return self._unit.processed


class StampingTxn:
    """The subscriptions context's transactions: every subscription it writes is `stamped`."""

    def __init__(self, txn: TxnFn[SubscriptionsUnit], timing: Timing, clock: Clock) -> None:
        self._txn = txn
        self._timing = timing
        self._clock = clock

    @property
    def timing(self) -> Timing:
        return self._timing

    async def __call__(self, work: Callable[[SubscriptionsUnit], Awaitable[T]], /) -> T:
        async def stamping(unit: SubscriptionsUnit) -> T:
            return await work(_StampedUnit(unit, self._timing, self._clock))

        return await self._txn(stamping)
