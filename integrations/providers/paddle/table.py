"""What each Paddle Billing event becomes: the normalization table, in one place.

    Paddle event                    domain command                 merchants may then receive
    subscription.created            SyncSubscription               subscription.created (first sight)
    subscription.activated          SyncSubscription               subscription.activated
    subscription.updated            SyncSubscription               the status change, renewed, updated
    subscription.trialing           SyncSubscription               subscription.updated (to trialing)
    subscription.past_due           SyncSubscription               subscription.past_due
    subscription.paused             SyncSubscription               subscription.paused
    subscription.resumed            SyncSubscription               subscription.resumed
    subscription.canceled           SyncSubscription               subscription.canceled
    subscription.imported           SyncSubscription               as subscription.created
    transaction.completed,          RecordPayment (once per        payment.succeeded; subscription.renewed
    transaction.paid                transaction; a renewal with    when its billing period moves the
                                    its billing period)            paid-through period forward
    transaction.payment_failed      RecordPaymentFailure           payment.failed
                                    (once per attempt)

Transactions of no subscription (one-off purchases) are `ignored`, and so is every other type.
A snapshot is dated by the subscription's own `updated_at` (Paddle's time of the change,
microseconds), else the event's `occurred_at`; a transaction likewise. A subscription whose
`scheduled_change.action` is `cancel` shows `cancel_at_period_end: true` and ends (its
`current_period_end`) at the change's `effective_at`. `custom_data.subgate_subscription_id`
links a subscription or transaction to ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from domain.subscriptions.commands import (
    FailureKind,
    ProviderCommand,
    RecordPayment,
    RecordPaymentFailure,
    SyncSubscription,
)
from integrations.providers.interface import Context, Handler, Ignored, Normalized, PayloadError
from integrations.providers.paddle import payloads as p

PROVIDER: Final = "paddle"
CANCEL: Final = "cancel"
ACTION_REQUIRED: Final = "action_required"


def _observed(document: dict[str, Any], what: str, ctx: Context) -> datetime:
    observed = p.time(document.get("updated_at"), f"{what}.updated_at") or ctx.created
    if observed is None:
        raise PayloadError(f"{what} has no updated_at, and the event no occurred_at")
    return observed


def _scheduled_cancel(sub: dict[str, Any]) -> datetime | None:
    """When a scheduled cancellation takes effect; None when none is scheduled."""
    change = sub.get("scheduled_change")
    if not isinstance(change, dict) or change.get("action") != CANCEL:
        return None
    effective = p.time(change.get("effective_at"), "scheduled_change.effective_at")
    if effective is None:
        raise PayloadError("scheduled_change.effective_at is missing")
    return effective


def snapshot(sub: dict[str, Any], ctx: Context) -> SyncSubscription:
    item = p.first_item(sub)
    start, end = p.period(sub.get("current_billing_period"), "current_billing_period")
    cancel_at = _scheduled_cancel(sub)
    return SyncSubscription(
        **ctx.origin(PROVIDER),
        provider_subscription_id=p.text(sub.get("id"), "subscription.id"),
        provider_customer_id=p.customer_id(sub, "subscription"),
        # Paddle's subscription events do not carry the customer's email.
        customer_email=None,
        price=p.price_of(item),
        status=p.status_of(sub),
        observed_at=_observed(sub, "subscription", ctx),
        current_period_start=start,
        current_period_end=end if cancel_at is None else cancel_at,
        cancel_at_period_end=cancel_at is not None,
        trial_end=p.trial_end(item),
        canceled_at=p.time(sub.get("canceled_at"), "canceled_at"),
        linked_subscription_id=p.link(sub),
    )


def _sync(sub: dict[str, Any], ctx: Context) -> Sequence[ProviderCommand]:
    return [snapshot(sub, ctx)]


def _totals(transaction: dict[str, Any]) -> dict[str, Any]:
    details = p.obj(transaction.get("details"), "transaction.details")
    return p.obj(details.get("totals"), "transaction.details.totals")


def _currency(transaction: dict[str, Any], totals: dict[str, Any]) -> str:
    code = totals.get("currency_code") or transaction.get("currency_code")
    return p.text(code, "transaction.currency_code").lower()


def _paid(transaction: dict[str, Any], ctx: Context) -> Normalized:
    subscription_id = transaction.get("subscription_id")
    if subscription_id is None:
        return Ignored(reason="transaction does not belong to a subscription")
    totals = _totals(transaction)
    start, end = p.period(transaction.get("billing_period"), "transaction.billing_period")
    return [
        RecordPayment(
            **ctx.origin(PROVIDER),
            provider_subscription_id=p.text(subscription_id, "transaction.subscription_id"),
            provider_invoice_id=p.text(transaction.get("id"), "transaction.id"),
            amount_paid=p.amount(totals.get("grand_total"), "transaction.details.totals.grand_total"),
            currency=_currency(transaction, totals),
            observed_at=_observed(transaction, "transaction", ctx),
            period_start=start,
            period_end=end,
            linked_subscription_id=p.link(transaction),
            renewal=True,
        )
    ]


def _payment_failed(transaction: dict[str, Any], ctx: Context) -> Normalized:
    subscription_id = transaction.get("subscription_id")
    if subscription_id is None:
        return Ignored(reason="transaction does not belong to a subscription")
    totals = _totals(transaction)
    payments = transaction.get("payments")
    attempts = [a for a in payments if isinstance(a, dict)] if isinstance(payments, list) else []
    # Paddle lists a transaction's payment attempts newest first.
    latest = attempts[0].get("status") if attempts else None
    return [
        RecordPaymentFailure(
            **ctx.origin(PROVIDER),
            provider_subscription_id=p.text(subscription_id, "transaction.subscription_id"),
            provider_invoice_id=p.text(transaction.get("id"), "transaction.id"),
            amount_due=p.amount(totals.get("grand_total"), "transaction.details.totals.grand_total"),
            currency=_currency(transaction, totals),
            observed_at=_observed(transaction, "transaction", ctx),
            kind=FailureKind.ACTION_REQUIRED if latest == ACTION_REQUIRED else FailureKind.DECLINED,
            attempt=len(attempts) or None,
            linked_subscription_id=p.link(transaction),
        )
    ]


TABLE: Mapping[str, Handler] = {
    "subscription.created": _sync,
    "subscription.activated": _sync,
    "subscription.updated": _sync,
    "subscription.trialing": _sync,
    "subscription.past_due": _sync,
    "subscription.paused": _sync,
    "subscription.resumed": _sync,
    "subscription.canceled": _sync,
    "subscription.imported": _sync,
    "transaction.completed": _paid,
    "transaction.paid": _paid,
    "transaction.payment_failed": _payment_failed,
}
