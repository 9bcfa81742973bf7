"""What a merchant may ask of a subscription over REST, as pure rules.

Each rule takes the subscription as stored and returns it as the request leaves it, or
raises: `InvalidTransition` (its message names the current status) for a move the
transition table forbids, `Conflict` for a request that makes no sense in the current
state. For a subscription subgate runs, the result is stored and announced; for one a
provider runs, the rule only vets the request before the provider is asked.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from domain.shared.errors import Conflict, InvalidTransition
from domain.subscriptions.model import Customer, Plan, Subscription
from domain.subscriptions.state_machine import TERMINAL, SubscriptionStatus, check_transition

S = SubscriptionStatus


def new_local(
    *, subscription_id: str, customer: Customer, plan: Plan, trial_days: int, now: datetime
) -> Subscription:
    """A subscription subgate runs: `trialing` for the trial's length, else `pending` until paid."""
    trial_end = now + timedelta(days=trial_days) if trial_days > 0 else None
    return Subscription(
        id=subscription_id,
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        plan_id=plan.id,
        status=S.PENDING if trial_end is None else S.TRIALING,
        # The trial is the first period, as providers count it.
        current_period_start=None if trial_end is None else now,
        current_period_end=trial_end,
        trial_end=trial_end,
        created_at=now,
        updated_at=now,
    )


def _not_final(sub: Subscription, requested: SubscriptionStatus) -> None:
    # Staying in a status is no transition for the table; for a final status it is still refused.
    if sub.status in TERMINAL:
        raise InvalidTransition(sub.status.value, requested.value)


def cancel(sub: Subscription, *, at_period_end: bool, now: datetime) -> Subscription:
    """Cancel now, or at the end of the current period (the subscription runs until then)."""
    _not_final(sub, S.CANCELED)
    check_transition(sub.status, S.CANCELED)
    if not at_period_end:
        return replace(sub, status=S.CANCELED, canceled_at=now, updated_at=now)
    if sub.current_period_end is None:
        raise Conflict(
            f"subscription is {sub.status.value} and has no current period to cancel at the end of; "
            "cancel it now instead (at_period_end: false)"
        )
    if sub.cancel_at_period_end:
        return sub
    return replace(sub, cancel_at_period_end=True, updated_at=now)


def pause(sub: Subscription, *, now: datetime) -> Subscription:
    _not_final(sub, S.PAUSED)
    if sub.status == S.PAUSED:
        return sub
    check_transition(sub.status, S.PAUSED)
    return replace(sub, status=S.PAUSED, updated_at=now)


def resume(sub: Subscription, *, now: datetime) -> Subscription:
    """Lift a pause (back to trialing while the trial lasts, else active) and a scheduled cancel."""
    _not_final(sub, S.ACTIVE)
    if sub.status == S.PAUSED:
        target = S.TRIALING if sub.trial_end is not None and sub.trial_end > now else S.ACTIVE
        check_transition(sub.status, target)
        return replace(sub, status=target, cancel_at_period_end=False, updated_at=now)
    if sub.cancel_at_period_end:
        return replace(sub, cancel_at_period_end=False, updated_at=now)
    raise Conflict(
        f"subscription is {sub.status.value}, neither paused nor set to cancel at the period end: "
        "there is nothing to resume"
    )
