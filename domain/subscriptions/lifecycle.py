"""Pure rules that turn a command into a new subscription value and the events it causes.

Two kinds of change, two rules:

* A provider snapshot (`apply_sync`) is the provider's truth about its own subscription.
  The newest snapshot wins, whatever order snapshots arrive in: a snapshot is applied when
  its position in the provider's timeline is ahead of the one already applied (the
  subscription's watermark), and recorded without effect when it is behind. The
  transition table is not consulted: it guards what merchants and the scheduler may do,
  not what the provider reports. Terminal states stay terminal.
* A payment (`apply_payment`) is a fact about money, reported once per invoice whatever
  the subscription's state. It changes the state of a subscription that no snapshot
  has reached yet (one created over REST and linked by metadata): a paid invoice
  activates or renews it under the transition table, and its time becomes the watermark.
* A paid renewal (`RecordPayment.renewal`) of a subscription the provider's snapshots
  describe is the provider's word about one thing only, the paid-through period. It is not
  a snapshot: it leaves the status and the watermark alone, so the newest snapshot still
  decides everything else. It moves the period forward when it is newer than the newest
  snapshot applied (its position is after the watermark), ends later than the stored
  period, and the subscription is live (not final, not paused). The subscription keeps it
  (`renewal_*`), and a snapshot applied later shows the renewal's period instead of its own
  only when the renewal is newer than that snapshot and ends later: a stale snapshot never
  takes a paid period back, and the outcome does not depend on which came first.

Events describe the change that was made, from the state before to the state after, so
merchants hear of exactly the transitions the subscription went through here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from domain.shared.clock import public_time
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
    S.PAUSED: EventType.SUBSCRIPTION_PAUSED,
    S.CANCELED: EventType.SUBSCRIPTION_CANCELED,
    S.EXPIRED: EventType.SUBSCRIPTION_EXPIRED,
}
# Leaving a pause into a live status is a resumption, whichever status it resumes into.
_RESUMED_INTO = frozenset({S.ACTIVE, S.TRIALING})
_VISIBLE_FIELDS = (
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "trial_end",
    "canceled_at",
)
_WAITING_FOR_PAYMENT = frozenset({S.PENDING, S.TRIALING, S.PAST_DUE, S.UNPAID})
# Statuses in which a paid renewal moves the period: not final, not paused.
_RENEWABLE = frozenset({S.PENDING, S.TRIALING, S.ACTIVE, S.PAST_DUE, S.UNPAID})


def transition_event(before: SubscriptionStatus, after: SubscriptionStatus) -> EventType | None:
    """The one event that announces a move between two different statuses."""
    if before == after:
        return None
    if before == S.PAUSED and after in _RESUMED_INTO:
        return EventType.SUBSCRIPTION_RESUMED
    return _ENTRY_EVENTS.get(after, EventType.SUBSCRIPTION_UPDATED)


def events_for_change(before: Subscription, after: Subscription) -> list[EventType]:
    moved = transition_event(before.status, after.status)
    if moved is not None:
        return [moved]
    renewed = (
        after.status == S.ACTIVE
        and before.current_period_end is not None
        and after.current_period_end is not None
        and after.current_period_end > before.current_period_end
    )
    if renewed:
        return [EventType.SUBSCRIPTION_RENEWED]
    if any(getattr(before, name) != getattr(after, name) for name in _VISIBLE_FIELDS):
        return [EventType.SUBSCRIPTION_UPDATED]
    return []


def _content(
    status: SubscriptionStatus,
    current_period_start: datetime | None,
    current_period_end: datetime | None,
    cancel_at_period_end: bool,
    trial_end: datetime | None,
    canceled_at: datetime | None,
) -> tuple[str, ...]:
    """A total order over what a snapshot says, to settle two snapshots at the same position.

    Which of two such snapshots wins matters less than that the same one always wins,
    whatever order they arrive in. A final status ranks above every other, since once
    applied it can no longer be left.
    """
    times = (current_period_start, current_period_end, trial_end, canceled_at)
    final = "1" if status in TERMINAL else "0"
    return (final, status.value, *(public_time(t) or "" for t in times), str(cancel_at_period_end))


def _snapshot_content(cmd: SyncSubscription) -> tuple[str, ...]:
    return _content(
        cmd.status,
        cmd.current_period_start,
        cmd.current_period_end,
        cmd.cancel_at_period_end,
        cmd.trial_end,
        cmd.canceled_at,
    )


def _stored_content(sub: Subscription) -> tuple[str, ...]:
    return _content(
        sub.status,
        sub.current_period_start,
        sub.current_period_end,
        sub.cancel_at_period_end,
        sub.trial_end,
        sub.canceled_at,
    )


def _check_newer(sub: Subscription, cmd: SyncSubscription) -> None:
    watermark = sub.provider_watermark
    position = cmd.position
    if watermark is not None and position < watermark:
        raise StaleUpdate(
            f"snapshot from {position.isoformat()} is older than the applied {watermark.isoformat()}"
        )
    if watermark is not None and position == watermark and _snapshot_content(cmd) <= _stored_content(sub):
        raise StaleUpdate(f"a snapshot from {position.isoformat()} is already applied")
    if sub.status in TERMINAL and cmd.status != sub.status:
        raise StaleUpdate(f"subscription is {sub.status.value}, which is final")


def _snapshot_period(sub: Subscription, cmd: SyncSubscription) -> tuple[datetime | None, datetime | None]:
    """The snapshot's period, or the kept renewal's when that one is newer and ends later."""
    renewal_end, renewal_position = sub.renewal_period_end, sub.renewal_position
    if (
        renewal_end is None
        or renewal_position is None
        or renewal_position <= cmd.position
        or cmd.status not in _RENEWABLE
        or (cmd.current_period_end is not None and renewal_end <= cmd.current_period_end)
    ):
        return cmd.current_period_start, cmd.current_period_end
    return sub.renewal_period_start, renewal_end


def apply_sync(
    sub: Subscription, cmd: SyncSubscription, now: datetime
) -> tuple[Subscription, list[EventType]]:
    """Move `sub` to the provider's view if that view is newer than the one applied."""
    _check_newer(sub, cmd)
    period_start, period_end = _snapshot_period(sub, cmd)
    after = replace(
        sub,
        status=cmd.status,
        # Every field as the snapshot has it (a period it lacks is unknown, not "as before"),
        # so the outcome depends on the newest snapshot only, never on what came earlier; but
        # for a paid renewal newer than it (see the module docstring).
        current_period_start=period_start,
        current_period_end=period_end,
        cancel_at_period_end=cmd.cancel_at_period_end,
        trial_end=cmd.trial_end,
        canceled_at=cmd.canceled_at,
        provider=sub.provider or cmd.provider,
        provider_subscription_id=sub.provider_subscription_id or cmd.provider_subscription_id,
        provider_watermark=cmd.position,
    )
    return _dated_if_changed(sub, after, now)


