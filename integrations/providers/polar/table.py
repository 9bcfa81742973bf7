"""What each Polar event becomes: the normalization table, in one place.

    Polar event               domain command                    merchants may then receive
    subscription.created      SyncSubscription                  subscription.created (first sight)
    subscription.updated      SyncSubscription                  the status change, renewed, updated
    subscription.active       SyncSubscription                  subscription.activated
    subscription.past_due     SyncSubscription                  subscription.past_due
    subscription.canceled     SyncSubscription                  subscription.updated (at period end)
                                                                or subscription.canceled
    subscription.uncanceled   SyncSubscription                  subscription.updated
    subscription.revoked      SyncSubscription (canceled)       subscription.canceled
    order.paid                RecordPayment (once per order;    payment.succeeded; and
                              orders of a subscription only;    subscription.renewed when it
                              billing_reason                    moves the period forward
                              subscription_cycle: renewal)

Every other type is stored and marked `ignored`. Polar times carry microseconds, so a
snapshot's position is the subscription's own `modified_at` (Polar's time of the change
it describes) and needs no tie-break; several events about one change carry the same
object and so the same position and content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from domain.subscriptions.commands import ProviderCommand, RecordPayment, SyncSubscription
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers import readers
from integrations.providers.interface import Context, Handler, Ignored, Normalized, PayloadError
from integrations.providers.polar import payloads as p

PROVIDER = "polar"
RENEWAL_REASON = "subscription_cycle"  # an order's billing reason when it pays a new cycle


def _observed(document: dict[str, Any], what: str, ctx: Context) -> datetime:
    observed = p.modified_at(document, what) or ctx.created
    if observed is None:
        raise PayloadError(f"{what} has neither modified_at nor created_at, and the event no timestamp")
    return observed


def snapshot(sub: dict[str, Any], ctx: Context, status: SubscriptionStatus | None = None) -> SyncSubscription:
    customer_id, email = p.customer_of(sub)
    return SyncSubscription(
        **ctx.origin(PROVIDER),
        provider_subscription_id=readers.text(sub.get("id"), "subscription.id"),
        provider_customer_id=customer_id,
        customer_email=email,
        price=p.price_of(sub),
        status=status or p.status_of(sub),
        observed_at=_observed(sub, "subscription", ctx),
        current_period_start=p.time(sub.get("current_period_start"), "current_period_start"),
        current_period_end=p.time(sub.get("current_period_end"), "current_period_end"),
        cancel_at_period_end=sub.get("cancel_at_period_end") is True,
        trial_end=p.time(sub.get("trial_end"), "trial_end"),
        canceled_at=p.time(sub.get("canceled_at"), "canceled_at"),
        linked_subscription_id=readers.metadata_link(sub),
    )


def _sync(sub: dict[str, Any], ctx: Context) -> Sequence[ProviderCommand]:
    return [snapshot(sub, ctx)]


def _revoked(sub: dict[str, Any], ctx: Context) -> Sequence[ProviderCommand]:
    # Revoked means ended now, whatever the object still shows.
    return [snapshot(sub, ctx, SubscriptionStatus.CANCELED)]


def _order_paid(order: dict[str, Any], ctx: Context) -> Normalized:
    subscription_id = order.get("subscription_id")
    subscription = order.get("subscription")
    if subscription_id is None and isinstance(subscription, dict):
        subscription_id = subscription.get("id")
    if subscription_id is None:
        return Ignored(reason="order does not belong to a subscription")
    # Current orders say `total_amount` (after discounts and taxes); older ones `amount`.
    total = order.get("total_amount", order.get("amount"))
    period: dict[str, Any] = subscription if isinstance(subscription, dict) else {}
    return [
        RecordPayment(
            **ctx.origin(PROVIDER),
            provider_subscription_id=readers.text(subscription_id, "order.subscription_id"),
            provider_invoice_id=readers.text(order.get("id"), "order.id"),
            amount_paid=readers.count(total, "order.total_amount"),
            currency=readers.text(order.get("currency"), "order.currency"),
            observed_at=_observed(order, "order", ctx),
            period_start=p.time(period.get("current_period_start"), "order period start"),
            period_end=p.time(period.get("current_period_end"), "order period end"),
            linked_subscription_id=readers.metadata_link(subscription) or readers.metadata_link(order),
            # An order for a new cycle moves the paid-through period (`lifecycle.apply_renewal`).
            renewal=order.get("billing_reason") == RENEWAL_REASON,
        )
    ]


TABLE: Mapping[str, Handler] = {
    "subscription.created": _sync,
    "subscription.updated": _sync,
    "subscription.active": _sync,
    "subscription.past_due": _sync,
    "subscription.canceled": _sync,
    "subscription.uncanceled": _sync,
    "subscription.revoked": _revoked,
    "order.paid": _order_paid,
}
