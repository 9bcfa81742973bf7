"""Stripe subscriptions living realistic lives, as Stripe's webhooks tell them.

Checkout (created `incomplete`, paid and `active` within the same second), renewals, a
renewal whose payment fails (`past_due`, more failed attempts, `unpaid`), recovery, a
cancellation asked, taken back and asked again, the end (`deleted`); trials with Stripe's
reminder; a trial that ends without a payment method (`paused`) and is resumed; a checkout
that is never paid (`incomplete_expired`). Stripe sends both `invoice.paid` and
`invoice.payment_succeeded` for a paid invoice, and `updated` beside `paused`/`resumed`.
A share of the subscriptions belongs to accounts on an older API version.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Final

from integrations.providers.stripe import samples as stripe
from tests.chaos.story import SERVICE_STATUS, Payment, ProviderEvent, Story, View, from_unix

DAY: Final = 86_400
LEGACY_SHARE: Final = 0.3  # Stripe accounts still on an API version before the period moved to items
LIFECYCLES: Final = (
    ("full", 0.3),
    ("renewing", 0.2),
    ("delinquent", 0.15),
    ("trial", 0.15),
    ("paused", 0.1),
    ("abandoned", 0.1),
)


class _StripeStory:
    def __init__(self, story: Story, customer: str, price: str, *, legacy: bool) -> None:
        self.story = story
        self._customer = customer
        self._price = price
        self._legacy = legacy  # an account on an older API version: the period on the subscription
        self._events = 0

    def _event_id(self) -> str:
        self._events += 1
        return f"evt_{self.story.subscription.removeprefix('sub_')}_{self._events:02}"

    def _add(self, event_type: str, body: bytes, event_id: str) -> None:
        self.story.events.append(
            ProviderEvent(
                provider="stripe",
                event_id=event_id,
                event_type=event_type,
                body=body,
                subscription=self.story.subscription,
            )
        )

    def snapshot(
        self,
        kind: str,
        at: int,
        status: str,
        period: tuple[int, int],
        *,
        previous: Mapping[str, Any] | None = None,
        cancel_at_period_end: bool = False,
        canceled_at: int | None = None,
        trial_end: int | None = None,
    ) -> None:
        event_type = f"customer.subscription.{kind}"
        event_id = self._event_id()
        body = stripe.subscription_event(
            event_type,
            event_id=event_id,
            created=at,
            previous_attributes=previous,
            sub_id=self.story.subscription,
            customer=self._customer,
            status=status,
            period_start=period[0],
            period_end=period[1],
            cancel_at_period_end=cancel_at_period_end,
            canceled_at=canceled_at,
            trial_end=trial_end,
            item_id=f"si_{self.story.subscription}",
            price_id=self._price,
            legacy=self._legacy,
            unit_amount=2000,
        )
        self._add(event_type, body, event_id)
        self.story.views.append(
            View(
                status="canceled" if kind == "deleted" else SERVICE_STATUS.get(status, status),
                current_period_start=from_unix(period[0]),
                current_period_end=from_unix(period[1]),
                cancel_at_period_end=cancel_at_period_end,
                canceled_at=from_unix(canceled_at),
                trial_end=from_unix(trial_end),
            )
        )

    def invoice(
        self,
        event_type: str,
        at: int,
        number: int,
        period: tuple[int, int],
        *,
        paid: int = 2000,
        attempt: int = 1,
    ) -> None:
        """`invoice.paid` (and `.payment_succeeded`), `.payment_failed`, `.payment_action_required`."""
        invoice = f"in_{self.story.subscription.removeprefix('sub_')}_{number}"
        failed = event_type in ("invoice.payment_failed", "invoice.payment_action_required")
        event_id = self._event_id()
        body = stripe.invoice_paid_event(
            event_type=event_type,
            event_id=event_id,
            created=at,
            subscription=self.story.subscription,
            customer=self._customer,
            invoice_id=invoice,
            amount_paid=0 if failed else paid,
            amount_due=2000 if failed else paid,
            attempt_count=attempt,
            period_start=period[0],
            period_end=period[1],
            legacy=self._legacy,
        )
        self._add(event_type, body, event_id)
        if failed:
            self.story.payments.append(Payment("payment.failed", invoice, attempt))
        elif paid > 0 and Payment("payment.succeeded", invoice) not in self.story.payments:
            self.story.payments.append(Payment("payment.succeeded", invoice))

    def paid(self, at: int, number: int, period: tuple[int, int], *, paid: int = 2000) -> None:
        """Stripe sends both events for one paid invoice; the merchant hears of it once."""
        self.invoice("invoice.paid", at, number, period, paid=paid)
        self.invoice("invoice.payment_succeeded", at, number, period, paid=paid)


def stripe_story(number: int, lifecycle: str, rng: random.Random) -> Story:
    """The `number`-th subscription, a week after the one before, living `lifecycle`."""
    sub_id, base = f"sub_chaos{number:05}", stripe.T0 + number * 7 * DAY
    story = Story(provider="stripe", subscription=sub_id, lifecycle=lifecycle)
    s = _StripeStory(
        story,
        customer=f"cus_{sub_id.removeprefix('sub_')}",
        price=f"price_{rng.randrange(3)}",
        legacy=rng.random() < LEGACY_SHARE,
    )
    p1 = (base, base + 31 * DAY)
    p2 = (p1[1], p1[1] + 28 * DAY)
    p3 = (p2[1], p2[1] + 31 * DAY)
    if lifecycle == "trial":
        trial_end = base + 14 * DAY
        trial = (base, trial_end)
        paid_period = (trial_end, trial_end + 31 * DAY)
        story.trial_reminder = True
        s.snapshot("created", base, "trialing", trial, trial_end=trial_end)
        s.invoice("invoice.paid", base, 0, trial, paid=0)  # the trial's zero invoice tells nothing
        s.snapshot("trial_will_end", trial_end - 3 * DAY, "trialing", trial, trial_end=trial_end)
        s.paid(trial_end, 1, paid_period)
        s.snapshot(
            "updated", trial_end, "active", paid_period, previous={"status": "trialing"}, trial_end=trial_end
        )
        ending = trial_end + 5 * DAY
        s.snapshot(
            "updated",
            ending,
            "active",
            paid_period,
            previous={"cancel_at_period_end": False},
            cancel_at_period_end=True,
            canceled_at=ending,
            trial_end=trial_end,
        )
        return story
    if lifecycle == "paused":
        return _stripe_paused(s, base)
    # Every other lifecycle starts with a checkout: created incomplete, paid and active within a second.
    s.snapshot("created", base, "incomplete", p1)
    if lifecycle == "abandoned":
        s.invoice("invoice.payment_action_required", base, 1, p1)
        s.snapshot("updated", base + 23 * 3600, "incomplete_expired", p1, previous={"status": "incomplete"})
        return story
    s.paid(base, 1, p1)
    s.snapshot("updated", base, "active", p1, previous={"status": "incomplete"})
    if lifecycle == "renewing":
        for invoice, (before, period) in enumerate(((p1, p2), (p2, p3)), start=2):
            previous = {"current_period_start": before[0], "current_period_end": before[1]}
            s.snapshot("updated", period[0], "active", period, previous=previous)
            s.paid(period[0], invoice, period)
        return story
    # Renewed, but the new period's payment fails an hour later: past_due, then unpaid.
    s.snapshot(
        "updated", p1[1], "active", p2, previous={"current_period_start": p1[0], "current_period_end": p1[1]}
    )
    failed = p1[1] + 3600
    s.invoice("invoice.payment_failed", failed, 2, p2)
    s.snapshot("updated", failed, "past_due", p2, previous={"status": "active"})
    s.invoice("invoice.payment_failed", p1[1] + 3 * DAY, 2, p2, attempt=2)
    s.snapshot("updated", p1[1] + 7 * DAY, "unpaid", p2, previous={"status": "past_due"})
    if lifecycle == "delinquent":
        s.invoice("invoice.payment_failed", p1[1] + 10 * DAY, 2, p2, attempt=3)
        gone = p1[1] + 14 * DAY
        s.snapshot("deleted", gone, "canceled", p2, canceled_at=gone)
        return story
    # "full": recovered, renewed, cancellation asked, taken back, asked again, and the end.
    s.paid(p1[1] + 8 * DAY, 2, p2)
    s.snapshot("updated", p1[1] + 8 * DAY, "active", p2, previous={"status": "unpaid"})
    s.snapshot(
        "updated", p2[1], "active", p3, previous={"current_period_start": p2[0], "current_period_end": p2[1]}
    )
    s.paid(p2[1], 3, p3)
    asked, taken_back, asked_again = p2[1] + DAY, p2[1] + 2 * DAY, p2[1] + 3 * DAY
    cancel = {"cancel_at_period_end": False, "canceled_at": None}
    s.snapshot("updated", asked, "active", p3, previous=cancel, cancel_at_period_end=True, canceled_at=asked)
    s.snapshot(
        "updated", taken_back, "active", p3, previous={"cancel_at_period_end": True, "canceled_at": asked}
    )
    s.snapshot(
        "updated",
        asked_again,
        "active",
        p3,
        previous=cancel,
        cancel_at_period_end=True,
        canceled_at=asked_again,
    )
    s.snapshot("deleted", p3[1], "canceled", p3, cancel_at_period_end=True, canceled_at=asked_again)
    return story


def _stripe_paused(s: _StripeStory, base: int) -> Story:
    """A trial that ends without a payment method (paused), then resumed once one is added."""
    trial_end = base + 7 * DAY
    trial = (base, trial_end)
    s.story.trial_reminder = True
    s.snapshot("created", base, "trialing", trial, trial_end=trial_end)
    s.snapshot("trial_will_end", trial_end - 3 * DAY, "trialing", trial, trial_end=trial_end)
    # Stripe tells of one change in two events, within one second: `updated` and `paused`.
    s.snapshot("updated", trial_end, "paused", trial, previous={"status": "trialing"}, trial_end=trial_end)
    s.snapshot("paused", trial_end, "paused", trial, trial_end=trial_end)
    resumed = trial_end + 5 * DAY
    period = (resumed, resumed + 31 * DAY)
    s.paid(resumed, 1, period)
    s.snapshot("resumed", resumed, "active", period, trial_end=trial_end)
    s.snapshot("updated", resumed, "active", period, previous={"status": "paused"}, trial_end=trial_end)
    return s.story
