"""PaddleAdapter: the envelope, the event table, and hostile payloads.

The fixtures are shaped after Paddle's published example notifications and its SDK's test
data (built by `integrations.providers.paddle.samples`, never copied).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from domain.subscriptions.commands import (
    FailureKind,
    ProviderCommand,
    ProviderPrice,
    RecordPayment,
    RecordPaymentFailure,
    SyncSubscription,
)
from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus as S
from integrations.providers.interface import Envelope, Ignored, MalformedRequest, PayloadError
from integrations.providers.paddle.adapter import PaddleAdapter
from integrations.providers.paddle.payloads import CUSTOMER_FIELDS, STATUS_MAP
from integrations.providers.paddle.samples import (
    CUSTOMER_ID,
    PERIOD_END,
    PERIOD_START,
    PRICE_ID,
    SUB_ID,
    T0,
    iso,
    paddle_event,
    subscription_event,
    subscription_object,
    transaction_event,
    transaction_object,
)
from integrations.providers.paddle.table import TABLE

ADAPTER = PaddleAdapter()
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what a JSON encoder writes
MERCHANT = "mer_1"
SOURCE = "evt_ours_1"
LATER = T0 + timedelta(hours=2)


def normalize(body: bytes) -> Sequence[ProviderCommand] | Ignored:
    return ADAPTER.normalize(body, MERCHANT, SOURCE)


def one(body: bytes) -> ProviderCommand:
    commands = normalize(body)
    assert not isinstance(commands, Ignored), commands
    [command] = commands
    return command


def one_sync(body: bytes) -> SyncSubscription:
    command = one(body)
    assert isinstance(command, SyncSubscription)
    return command


def test_the_envelope_is_the_events_id_type_and_time() -> None:
    body = subscription_event("subscription.created", event_id="evt_01jfq2abc", updated_at=LATER)

    assert ADAPTER.envelope(body, {}) == Envelope(
        event_id="evt_01jfq2abc", type="subscription.created", created_at=LATER
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"event_type": "subscription.created", "occurred_at": iso(T0)}, "event id is missing"),
        ({"event_id": "evt_1", "occurred_at": iso(T0)}, "event type is missing"),
        ({"event_id": "e" * 256, "event_type": "subscription.created"}, "event id is missing"),
        (
            {"event_id": "evt_1", "event_type": "x", "occurred_at": "10000-01-01T00:00:00Z"},
            "occurred_at is not",
        ),
        ({"event_id": "evt_1", "event_type": "x", "occurred_at": 1736942400}, "occurred_at is not"),
        (
            {"event_id": "evt_1", "event_type": "x", "occurred_at": "1969-12-31T23:59:59Z"},
            "occurred_at is outside",
        ),
        ({"event_id": ["evt_1"], "event_type": "x"}, "event id is missing"),
    ],
)
def test_a_bad_envelope_is_malformed(document: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedRequest, match=reason):
        ADAPTER.envelope(orjson.dumps(document), {})


def test_a_created_subscription_is_a_snapshot_of_everything_it_says() -> None:
    body = subscription_event(
        "subscription.created", updated_at=LATER, custom_data={"subgate_subscription_id": "sub_ours"}
    )

    assert one_sync(body) == SyncSubscription(
        source_key=SOURCE,
        merchant_id=MERCHANT,
        provider="paddle",
        provider_subscription_id=SUB_ID,
        provider_customer_id=CUSTOMER_ID,
        customer_email=None,
        price=ProviderPrice(
            price_id=PRICE_ID, amount=3000, currency="usd", interval=Interval.MONTH, name="AeroEdit Pro"
        ),
        status=S.ACTIVE,
        observed_at=LATER,
        current_period_start=PERIOD_START,
        current_period_end=PERIOD_END,
        linked_subscription_id="sub_ours",
    )


@pytest.mark.parametrize("event_type", [t for t in TABLE if t.startswith("subscription.")])
def test_every_subscription_event_is_a_snapshot(event_type: str) -> None:
    assert one_sync(subscription_event(event_type)).provider_subscription_id == SUB_ID


@pytest.mark.parametrize(("word", "ours"), STATUS_MAP.items())
def test_every_paddle_status_is_ours(word: str, ours: S) -> None:
    assert one_sync(subscription_event(status=word)).status == ours


def test_an_unknown_status_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="status"):
        normalize(subscription_event(status="on_hold"))


def test_a_scheduled_cancel_ends_at_its_date() -> None:
    ends = PERIOD_END + timedelta(hours=1)
    change = {"action": "cancel", "effective_at": iso(ends), "resume_at": None}

    sync = one_sync(subscription_event(scheduled_change=change))

    assert (sync.status, sync.cancel_at_period_end, sync.current_period_end) == (S.ACTIVE, True, ends)


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_another_scheduled_change_is_no_cancel(action: str) -> None:
    change = {"action": action, "effective_at": iso(PERIOD_END), "resume_at": None}

    sync = one_sync(subscription_event(scheduled_change=change))

    assert (sync.cancel_at_period_end, sync.current_period_end) == (False, PERIOD_END)


def test_a_scheduled_cancel_without_its_date_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="effective_at"):
        normalize(subscription_event(scheduled_change={"action": "cancel", "effective_at": None}))


def test_a_canceled_subscription_without_a_period_says_so() -> None:
    sync = one_sync(
        subscription_event(
            "subscription.canceled", status="canceled", period_start=None, period_end=None, canceled_at=LATER
        )
    )

    assert (sync.status, sync.current_period_end, sync.canceled_at) == (S.CANCELED, None, LATER)


def test_a_trial_ends_when_its_item_says() -> None:
    ends = T0 + timedelta(days=14)

    assert (
        one_sync(subscription_event("subscription.trialing", status="trialing", trial_end=ends)).trial_end
        == ends
    )


def test_the_plan_is_named_after_the_product_else_the_price_else_nothing() -> None:
    assert one_sync(subscription_event(product_name=None)).price.name == "Monthly (per seat)"
    assert one_sync(subscription_event(product_name=None, price_name=None)).price.name is None


def test_a_snapshot_is_dated_by_its_updated_at_else_the_event() -> None:
    sub = subscription_object(updated_at=None)

    assert one_sync(paddle_event("subscription.updated", sub, occurred_at=LATER)).observed_at == LATER
    with pytest.raises(PayloadError, match="no updated_at"):
        normalize(paddle_event("subscription.updated", sub, occurred_at=None))


@pytest.mark.parametrize("event_type", ["transaction.completed", "transaction.paid"])
def test_a_paid_subscription_transaction_is_a_payment_and_a_renewal(event_type: str) -> None:
    body = transaction_event(
        event_type, updated_at=LATER, custom_data={"subgate_subscription_id": "sub_ours"}
    )

    assert one(body) == RecordPayment(
        source_key=SOURCE,
        merchant_id=MERCHANT,
        provider="paddle",
        provider_subscription_id=SUB_ID,
        provider_invoice_id="txn_01jfq2w8c0e2g4j6l8n0q2s4u6",
        amount_paid=3000,
        currency="usd",
        observed_at=LATER,
        period_start=PERIOD_START,
        period_end=PERIOD_END,
        linked_subscription_id="sub_ours",
        renewal=True,
    )


def test_a_transaction_of_no_subscription_is_ignored() -> None:
    for event_type in ("transaction.completed", "transaction.payment_failed"):
        assert isinstance(normalize(transaction_event(event_type, subscription_id=None)), Ignored)


@pytest.mark.parametrize(
    ("payments", "kind", "attempt"),
    [
        ([{"status": "error", "error_code": "declined"}], FailureKind.DECLINED, 1),
        (
            [
                {"status": "action_required", "error_code": None},
                {"status": "error", "error_code": "declined"},
            ],
            FailureKind.ACTION_REQUIRED,
            2,
        ),
        ([], FailureKind.DECLINED, None),
    ],
)
def test_a_failed_payment_names_its_attempt(
    payments: list[dict[str, Any]], kind: FailureKind, attempt: int | None
) -> None:
    body = transaction_event("transaction.payment_failed", status="ready", payments=payments)

    failure = one(body)

    assert isinstance(failure, RecordPaymentFailure)
    assert (failure.kind, failure.attempt, failure.amount_due, failure.currency) == (
        kind,
        attempt,
        3000,
        "usd",
    )


@pytest.mark.parametrize(
    "event_type", ["customer.updated", "transaction.created", "transaction.billed", "adjustment.created"]
)
def test_other_types_are_ignored(event_type: str) -> None:
    normalized = normalize(paddle_event(event_type, {"id": "x"}))

    assert isinstance(normalized, Ignored)
    assert event_type in normalized.reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"grand_total": "-1"}, "grand_total"),
        ({"grand_total": "1e3"}, "grand_total"),
        ({"grand_total": "١٢٣"}, "grand_total"),
        ({"grand_total": "9" * 19}, "grand_total"),
        ({"grand_total": None}, "grand_total"),
        ({"currency_code": None}, "currency_code"),
    ],
)
def test_an_unusable_transaction_amount_is_a_payload_error(change: dict[str, Any], field: str) -> None:
    transaction = transaction_object()
    transaction["details"]["totals"] |= change
    transaction["currency_code"] = change.get("currency_code", "USD")

    with pytest.raises(PayloadError, match=field):
        normalize(paddle_event("transaction.completed", transaction))


@pytest.mark.parametrize(
    ("field", "value", "blamed"),
    [
        ("current_billing_period", {"starts_at": "0001-01-01T00:00:00+01:00", "ends_at": None}, "starts_at"),
        ("current_billing_period", {"starts_at": None, "ends_at": "9999-12-31T23:59:59-01:00"}, "ends_at"),
        ("current_billing_period", "2025-01-01", "current_billing_period"),
        ("canceled_at", "2025-01-01T00:00:00", "canceled_at"),
        ("items", [], "items"),
        ("items", "pri_1", "items"),
        ("customer_id", {"id": "ctm_1"}, "customer_id"),
        ("id", "", "subscription.id"),
    ],
)
def test_an_unusable_subscription_field_is_a_payload_error_naming_it(
    field: str, value: Any, blamed: str
) -> None:
    sub = subscription_object()
    sub[field] = value

    with pytest.raises(PayloadError, match=blamed):
        normalize(paddle_event("subscription.updated", sub))


def test_the_customer_fields_are_named_in_one_place() -> None:
    sub = subscription_object()

    assert set(CUSTOMER_FIELDS) <= set(sub)
    assert one_sync(paddle_event("subscription.updated", sub)).provider_customer_id == sub["customer_id"]


def test_a_deeply_nested_or_huge_payload_is_read_or_refused_never_crashes() -> None:
    nested: Any = "x"
    for _ in range(200):
        nested = {"custom_data": nested}
    sub = subscription_object(
        custom_data={"subgate_subscription_id": "sub_ours", "deep": nested, "big": "y" * 100_000}
    )

    assert one_sync(paddle_event("subscription.updated", sub)).linked_subscription_id == "sub_ours"


@settings(deadline=None)
@given(
    data=st.recursive(
        st.none() | st.booleans() | INT64 | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=20,
    ),
    event_type=st.sampled_from(sorted(TABLE)),
)
def test_any_object_in_any_handled_event_is_commands_or_a_payload_error(data: Any, event_type: str) -> None:
    body = paddle_event(event_type, {"x": data} if not isinstance(data, dict) else data)
    try:
        normalize(body)
    except PayloadError:
        return


@settings(deadline=None)
@given(
    field=st.sampled_from(
        ["id", "status", "customer_id", "updated_at", "items", "custom_data", "scheduled_change"]
    ),
    value=st.none() | INT64 | st.text(max_size=30) | st.lists(INT64, max_size=2),
)
def test_any_value_of_a_subscription_field_is_a_snapshot_or_a_payload_error(field: str, value: Any) -> None:
    sub = subscription_object()
    sub[field] = value
    try:
        normalize(paddle_event("subscription.updated", sub))
    except PayloadError:
        return


def test_a_body_with_duplicate_keys_is_read_the_same_way_at_the_door_and_in_the_worker() -> None:
    # Only Paddle can sign a body, but the door and the worker must never disagree about one.
    sub = orjson.dumps(subscription_object()).decode()
    body = (
        '{"event_id":"evt_first","event_type":"subscription.canceled","event_id":"evt_last",'
        f'"event_type":"subscription.updated","occurred_at":"{iso(T0)}","data":{sub}}}'
    ).encode()

    envelope = ADAPTER.envelope(body, {})
    sync = one_sync(body)

    assert (envelope.event_id, envelope.type) == ("evt_last", "subscription.updated")
    assert sync.status == S.ACTIVE
