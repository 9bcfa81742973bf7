"""Paddle's kit: `Paddle-Signature` computed with plain hmac, events from the Paddle samples."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from integrations.providers.paddle.adapter import PaddleAdapter
from integrations.providers.paddle.samples import paddle_event, subscription_object, transaction_object
from tests.support.kits import Renewal, Snapshot
from tests.support.signatures import paddle_headers_by_hand


class PaddleKit:
    name = "paddle"
    secret = "pdl_ntfset_01jfq2v6m5a7c9x3tz8k4d2w1e_Y29uZm9ybWFuY2U"
    other_secret = "pdl_ntfset_01jfq2v6m5a7c9x3tz8k4d2w1e_c29tZW9uZQ"

    def adapter(self) -> PaddleAdapter:
        return PaddleAdapter()

    def sign(self, body: bytes, secrets: Sequence[str], timestamp: int, event_id: str) -> dict[str, str]:
        del event_id  # Paddle's id is in the body
        return paddle_headers_by_hand(body, secrets, timestamp)

    def snapshot(self, step: Snapshot) -> bytes:
        change = {"action": "cancel", "effective_at": step.period[1].isoformat(), "resume_at": None}
        sub = subscription_object(
            sub_id=step.subscription_id,
            status=step.status,
            updated_at=step.at,
            period_start=step.period[0],
            period_end=step.period[1],
            scheduled_change=change if step.cancel_at_period_end else None,
            canceled_at=step.at if step.status == "canceled" else None,
            custom_data=None if step.link is None else {"subgate_subscription_id": step.link},
        )
        event_type = "subscription.created" if step.first else "subscription.updated"
        return paddle_event(event_type, sub, event_id=step.event_id, occurred_at=step.at)

    def renewal(self, step: Renewal) -> bytes:
        transaction = transaction_object(
            txn_id=step.invoice_id,
            subscription_id=step.subscription_id,
            grand_total=step.amount,
            period_start=step.period[0],
            period_end=step.period[1],
            updated_at=step.at,
        )
        return paddle_event("transaction.completed", transaction, event_id=step.event_id, occurred_at=step.at)

    def unknown(self, event_id: str, at: datetime) -> bytes:
        return paddle_event("customer.updated", {"id": "ctm_1"}, event_id=event_id, occurred_at=at)
