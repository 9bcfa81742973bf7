"""What each Stripe event becomes: the normalization table, in one place.

    Stripe event                            domain command(s)             merchants may then receive
    customer.subscription.created           SyncSubscription              subscription.created (first sight)
    customer.subscription.updated           SyncSubscription              the status change, renewed, updated
    customer.subscription.deleted           SyncSubscription (canceled)   subscription.canceled
    customer.subscription.paused            SyncSubscription              subscription.paused
    customer.subscription.resumed           SyncSubscription              subscription.resumed
    customer.subscription.trial_will_end    SyncSubscription,             subscription.trial_will_end
                                            AnnounceTrialEnd
    invoice.paid, invoice.payment_succeeded RecordPayment (per invoice;   payment.succeeded; and
                                            billing reason                subscription.renewed when
                                            subscription_cycle: renewal)  it moves the period forward
    invoice.payment_failed                  RecordPaymentFailure          payment.failed
    invoice.payment_action_required         RecordPaymentFailure          payment.failed
                                            (action required)
    checkout.session.completed              LinkSubscription, or          nothing for the link itself
    (mode subscription)                     SyncSubscription when the
                                            subscription is expanded

Every other type is stored and marked `ignored`. Both API shapes are read (see `payloads`).
A handler gets the event's object and returns commands, or `Ignored` with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from domain.subscriptions.commands import (
    AnnounceTrialEnd,
    FailureKind,
    LinkSubscription,
    ProviderCommand,
    RecordPayment,
    RecordPaymentFailure,
    SyncSubscription,
)
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers import readers
from integrations.providers.interface import Context, Handler, Ignored, Normalized
from integrations.providers.stripe import payloads as p
from integrations.providers.stripe.ordering import RENEWAL_TIE_BREAK, tie_break

PROVIDER = "stripe"
RENEWAL_REASON = "subscription_cycle"  # an invoice's billing reason when it pays a new cycle


def snapshot(sub: dict[str, Any], ctx: Context, status: SubscriptionStatus | None = None) -> SyncSubscription:
    item = p.first_item(sub)
    start, end = p.billing_period(sub, item)
    customer = sub.get("customer")
    return SyncSubscription(
        **ctx.origin(PROVIDER),
        provider_subscription_id=readers.text(sub.get("id"), "subscription.id"),
        provider_customer_id=p.ref_id(customer, "subscription.customer"),
        customer_email=_email(customer),
        price=p.price_of(item),
        status=status or p.status_of(sub),
        observed_at=ctx.time(),
        tie_break=tie_break(ctx.event_type, p.ordering_status(sub), ctx.previous_attributes),
        current_period_start=start,
        current_period_end=end,
        cancel_at_period_end=sub.get("cancel_at_period_end") is True,
        trial_end=p.when(sub.get("trial_end"), "trial_end"),
        canceled_at=p.when(sub.get("canceled_at"), "canceled_at"),
        linked_subscription_id=readers.metadata_link(sub),
    )


def _email(customer: Any) -> str | None:
    email = customer.get("email") if isinstance(customer, dict) else None
    return email if isinstance(email, str) and email else None


def _sync(sub: dict[str, Any], ctx: Context) -> Sequence[ProviderCommand]:
    return [snapshot(sub, ctx)]


def _deleted(sub: dict[str, Any], ctx: Context) -> Sequence[ProviderCommand]:
    # A deleted subscription is over, whatever status the object still shows.
    return [snapshot(sub, ctx, SubscriptionStatus.CANCELED)]


def _trial_will_end(sub: dict[str, Any], ctx: Context) -> Sequence[ProviderCommand]:
    synced = snapshot(sub, ctx)
    notice = AnnounceTrialEnd(
        source_key=ctx.key("trial_will_end"),
        merchant_id=ctx.merchant_id,
        provider=PROVIDER,
        provider_subscription_id=synced.provider_subscription_id,
        trial_end=synced.trial_end,
        observed_at=ctx.time(),
        linked_subscription_id=synced.linked_subscription_id,
    )
    return [synced, notice]


def _invoice_paid(invoice: dict[str, Any], ctx: Context) -> Normalized:
    provider_sub, linked = p.invoice_subscription(invoice)
    if provider_sub is None:
        return Ignored(reason="invoice does not belong to a subscription")
    start, end = p.invoice_period(invoice)
    renewal = invoice.get("billing_reason") == RENEWAL_REASON
    return [
        RecordPayment(
            **ctx.origin(PROVIDER),
            provider_subscription_id=provider_sub,
            provider_invoice_id=readers.text(invoice.get("id"), "invoice.id"),
            amount_paid=readers.count(invoice.get("amount_paid"), "invoice.amount_paid"),
            currency=readers.text(invoice.get("currency"), "invoice.currency"),
            observed_at=ctx.time(),
            period_start=start,
            period_end=end,
            linked_subscription_id=linked,
            # A renewal moves the paid-through period (see `lifecycle.apply_renewal`).
            renewal=renewal,
            tie_break=RENEWAL_TIE_BREAK if renewal else 0,
        )
    ]


def _payment_failure(kind: FailureKind) -> Handler:
    def handle(invoice: dict[str, Any], ctx: Context) -> Normalized:
        provider_sub, linked = p.invoice_subscription(invoice)
        if provider_sub is None:
            return Ignored(reason="invoice does not belong to a subscription")
        attempt = invoice.get("attempt_count")
        return [
            RecordPaymentFailure(
                **ctx.origin(PROVIDER),
                provider_subscription_id=provider_sub,
                provider_invoice_id=readers.text(invoice.get("id"), "invoice.id"),
                amount_due=readers.count(invoice.get("amount_due"), "invoice.amount_due"),
                currency=readers.text(invoice.get("currency"), "invoice.currency"),
                observed_at=ctx.time(),
                kind=kind,
                attempt=readers.count(attempt, "invoice.attempt_count") if attempt is not None else None,
                linked_subscription_id=linked,
            )
        ]

    return handle


def _checkout_completed(session: dict[str, Any], ctx: Context) -> Normalized:
    if session.get("mode") != "subscription":
        return Ignored(reason=f"checkout session in mode {session.get('mode')!r}, not subscription")
    subscription = session.get("subscription")
    if subscription is None:
        return Ignored(reason="checkout session names no subscription")
    linked = readers.metadata_link(session)
    if isinstance(subscription, dict) and "items" in subscription:
        synced = snapshot(subscription, ctx)
        if synced.linked_subscription_id is None and linked is not None:
            synced = replace(synced, linked_subscription_id=linked)
        return [synced]
    provider_sub = p.ref_id(subscription, "checkout_session.subscription")
    if linked is None:
        # Nothing to link: the subscription's own events carry everything about it.
        return Ignored(reason=f"no subgate_subscription_id in the session's metadata ({provider_sub})")
    customer = session.get("customer")
    return [
        LinkSubscription(
            **ctx.origin(PROVIDER),
            provider_subscription_id=provider_sub,
            linked_subscription_id=linked,
            provider_customer_id=None if customer is None else p.ref_id(customer, "session.customer"),
        )
    ]


TABLE: Mapping[str, Handler] = {
    "customer.subscription.created": _sync,
    "customer.subscription.updated": _sync,
    "customer.subscription.deleted": _deleted,
    "customer.subscription.paused": _sync,
    "customer.subscription.resumed": _sync,
    "customer.subscription.trial_will_end": _trial_will_end,
    "invoice.paid": _invoice_paid,
    "invoice.payment_succeeded": _invoice_paid,
    "invoice.payment_failed": _payment_failure(FailureKind.DECLINED),
    "invoice.payment_action_required": _payment_failure(FailureKind.ACTION_REQUIRED),
    "checkout.session.completed": _checkout_completed,
}
