"""Pure rules that turn a command into a new subscription value and the events it causes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from domain.shared.errors import DomainError
from domain.shared.events import EventType
from domain.subscriptions.commands import RecordPayment, SyncSubscription
from domain.subscriptions.model import Subscription
from domain.subscriptions.state_machine import (
    TERMINAL,
    SubscriptionStatus,
    check_transition,
)

S = SubscriptionStatus


class StaleUpdate(DomainError):
    """The input is older than what was already applied; it is recorded, not applied."""

    kind = "stale_update"


_ENTRY_EVENTS = {
    S.ACTIVE: EventType.SUBSCRIPTION_ACTIVATED,
    S.PAST_DUE: EventType.SUBSCRIPTION_PAST_DUE,
    S.CANCELED: EventType.SUBSCRIPTION_CANCELED,
    S.EXPIRED: EventType.SUBSCRIPTION_EXPIRED,
}


def _guard(sub: Subscription, target: SubscriptionStatus, observed_at: datetime) -> None:
    if sub.provider_watermark is not None and observed_at < sub.provider_watermark:
        raise StaleUpdate(
            f"input from {observed_at.isoformat()} is older than the applied "
            f"{sub.provider_watermark.isoformat()}"
        )
    if sub.status in TERMINAL and target != sub.status:
        raise StaleUpdate(f"subscription is {sub.status.value}, which is final")
    check_transition(sub.status, target)


def _watermark(sub: Subscription, observed_at: datetime) -> datetime:
    if sub.provider_watermark is None:
        return observed_at
    return max(sub.provider_watermark, observed_at)


def _events_for_change(before: Subscription, after: Subscription) -> list[EventType]:
    if before.status != after.status:
        return [_ENTRY_EVENTS.get(after.status, EventType.SUBSCRIPTION_UPDATED)]
    renewed = (
        after.status == S.ACTIVE
        and before.current_period_end is not None
        and after.current_period_end is not None
        and after.current_period_end > before.current_period_end
    )
    if renewed:
        return [EventType.SUBSCRIPTION_RENEWED]
    visible = (
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "trial_end",
        "canceled_at",
    )
    if any(getattr(before, name) != getattr(after, name) for name in visible):
        return [EventType.SUBSCRIPTION_UPDATED]
    return []


def apply_sync(
    sub: Subscription, cmd: SyncSubscription, now: datetime
) -> tuple[Subscription, list[EventType]]:
    """Move `sub` to the provider's view, if that view is newer and the move is allowed."""
    _guard(sub, cmd.status, cmd.observed_at)
    after = replace(
        sub,
        status=cmd.status,
        current_period_start=cmd.current_period_start or sub.current_period_start,
        current_period_end=cmd.current_period_end or sub.current_period_end,
        cancel_at_period_end=cmd.cancel_at_period_end,
        trial_end=cmd.trial_end,
        canceled_at=cmd.canceled_at or sub.canceled_at,
        provider_watermark=_watermark(sub, cmd.observed_at),
    )
    events = _events_for_change(sub, after)
    return (replace(after, updated_at=now) if events else after), events


def apply_payment(
    sub: Subscription, cmd: RecordPayment, now: datetime
) -> tuple[Subscription, list[EventType]]:
    """A paid invoice activates a waiting or delinquent subscription, or renews an active one.

    A payment does not advance the watermark: it says nothing about the other
    fields of the subscription, so a later-arriving but older snapshot may still apply.
    """
    if cmd.amount_paid == 0:
        # Zero invoices (trial starts, full discounts) carry no payment to report.
        return sub, []
    target = S.ACTIVE if sub.status in (S.PENDING, S.TRIALING, S.PAST_DUE, S.UNPAID) else sub.status
    if sub.status in TERMINAL or sub.status == S.PAUSED:
        raise StaleUpdate(f"a payment does not change a {sub.status.value} subscription")
    check_transition(sub.status, target)
    newer_period = cmd.period_end is not None and (
        sub.current_period_end is None or cmd.period_end > sub.current_period_end
    )
    after = replace(
        sub,
        status=target,
        current_period_start=cmd.period_start if newer_period else sub.current_period_start,
        current_period_end=cmd.period_end if newer_period else sub.current_period_end,
    )
    events = [*_events_for_change(sub, after), EventType.PAYMENT_SUCCEEDED]
    return replace(after, updated_at=now), events
