"""Polar's kit: the Standard Webhooks library (svix) signs the new way, events from
the Polar samples; the event id travels in `webhook-id`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from svix.webhooks import Webhook

from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.polar.samples import order_object, polar_event, subscription_object
from tests.support.kits import Renewal, Snapshot


class PolarKit:
    name = "polar"
    secret = "whsec_Y29uZm9ybWFuY2UtcG9sYXItc2VjcmV0LWtleQ=="
    other_secret = "whsec_c29tZW9uZS1lbHNlcy1wb2xhci1zZWNyZXQ="

    def adapter(self) -> PolarAdapter:
        return PolarAdapter()

    def sign(self, body: bytes, secrets: Sequence[str], timestamp: int, event_id: str) -> dict[str, str]:
        at = datetime.fromtimestamp(timestamp, UTC)
        signatures = [Webhook(s).sign(event_id, at, body.decode()) for s in secrets]
        return {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signatures),
        }

    def snapshot(self, step: Snapshot) -> bytes:
        sub = subscription_object(
            sub_id=step.subscription_id,
            status=step.status,
            modified_at=step.at,
            email=step.customer_email,
            period_start=step.period[0],
            period_end=step.period[1],
            cancel_at_period_end=step.cancel_at_period_end,
            canceled_at=step.at if step.status == "canceled" else None,
            metadata=None if step.link is None else {"subgate_subscription_id": step.link},
        )
        return polar_event(
            "subscription.created" if step.first else "subscription.updated", sub, timestamp=step.at
        )

    def renewal(self, step: Renewal) -> bytes:
        order = order_object(
            order_id=step.invoice_id,
            subscription_id=step.subscription_id,
            total_amount=step.amount,
            created_at=step.at,
            billing_reason="subscription_cycle",
        )
        order["subscription"] |= {
            "current_period_start": step.period[0].isoformat(),
            "current_period_end": step.period[1].isoformat(),
        }
        return polar_event("order.paid", order, timestamp=step.at)

    def unknown(self, event_id: str, at: datetime) -> bytes:
        del event_id
        return polar_event("checkout.created", {"id": "chk_1"}, timestamp=at)
