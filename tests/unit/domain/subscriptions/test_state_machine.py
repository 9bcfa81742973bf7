"""The subscription state machine: the transition table, and the pure lifecycle rules on top of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.shared.errors import InvalidTransition
from domain.shared.events import EventType
from domain.subscriptions.commands import ProviderPrice, RecordPayment, SyncSubscription
from domain.subscriptions.lifecycle import StaleUpdate, apply_payment, apply_sync, transition_event
from domain.subscriptions.model import Interval, Subscription
from domain.subscriptions.state_machine import (
    TERMINAL,
    TRANSITIONS,
    SubscriptionStatus,
    can_transition,
    check_transition,
)

S = SubscriptionStatus

# The lifecycle written out independently of the module under test: one row per status.
EXPECTED_TABLE: dict[SubscriptionStatus, set[SubscriptionStatus]] = {
    S.PENDING: {S.TRIALING, S.ACTIVE, S.CANCELED, S.EXPIRED},
    S.TRIALING: {S.ACTIVE, S.PAST_DUE, S.UNPAID, S.PAUSED, S.CANCELED},
    S.ACTIVE: {S.PAST_DUE, S.UNPAID, S.PAUSED, S.CANCELED},
    S.PAST_DUE: {S.ACTIVE, S.UNPAID, S.PAUSED, S.CANCELED},
    S.UNPAID: {S.ACTIVE, S.PAST_DUE, S.CANCELED},
    S.PAUSED: {S.ACTIVE, S.TRIALING, S.CANCELED},
    S.CANCELED: set(),
    S.EXPIRED: set(),
}

ALL_PAIRS = [(current, target) for current in S for target in S]
BASE = datetime(2025, 1, 1, tzinfo=UTC)
PROPERTY = settings(deadline=None)


# --------------------------------------------------------------------------- the table


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(S)


def test_table_matches_the_documented_lifecycle() -> None:
    assert {status: set(targets) for status, targets in TRANSITIONS.items()} == EXPECTED_TABLE


def test_terminal_states_are_canceled_and_expired() -> None:
    assert frozenset({S.CANCELED, S.EXPIRED}) == TERMINAL


def test_no_status_lists_itself_as_a_transition() -> None:
    assert all(status not in targets for status, targets in TRANSITIONS.items())


def test_canceled_is_reachable_from_every_live_status() -> None:
    assert all(S.CANCELED in TRANSITIONS[status] for status in S if status not in TERMINAL)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{c}->{t}" for c, t in ALL_PAIRS])
def test_can_transition_follows_the_table(current: SubscriptionStatus, target: SubscriptionStatus) -> None:
    allowed = current == target or target in EXPECTED_TABLE[current]
    assert can_transition(current, target) is allowed
    if allowed:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition) as raised:
            check_transition(current, target)
        assert (raised.value.current, raised.value.requested) == (current.value, target.value)


# --------------------------------------------------------------------------- helpers

PRICE = ProviderPrice(price_id="price_1", amount=2000, currency="usd", interval=Interval.MONTH)


def at(seconds: int) -> datetime:
    return BASE + timedelta(seconds=seconds)


def make_subscription(status: SubscriptionStatus, watermark: datetime | None) -> Subscription:
    return Subscription(
        id="sub_ours",
        merchant_id="mer_1",
        customer_id="cus_ours",
        plan_id="plan_ours",
        status=status,
        current_period_start=at(0),
        current_period_end=at(1000),
        provider="stripe",
        provider_subscription_id="sub_theirs",
        provider_watermark=watermark,
        created_at=BASE,
        updated_at=BASE,
    )


def make_sync(
    status: SubscriptionStatus,
    observed: datetime,
    *,
    period_end: datetime | None = None,
    cancel_at_period_end: bool = False,
    tie_break: int = 0,
) -> SyncSubscription:
    return SyncSubscription(
        source_key=f"src_{observed.timestamp()}_{status.value}_{tie_break}",
        merchant_id="mer_1",
        provider="stripe",
        provider_subscription_id="sub_theirs",
        provider_customer_id="cus_theirs",
        price=PRICE,
        status=status,
        observed_at=observed,
        tie_break=tie_break,
        current_period_end=period_end,
        cancel_at_period_end=cancel_at_period_end,
    )


def make_payment(amount: int, observed: datetime, period_end: datetime | None) -> RecordPayment:
    return RecordPayment(
        source_key=f"pay_{observed.timestamp()}",
        merchant_id="mer_1",
        provider="stripe",
        provider_subscription_id="sub_theirs",
        provider_invoice_id="in_1",
        amount_paid=amount,
        currency="usd",
        observed_at=observed,
        period_start=None if period_end is None else period_end - timedelta(seconds=1000),
        period_end=period_end,
    )


SUBSCRIPTION_EVENTS = {t for t in EventType if t.value.startswith("subscription.")}


# --------------------------------------------------------------------------- examples


def test_sync_older_than_the_watermark_is_stale() -> None:
    sub = make_subscription(S.ACTIVE, at(100))
    with pytest.raises(StaleUpdate):
        apply_sync(sub, make_sync(S.PAST_DUE, at(99)), at(500))


def test_sync_at_the_watermark_with_another_content_is_settled_by_content() -> None:
    sub = make_subscription(S.ACTIVE, at(100))
    # "past_due" sorts after "active": the same instant, the same winner whatever arrived first.
    after, events = apply_sync(sub, make_sync(S.PAST_DUE, at(100)), at(500))
    assert after.status == S.PAST_DUE
    assert events == [EventType.SUBSCRIPTION_PAST_DUE]
    with pytest.raises(StaleUpdate):
        apply_sync(after, make_sync(S.ACTIVE, at(100)), at(501))


def test_the_same_snapshot_twice_is_applied_once() -> None:
    sub = make_subscription(S.PENDING, None)
    after, _ = apply_sync(sub, make_sync(S.ACTIVE, at(100)), at(500))
    with pytest.raises(StaleUpdate, match="already applied"):
        apply_sync(after, make_sync(S.ACTIVE, at(100)), at(501))


def test_a_tie_break_orders_snapshots_of_the_same_second() -> None:
    sub = make_subscription(S.PENDING, None)
    later, _ = apply_sync(sub, make_sync(S.ACTIVE, at(100), tie_break=120), at(500))
    with pytest.raises(StaleUpdate):
        apply_sync(later, make_sync(S.PENDING, at(100), tie_break=10), at(501))
    assert later.provider_watermark == at(100) + timedelta(microseconds=120)


def test_terminal_subscription_refuses_another_status_as_stale() -> None:
    sub = make_subscription(S.CANCELED, at(100))
    with pytest.raises(StaleUpdate):
        apply_sync(sub, make_sync(S.ACTIVE, at(200)), at(500))


def test_a_newer_snapshot_applies_even_where_the_table_has_no_row() -> None:
    # The table guards merchant and scheduler actions; the provider's word is the provider's.
    sub = make_subscription(S.PENDING, at(100))
    assert not can_transition(S.PENDING, S.PAST_DUE)
    after, events = apply_sync(sub, make_sync(S.PAST_DUE, at(200)), at(500))
    assert after.status == S.PAST_DUE
    assert events == [EventType.SUBSCRIPTION_PAST_DUE]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (S.PENDING, S.ACTIVE, EventType.SUBSCRIPTION_ACTIVATED),
        (S.PAST_DUE, S.ACTIVE, EventType.SUBSCRIPTION_ACTIVATED),
        (S.ACTIVE, S.PAUSED, EventType.SUBSCRIPTION_PAUSED),
        (S.PAUSED, S.ACTIVE, EventType.SUBSCRIPTION_RESUMED),
        (S.PAUSED, S.TRIALING, EventType.SUBSCRIPTION_RESUMED),
        (S.ACTIVE, S.PAST_DUE, EventType.SUBSCRIPTION_PAST_DUE),
        (S.PAST_DUE, S.UNPAID, EventType.SUBSCRIPTION_UPDATED),
        (S.ACTIVE, S.CANCELED, EventType.SUBSCRIPTION_CANCELED),
        (S.PENDING, S.EXPIRED, EventType.SUBSCRIPTION_EXPIRED),
        (S.ACTIVE, S.ACTIVE, None),
    ],
)
def test_each_move_has_its_event(
    before: SubscriptionStatus, after: SubscriptionStatus, expected: EventType | None
) -> None:
    assert transition_event(before, after) == expected


def test_payment_on_a_synced_subscription_is_news_only() -> None:
    sub = make_subscription(S.PAST_DUE, at(100))
    after, events = apply_payment(sub, make_payment(2000, at(300), at(2000)), at(500))
    assert after == sub
    assert events == [EventType.PAYMENT_SUCCEEDED]


def test_payment_activates_a_subscription_no_snapshot_reached_and_dates_it() -> None:
    sub = make_subscription(S.PENDING, None)
    after, events = apply_payment(sub, make_payment(2000, at(300), at(2000)), at(500))
    assert after.status == S.ACTIVE
    assert after.provider_watermark == at(300)
    assert events == [EventType.SUBSCRIPTION_ACTIVATED, EventType.PAYMENT_SUCCEEDED]
    # A snapshot from before the payment no longer moves it back.
    with pytest.raises(StaleUpdate):
        apply_sync(after, make_sync(S.PENDING, at(200)), at(600))


# --------------------------------------------------------------------------- the machine

statuses = st.sampled_from(list(S))
moments = st.integers(min_value=0, max_value=5_000).map(at)
ties = st.integers(min_value=0, max_value=999)


def _position(observed: datetime, tie_break: int) -> datetime:
    return observed + timedelta(microseconds=tie_break)


class LifecycleMachine(RuleBasedStateMachine):
    """Feeds random snapshots and payments (many of them older than what was applied)."""

    def __init__(self) -> None:
        super().__init__()
        self.sub = make_subscription(S.PENDING, None)
        self.now = at(10_000)

    @initialize(status=statuses, watermark=st.none() | moments)
    def start(self, status: SubscriptionStatus, watermark: datetime | None) -> None:
        self.sub = make_subscription(status, watermark)

    def _tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    @rule(
        wanted=statuses,
        observed=moments,
        tie_break=ties,
        period_end=st.none() | moments,
        cancel_at_period_end=st.booleans(),
    )
    def sync(
        self,
        wanted: SubscriptionStatus,
        observed: datetime,
        tie_break: int,
        period_end: datetime | None,
        cancel_at_period_end: bool,
    ) -> None:
        before = self.sub
        cmd = make_sync(
            wanted,
            observed,
            period_end=period_end,
            cancel_at_period_end=cancel_at_period_end,
            tie_break=tie_break,
        )
        position = _position(observed, tie_break)
        older = before.provider_watermark is not None and position < before.provider_watermark
        final = before.status in TERMINAL and wanted != before.status
        try:
            after, events = apply_sync(before, cmd, self._tick())
        except StaleUpdate:
            assert older or final or position == before.provider_watermark
            return
        assert not older, "an older snapshot was applied"
        assert not final, "a final status was left"
        assert after.status == wanted
        assert after.provider_watermark == position
        assert after.cancel_at_period_end is cancel_at_period_end
        self._check_step(before, after, events)
        self.sub = after

    @rule(amount=st.sampled_from([0, 1, 2000]), observed=moments, period_end=st.none() | moments)
    def pay(self, amount: int, observed: datetime, period_end: datetime | None) -> None:
        before = self.sub
        try:
            after, events = apply_payment(before, make_payment(amount, observed, period_end), self._tick())
        except InvalidTransition:
            raise AssertionError("a payment never asks for a move the table refuses") from None
        if amount == 0:
            assert (after, events) == (before, [])
            return
        assert events[-1] == EventType.PAYMENT_SUCCEEDED
        assert events.count(EventType.PAYMENT_SUCCEEDED) == 1
        if before.provider_watermark is not None or before.status in TERMINAL or before.status == S.PAUSED:
            assert (after, events) == (before, [EventType.PAYMENT_SUCCEEDED])
            return
        waiting = (S.PENDING, S.TRIALING, S.PAST_DUE, S.UNPAID)
        assert after.status == (S.ACTIVE if before.status in waiting else before.status)
        if after.status != before.status:
            assert after.status in TRANSITIONS[before.status], "a payment took a move the table refuses"
        self._check_step(before, after, events)
        self.sub = after

    @precondition(lambda self: self.sub.status in TERMINAL)
    @rule(wanted=statuses, newer_by=st.integers(min_value=1, max_value=1000))
    def poke_terminal(self, wanted: SubscriptionStatus, newer_by: int) -> None:
        """A newer snapshot naming another status still cannot leave a terminal state."""
        assume(wanted != self.sub.status)
        base = self.sub.provider_watermark or BASE
        with pytest.raises(StaleUpdate):
            apply_sync(self.sub, make_sync(wanted, base + timedelta(seconds=newer_by)), self._tick())

    def _check_step(self, before: Subscription, after: Subscription, events: list[EventType]) -> None:
        status_events = [e for e in events if e in SUBSCRIPTION_EVENTS]
        if after.status != before.status:
            assert before.status not in TERMINAL
            assert status_events == [transition_event(before.status, after.status)]
        if before.provider_watermark is not None:
            assert after.provider_watermark is not None
            assert after.provider_watermark >= before.provider_watermark
        # Fields a snapshot never touches stay as they were.
        assert _without_lifecycle_fields(after, before) == before
        if status_events:
            assert after.updated_at == self.now
        else:
            assert after.updated_at == before.updated_at

    @invariant()
    def status_is_known(self) -> None:
        assert self.sub.status in TRANSITIONS


def _without_lifecycle_fields(after: Subscription, before: Subscription) -> Subscription:
    """`after` with every field a lifecycle step may change put back to its value in `before`."""
    return replace(
        after,
        status=before.status,
        current_period_start=before.current_period_start,
        current_period_end=before.current_period_end,
        cancel_at_period_end=before.cancel_at_period_end,
        trial_end=before.trial_end,
        canceled_at=before.canceled_at,
        provider_watermark=before.provider_watermark,
        updated_at=before.updated_at,
    )


LifecycleMachine.TestCase.settings = settings(deadline=None, max_examples=200, stateful_step_count=40)
TestLifecycleMachine = LifecycleMachine.TestCase


# --------------------------------------------------------------------------- convergence


@st.composite
def snapshot_sets(draw: st.DrawFn) -> list[SyncSubscription]:
    """Snapshots of one subscription, some at the same position; a final status only at the newest
    position (providers never leave one)."""
    positions = sorted(draw(st.lists(st.tuples(moments, ties), min_size=1, max_size=12)))
    live = [s for s in S if s not in TERMINAL]
    newest = positions[-1]
    return [
        make_sync(
            draw(st.sampled_from(list(S) if (observed, tie) == newest else live)),
            observed,
            tie_break=tie,
            period_end=draw(st.none() | moments),
            cancel_at_period_end=draw(st.booleans()),
        )
        for observed, tie in positions
    ]


def _fold(snapshots: list[SyncSubscription]) -> Subscription:
    sub = make_subscription(S.PENDING, None)
    for n, snapshot in enumerate(snapshots):
        try:
            sub, _ = apply_sync(sub, snapshot, at(20_000 + n))
        except StaleUpdate:
            continue
    return replace(sub, updated_at=BASE)


@PROPERTY
@given(data=st.data(), snapshots=snapshot_sets())
def test_any_order_of_snapshots_with_repeats_ends_in_the_same_state(
    data: st.DataObject, snapshots: list[SyncSubscription]
) -> None:
    repeats = data.draw(st.lists(st.sampled_from(snapshots), max_size=4))
    one_order = data.draw(st.permutations(snapshots + repeats))
    another = data.draw(st.permutations(snapshots))

    sub = _fold(one_order)

    assert sub == _fold(another)
    assert sub.provider_watermark == max(s.position for s in snapshots)
    newest = [s for s in snapshots if s.position == sub.provider_watermark]
    assert sub.status in {s.status for s in newest}


@pytest.mark.parametrize("live", [S.PAST_DUE, S.UNPAID, S.TRIALING, S.PAUSED, S.ACTIVE])
@pytest.mark.parametrize("final", sorted(TERMINAL))
def test_a_final_snapshot_wins_a_tie_in_either_order(
    live: SubscriptionStatus, final: SubscriptionStatus
) -> None:
    snapshots = [make_sync(live, at(100)), make_sync(final, at(100))]

    assert _fold(snapshots).status == final
    assert _fold(snapshots[::-1]).status == final
