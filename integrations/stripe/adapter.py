"""Stripe: signature check on the raw bytes, a fast envelope parse, and the normalization table."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from domain.subscriptions.commands import RecordPayment, SyncSubscription
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers import (
    Command,
    Envelope,
    Ignored,
    MalformedRequest,
    MissingSignature,
    SignatureRejected,
)
from integrations.stripe import payloads as p
from integrations.stripe.signature import (
    InvalidSignature,
    MalformedSignatureHeader,
    verify_stripe_signature,
)

SIGNATURE_HEADER = "stripe-signature"
MAX_ID_LENGTH = 255


def _event(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedRequest(f"body is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise MalformedRequest("body is not a JSON object")
    return parsed


class StripeAdapter:
    name = "stripe"

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
        tolerance_seconds: int,
    ) -> None:
        header = headers.get(SIGNATURE_HEADER)
        if not header:
            raise MissingSignature("Stripe-Signature header is required")
        try:
            verify_stripe_signature(body, header, secrets, now, tolerance_seconds)
        except MalformedSignatureHeader as error:
            raise MalformedRequest(f"Stripe-Signature: {error}") from None
        except InvalidSignature as error:
            raise SignatureRejected(str(error) or type(error).__name__) from None

    def envelope(self, body: bytes, headers: Mapping[str, str]) -> Envelope:  # noqa: ARG002 - part of the adapter interface; Stripe needs only the body
        event = _event(body)
        event_id, event_type = event.get("id"), event.get("type")
        if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_ID_LENGTH:
            raise MalformedRequest("event id is missing")
        if not isinstance(event_type, str) or not event_type or len(event_type) > MAX_ID_LENGTH:
            raise MalformedRequest("event type is missing")
        try:
            created = p.when(event.get("created"), "created")
        except p.PayloadError as error:
            raise MalformedRequest(str(error)) from None
        return Envelope(event_id=event_id, type=event_type, created_at=created)

    def normalize(self, body: bytes, merchant_id: str, source_key: str) -> Sequence[Command] | Ignored:
        event = _event(body)
        handler = _TABLE.get(str(event.get("type")))
        if handler is None:
            return Ignored(reason=f"event type {event.get('type')!r} is not handled")
        created = p.when(event.get("created"), "created")
        if created is None:
            raise p.PayloadError("event.created is missing")
        data = p.obj(event.get("data"), "event.data")
        return handler(p.obj(data.get("object"), "event.data.object"), merchant_id, source_key, created)


def _sync(status_override: SubscriptionStatus | None) -> Callable[..., Sequence[Command] | Ignored]:
    def handle(
        sub: dict[str, Any], merchant_id: str, source_key: str, created: datetime
    ) -> Sequence[Command]:
        item = p.first_item(sub)
        start, end = p.billing_period(sub, item)
        customer = sub.get("customer")
        return [
            SyncSubscription(
                source_key=source_key,
                merchant_id=merchant_id,
                provider="stripe",
                provider_subscription_id=p.text(sub.get("id"), "subscription.id"),
                provider_customer_id=p.ref_id(customer, "subscription.customer"),
                customer_email=_email(customer),
                price=p.price_of(item),
                status=status_override or p.status_of(sub),
                observed_at=created,
                current_period_start=start,
                current_period_end=end,
                cancel_at_period_end=sub.get("cancel_at_period_end") is True,
                trial_end=p.when(sub.get("trial_end"), "trial_end"),
                canceled_at=p.when(sub.get("canceled_at"), "canceled_at"),
                linked_subscription_id=p.metadata_link(sub),
            )
        ]

    return handle


def _email(customer: Any) -> str | None:
    email = customer.get("email") if isinstance(customer, dict) else None
    return email if isinstance(email, str) and email else None


def _invoice_paid(
    invoice: dict[str, Any], merchant_id: str, source_key: str, created: datetime
) -> Sequence[Command] | Ignored:
    provider_sub, linked = p.invoice_subscription(invoice)
    if provider_sub is None:
        return Ignored(reason="invoice does not belong to a subscription")
    amount = invoice.get("amount_paid")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise p.PayloadError("invoice.amount_paid is not a non-negative integer")
    start, end = p.invoice_period(invoice)
    return [
        RecordPayment(
            source_key=source_key,
            merchant_id=merchant_id,
            provider="stripe",
            provider_subscription_id=provider_sub,
            provider_invoice_id=p.text(invoice.get("id"), "invoice.id"),
            amount_paid=amount,
            currency=p.text(invoice.get("currency"), "invoice.currency"),
            observed_at=created,
            period_start=start,
            period_end=end,
            linked_subscription_id=linked,
        )
    ]


_TABLE: dict[str, Callable[..., Sequence[Command] | Ignored]] = {
    "customer.subscription.created": _sync(None),
    "customer.subscription.updated": _sync(None),
    # A deleted subscription is over, whatever status the object still shows.
    "customer.subscription.deleted": _sync(SubscriptionStatus.CANCELED),
    "invoice.paid": _invoice_paid,
}
