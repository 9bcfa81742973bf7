"""Polar subscriptions living realistic lives, as Polar's webhooks tell them.

Polar announces one change with several events carrying the same object (`subscription.active`
and `subscription.updated`, say), dates it by the subscription's `modified_at` (null until the
first change after creation), and tells a paid order of the subscription with `order.paid`.
Lives: checkout and renewals; a renewal that fails (`past_due`), recovers, is canceled at the
period's end, uncanceled, canceled again and revoked; one revoked while `past_due`; one
canceled at the period's end.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Final

from integrations.providers.polar import samples as polar
from tests.chaos.story import SERVICE_STATUS, Payment, ProviderEvent, Story, View

LIFECYCLES: Final = (("full", 0.4), ("renewing", 0.25), ("delinquent", 0.2), ("ending", 0.15))


class _PolarStory:
    def __init__(self, story: Story, base: datetime, rng: random.Random) -> None:
        self.story = story
        self._customer = f"{story.subscription}-customer"
        self._created = base + timedelta(microseconds=rng.randrange(1, 999_999))
        self._rng = rng
        self._events = 0

    def _add(self, event_type: str, body: bytes) -> None:
        self._events += 1
        self.story.events.append(
            ProviderEvent(
                provider="polar",
                event_id=f"msg_{self.story.subscription}_{self._events:02}",
                event_type=event_type,
                body=body,
                subscription=self.story.subscription,
            )
        )

    def change(
        self,
        event_types: tuple[str, ...],
        at: datetime,
        status: str,
        period: tuple[datetime, datetime],
        *,
        cancel_at_period_end: bool = False,
        canceled_at: datetime | None = None,
    ) -> None:
        """One change, announced by each of `event_types` with the same object (as Polar does)."""
        # Polar times carry microseconds; the subscription's `modified_at` dates the change, and
        # is null until the first change after its creation (its `created_at` dates that).
        created = not self.story.views
        modified = self._created if created else at + timedelta(microseconds=self._rng.randrange(1, 999_999))
        obj = polar.subscription_object(
            sub_id=self.story.subscription,
            status=status,
            modified_at=None if created else modified,
            created_at=self._created,
            customer_id=self._customer,
            email=f"{self._customer}@example.com",
            period_start=period[0],
            period_end=period[1],
            cancel_at_period_end=cancel_at_period_end,
            canceled_at=canceled_at,
        )
        for event_type in event_types:
            self._add(event_type, polar.polar_event(event_type, obj, timestamp=modified))
        self.story.views.append(
            View(
                status="canceled"
                if "subscription.revoked" in event_types
                else SERVICE_STATUS.get(status, status),
                current_period_start=period[0],
                current_period_end=period[1],
                cancel_at_period_end=cancel_at_period_end,
                canceled_at=canceled_at,
                trial_end=None,
            )
        )

    def order_paid(self, at: datetime, number: int, period: tuple[datetime, datetime], reason: str) -> None:
        order_id = f"{self.story.subscription}-order-{number}"
        order = polar.order_object(
            order_id=order_id,
            subscription_id=self.story.subscription,
            created_at=at,
            billing_reason=reason,
        )
        order["customer_id"] = self._customer
        order["subscription"] |= {
            "current_period_start": polar.iso(period[0]),
            "current_period_end": polar.iso(period[1]),
        }
        self._add("order.paid", polar.polar_event("order.paid", order, timestamp=at))
        self.story.payments.append(Payment("payment.succeeded", order_id))
        if reason == "subscription_cycle":
            self.story.renewals.append(period)


def polar_story(number: int, lifecycle: str, rng: random.Random) -> Story:
    """The `number`-th subscription, a week after the one before, living `lifecycle`."""
    sub_id, base = f"chaos-polar-{number:05}", polar.T0 + timedelta(days=7 * number)
    story = Story(provider="polar", subscription=sub_id, lifecycle=lifecycle)
    s = _PolarStory(story, base, rng)
    day = timedelta(days=1)
    p1 = (base, base + 31 * day)
    p2 = (p1[1], p1[1] + 28 * day)
    p3 = (p2[1], p2[1] + 31 * day)
    paid_at = base + timedelta(seconds=3)
    s.change(("subscription.created",), base, "incomplete", p1)
    s.change(("subscription.active", "subscription.updated"), paid_at, "active", p1)
    s.order_paid(paid_at, 1, p1, "subscription_create")
    if lifecycle == "ending":
        asked = base + 9 * day
        s.change(
            ("subscription.canceled", "subscription.updated"),
            asked,
            "active",
            p1,
            cancel_at_period_end=True,
            canceled_at=asked,
        )
        return story
    if lifecycle == "delinquent":
        s.change(("subscription.past_due", "subscription.updated"), p1[1], "past_due", p2)
        s.change(("subscription.revoked", "subscription.updated"), p1[1] + 10 * day, "canceled", p2)
        return story
    s.change(("subscription.updated",), p2[0], "active", p2)
    s.order_paid(p2[0], 2, p2, "subscription_cycle")
    if lifecycle == "renewing":
        s.change(("subscription.updated",), p3[0], "active", p3)
        s.order_paid(p3[0], 3, p3, "subscription_cycle")
        return story
    # "full": the next renewal fails, then recovers; a cancellation asked, taken back, asked again; the end.
    s.change(("subscription.past_due", "subscription.updated"), p3[0], "past_due", p3)
    recovered = p3[0] + 2 * day
    s.change(("subscription.active", "subscription.updated"), recovered, "active", p3)
    s.order_paid(recovered, 3, p3, "subscription_cycle")
    asked, taken_back, asked_again = p3[0] + 5 * day, p3[0] + 6 * day, p3[0] + 7 * day
    canceled = ("subscription.canceled", "subscription.updated")
    s.change(canceled, asked, "active", p3, cancel_at_period_end=True, canceled_at=asked)
    s.change(("subscription.uncanceled", "subscription.updated"), taken_back, "active", p3)
    s.change(canceled, asked_again, "active", p3, cancel_at_period_end=True, canceled_at=asked_again)
    s.change(
        ("subscription.revoked", "subscription.updated"),
        p3[1],
        "canceled",
        p3,
        cancel_at_period_end=True,
        canceled_at=asked_again,
    )
    return story
