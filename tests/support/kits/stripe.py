"""Stripe's kit: `Stripe-Signature` computed with plain hmac, events from the Stripe samples."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime

from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.samples import event_body, invoice_paid_event, subscription_event, unix
from tests.support.kits import Renewal, Snapshot


class StripeKit:
    name = "stripe"
    secret = "whsec_conformance_stripe_secret"
    other_secret = "whsec_conformance_someone_else"

    def adapter(self) -> StripeAdapter:
        return StripeAdapter()

    def sign(self, body: bytes, secrets: Sequence[str], timestamp: int, event_id: str) -> dict[str, str]:
        del event_id  # Stripe's id is in the body
        signed = f"{timestamp}.".encode() + body
        v1 = [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets]
        return {"content-type": "application/json", "stripe-signature": ",".join([f"t={timestamp}", *v1])}

    def snapshot(self, step: Snapshot) -> bytes:
        customer = {"id": "cus_conformance", "email": step.customer_email}
        return subscription_event(
            "customer.subscription.created" if step.first else "customer.subscription.updated",
            event_id=step.event_id,
            created=unix(step.at),
            sub_id=step.subscription_id,
            customer=customer,
            status=step.status,
            period_start=unix(step.period[0]),
            period_end=unix(step.period[1]),
            cancel_at_period_end=step.cancel_at_period_end,
            canceled_at=unix(step.at) if step.status == "canceled" else None,
            metadata=None if step.link is None else {"subgate_subscription_id": step.link},
            nickname="Conformance plan",
        )

    def renewal(self, step: Renewal) -> bytes:
        return invoice_paid_event(
            event_id=step.event_id,
            created=unix(step.at),
            invoice_id=step.invoice_id,
            subscription=step.subscription_id,
            amount_paid=step.amount,
            period_start=unix(step.period[0]),
            period_end=unix(step.period[1]),
            billing_reason="subscription_cycle",
        )

    def unknown(self, event_id: str, at: datetime) -> bytes:
        return event_body(
            "customer.updated", {"id": "cus_1", "object": "customer"}, event_id=event_id, created=unix(at)
        )
