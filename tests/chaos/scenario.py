"""Provider traffic for the chaos test: Stripe and Polar subscriptions living realistic lives.

Each subscription follows one lifecycle, written as its provider reports it: several events
for one change (Stripe's `invoice.paid` with `invoice.payment_succeeded`, Polar's
`subscription.active` with `subscription.updated`), several snapshots within one Stripe
second, failed payment attempts, a cancellation taken back and made again. The builder
records every snapshot's content in the provider's own order as it writes the events, so
what the service must end with comes from the provider's timeline, never from the
service's own ordering rules.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tests.support import polar_events as polar, stripe_events as stripe

DAY: Final = 86_400
_STATUSES: Final = {"incomplete": "pending", "incomplete_expired": "expired"}


@dataclass(frozen=True, slots=True, kw_only=True)
class View:
    """What a snapshot says about a subscription: the fields its notifications and REST show."""

    status: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None

    @classmethod
    def of(cls, sub: Mapping[str, Any]) -> View:
        """From the service's JSON (`GET /v1/subscriptions`, `data.subscription`)."""
        return cls(
            status=sub["status"],
            current_period_start=_parsed(sub["current_period_start"]),
            current_period_end=_parsed(sub["current_period_end"]),
            cancel_at_period_end=sub["cancel_at_period_end"],
            canceled_at=_parsed(sub["canceled_at"]),
            trial_end=_parsed(sub["trial_end"]),
        )

    def __str__(self) -> str:
        times = (self.current_period_start, self.current_period_end, self.canceled_at, self.trial_end)
        start, end, canceled, trial = (t.isoformat(timespec="seconds") if t else "-" for t in times)
        cancel = " cancel_at_period_end" if self.cancel_at_period_end else ""
        return f"{self.status} {start}..{end}{cancel} canceled_at={canceled} trial_end={trial}"


def _parsed(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _at(unix: int | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderEvent:
    provider: str  # "stripe" or "polar": which connection it is posted to
    event_id: str  # Stripe's `id`, Polar's `webhook-id`
    event_type: str
    body: bytes
    subscription: str  # the provider's subscription id


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment notification the merchant must receive exactly once."""

    type: str
    invoice: str
    attempt: int | None = None


@dataclass(slots=True, kw_only=True)
class Story:
    """One subscription's events, and what they must leave behind."""

    provider: str
    subscription: str
    lifecycle: str
    views: list[View] = field(default_factory=list)  # every snapshot's content, in provider order
    payments: list[Payment] = field(default_factory=list)
    events: list[ProviderEvent] = field(default_factory=list)
    trial_reminder: bool = False  # may tell `subscription.trial_will_end` (once, and only while trialing)

    @property
    def final(self) -> View:
        return self.views[-1]


class _StripeStory:
    def __init__(self, story: Story, customer: str, price: str) -> None:
        self.story = story
        self._customer = customer
        self._price = price
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
            unit_amount=2000,
        )
        self._add(event_type, body, event_id)
        self.story.views.append(
            View(
                status="canceled" if kind == "deleted" else _STATUSES.get(status, status),
                current_period_start=_at(period[0]),
                current_period_end=_at(period[1]),
                cancel_at_period_end=cancel_at_period_end,
                canceled_at=_at(canceled_at),
                trial_end=_at(trial_end),
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


def _stripe_story(sub_id: str, lifecycle: str, base: int, rng: random.Random) -> Story:
    story = Story(provider="stripe", subscription=sub_id, lifecycle=lifecycle)
    s = _StripeStory(story, customer=f"cus_{sub_id.removeprefix('sub_')}", price=f"price_{rng.randrange(3)}")
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
        for number, (before, period) in enumerate(((p1, p2), (p2, p3)), start=2):
            previous = {"current_period_start": before[0], "current_period_end": before[1]}
            s.snapshot("updated", period[0], "active", period, previous=previous)
            s.paid(period[0], number, period)
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
                status="canceled" if "subscription.revoked" in event_types else _STATUSES.get(status, status),
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


def _polar_story(sub_id: str, lifecycle: str, base: datetime, rng: random.Random) -> Story:
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


_LIFECYCLES: Final[Mapping[str, tuple[tuple[str, float], ...]]] = {
    "stripe": (
        ("full", 0.3),
        ("renewing", 0.2),
        ("delinquent", 0.15),
        ("trial", 0.15),
        ("paused", 0.1),
        ("abandoned", 0.1),
    ),
    "polar": (("full", 0.4), ("renewing", 0.25), ("delinquent", 0.2), ("ending", 0.15)),
}
_BUILDERS: Final[Mapping[str, Callable[[int, str, random.Random], Story]]] = {
    "stripe": lambda n, lifecycle, rng: _stripe_story(
        f"sub_chaos{n:05}", lifecycle, stripe.T0 + n * 7 * DAY, rng
    ),
    "polar": lambda n, lifecycle, rng: _polar_story(
        f"chaos-polar-{n:05}", lifecycle, polar.T0 + timedelta(days=7 * n), rng
    ),
}


@dataclass(frozen=True, slots=True)
class Scenario:
    stories: list[Story]

    @property
    def events(self) -> list[ProviderEvent]:
        return [event for story in self.stories for event in story.events]

    def by_provider(self, provider: str) -> list[Story]:
        return [story for story in self.stories if story.provider == provider]


def generate(rng: random.Random, *, subscriptions: int, events: int, polar_share: float = 0.45) -> Scenario:
    """At least `subscriptions` subscriptions and `events` distinct events, both providers."""
    stories: list[Story] = []
    total = 0
    while len(stories) < subscriptions or total < events:
        provider = "polar" if rng.random() < polar_share else "stripe"
        names, weights = zip(*_LIFECYCLES[provider], strict=True)
        lifecycle = rng.choices(names, weights)[0]
        story = _BUILDERS[provider](len(stories), lifecycle, rng)
        stories.append(story)
        total += len(story.events)
    return Scenario(stories)


def deliveries(scenario: Scenario, rng: random.Random, duplicate_share: float) -> list[ProviderEvent]:
    """Every event once, a share of them twice, all shuffled: a subscription's events too."""
    events = scenario.events
    sent = events + rng.sample(events, round(len(events) * duplicate_share))
    rng.shuffle(sent)
    return sent