def _dated_if_changed(
    sub: Subscription, after: Subscription, now: datetime
) -> tuple[Subscription, list[EventType]]:
    """`after` with what it changes in `sub`: dated `now` when it changes anything told."""
    events = events_for_change(sub, after)
    return (replace(after, updated_at=now) if events else after), events


def apply_renewal(
    sub: Subscription, cmd: RecordPayment, now: datetime
) -> tuple[Subscription, list[EventType]]:
    """The paid-through period moved forward by a paid renewal (see the module docstring)."""
    watermark, period_end = sub.provider_watermark, cmd.period_end
    if (
        not cmd.renewal
        or period_end is None
        or cmd.period_start is None
        or sub.status not in _RENEWABLE
        or (watermark is not None and cmd.position <= watermark)
        or (sub.current_period_end is not None and period_end <= sub.current_period_end)
    ):
        return sub, []
    after = replace(
        sub,
        current_period_start=cmd.period_start,
        current_period_end=period_end,
        renewal_period_start=cmd.period_start,
        renewal_period_end=period_end,
        renewal_position=cmd.position,
    )
    return _dated_if_changed(sub, after, now)


def apply_payment(
    sub: Subscription, cmd: RecordPayment, now: datetime
) -> tuple[Subscription, list[EventType]]:
    """The payment event, plus the activation or renewal of a subscription no snapshot reached yet,
    or the paid renewal of one the provider's snapshots describe."""
    paid = [EventType.PAYMENT_SUCCEEDED] if cmd.amount_paid > 0 else []
    if sub.provider_watermark is not None:
        # The provider's snapshots decide the state; a paid renewal moves the period only.
        after, events = apply_renewal(sub, cmd, now)
        return after, [*events, *paid]
    if cmd.amount_paid == 0:
        # Zero invoices (trial starts, full discounts) carry no payment to report.
        return sub, []
    if sub.status in TERMINAL or sub.status == S.PAUSED:
        # A final status (or a pause) decides the state; the payment is news only.
        return sub, paid
    target = S.ACTIVE if sub.status in _WAITING_FOR_PAYMENT else sub.status
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
    events = events_for_change(sub, after)
    if events:
        # From now on the provider's word is ordered against this payment.
        after = replace(after, provider_watermark=cmd.observed_at, updated_at=now)
    return after, [*events, EventType.PAYMENT_SUCCEEDED]
