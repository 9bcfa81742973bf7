"""PolarAdapter: Standard Webhooks verification keyed with the secret's bytes, and the event table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from domain.subscriptions.commands import ProviderCommand, ProviderPrice, RecordPayment, SyncSubscription
from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers.interface import (
    Envelope,
    Ignored,
    MalformedRequest,
    MissingSignature,
    PayloadError,
    SignatureRejected,
    SignedRequest,
)
from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.polar.payloads import STATUS_MAP
from integrations.providers.polar.samples import (
    PERIOD_END,
    PERIOD_START,
    T0,
    order_event,
    order_object,
    polar_event,
    polar_headers,
    subscription_event,
    subscription_object,
)
from integrations.providers.polar.table import TABLE
from tests.support.signatures import POLAR_SECRET as SECRET, svix_style_headers

S = SubscriptionStatus
ADAPTER = PolarAdapter()
MERCHANT = "mer_1"
SOURCE = "evt_ours_1"
NOW = T0 + timedelta(days=3)
STAMP = int(NOW.timestamp())
TOLERANCE = 300


def verify(
    body: bytes, headers: dict[str, str], secrets: Sequence[str] = (SECRET,), now: datetime = NOW
) -> None:
    ADAPTER.verify(
        SignedRequest(body=body, headers=headers, secrets=secrets, now=now, tolerance_seconds=TOLERANCE)
    )


def normalize(body: bytes) -> Sequence[ProviderCommand] | Ignored:
    return ADAPTER.normalize(body, MERCHANT, SOURCE)


def one(body: bytes) -> ProviderCommand:
    result = normalize(body)
    assert not isinstance(result, Ignored), result
    [command] = result
    return command


def one_sync(body: bytes) -> SyncSubscription:
    command = one(body)
    assert isinstance(command, SyncSubscription)
    return command


# --------------------------------------------------------------------------- signatures


def test_a_body_signed_with_the_secret_as_polar_shows_it_verifies() -> None:
    body = subscription_event()
    verify(body, polar_headers(body, SECRET, STAMP))


def test_a_signature_keyed_the_svix_way_is_refused() -> None:
    # svix decodes `whsec_<base64>` into the key; Polar keys with the secret's own bytes.
    body = subscription_event()
    with pytest.raises(SignatureRejected):
        verify(body, svix_style_headers(body, SECRET, STAMP, "msg_1"))


def test_the_prefix_is_part_of_the_key() -> None:
    body = subscription_event()
    without_prefix = SECRET.removeprefix("polar_whs_")
    with pytest.raises(SignatureRejected):
        verify(body, polar_headers(body, without_prefix, STAMP))


@pytest.mark.parametrize("secret", ["whsec_bXktc2VjcmV0LWtleQ==", "a-plain-secret-without-prefix"])
def test_secrets_of_any_form_are_used_as_given(secret: str) -> None:
    body = subscription_event()
    verify(body, polar_headers(body, secret, STAMP), secrets=[secret])


def test_any_listed_secret_verifies_during_a_rotation() -> None:
    body = subscription_event()
    old, new = "polar_whs_the_old_one_1234", "polar_whs_the_new_one_5678"
    verify(body, polar_headers(body, old, STAMP), secrets=[old, new])
    verify(body, polar_headers(body, new, STAMP), secrets=[old, new])
    with pytest.raises(SignatureRejected):
        verify(body, polar_headers(body, old, STAMP), secrets=[new])


def test_several_signatures_in_one_header_pass_if_one_matches() -> None:
    body = subscription_event()
    headers = polar_headers(body, SECRET, STAMP)
    other = polar_headers(body, "polar_whs_someone_else", STAMP)["webhook-signature"]
    headers["webhook-signature"] = f"{other} v1a,ignored {headers['webhook-signature']}"
    verify(body, headers)


def test_an_altered_body_is_refused() -> None:
    body = subscription_event()
    headers = polar_headers(body, SECRET, STAMP)
    with pytest.raises(SignatureRejected):
        verify(body.replace(b"active", b"canceled"), headers)


def test_the_message_id_is_signed_too() -> None:
    body = subscription_event()
    headers = polar_headers(body, SECRET, STAMP, message_id="msg_a")
    headers["webhook-id"] = "msg_b"
    with pytest.raises(SignatureRejected):
        verify(body, headers)


@pytest.mark.parametrize("skew", [TOLERANCE + 1, -(TOLERANCE + 1)], ids=["old", "future"])
def test_timestamps_outside_the_tolerance_are_refused_both_ways(skew: int) -> None:
    body = subscription_event()
    with pytest.raises(SignatureRejected, match="away from now"):
        verify(body, polar_headers(body, SECRET, STAMP - skew))


@pytest.mark.parametrize("skew", [TOLERANCE, -TOLERANCE, 0])
def test_timestamps_within_the_tolerance_pass(skew: int) -> None:
    body = subscription_event()
    verify(body, polar_headers(body, SECRET, STAMP - skew))


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_a_missing_signature(missing: str) -> None:
    body = subscription_event()
    headers = polar_headers(body, SECRET, STAMP)
    del headers[missing]
    with pytest.raises(MissingSignature):
        verify(body, headers)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook-timestamp", "yesterday"),
        ("webhook-timestamp", "-5"),
        ("webhook-timestamp", "1e9"),
        ("webhook-signature", "v1a,abc"),
        ("webhook-signature", "v1,not base64!"),
        ("webhook-signature", "v1,c2hvcnQ="),
        ("webhook-signature", "v1," + "A" * 5000),
        ("webhook-id", "x" * 256),
    ],
)
def test_unusable_headers_are_malformed(name: str, value: str) -> None:
    body = subscription_event()
    headers = polar_headers(body, SECRET, STAMP) | {name: value}
    with pytest.raises(MalformedRequest):
        verify(body, headers)


header_text = st.text(max_size=80) | st.from_regex(r"v1,[A-Za-z0-9+/=]{0,60}( v1,[A-Za-z0-9+/=]{0,60})?")


@settings(deadline=None, max_examples=200)
@given(message_id=header_text, timestamp=header_text, signature=header_text)
def test_arbitrary_headers_fail_only_as_the_three_refusals(
    message_id: str, timestamp: str, signature: str
) -> None:
    body = subscription_event()
    headers = {"webhook-id": message_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    with pytest.raises((MissingSignature, MalformedRequest, SignatureRejected)):
        verify(body, headers)


# --------------------------------------------------------------------------- envelope


def test_the_envelope_takes_its_id_from_the_webhook_id_header() -> None:
    body = subscription_event("subscription.active")
    envelope = ADAPTER.envelope(body, {"webhook-id": "msg_42"})
    assert envelope == Envelope(event_id="msg_42", type="subscription.active", created_at=T0)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"[]", {"webhook-id": "msg_1"}),
        (b"{", {"webhook-id": "msg_1"}),
        (orjson.dumps({"data": {}}), {"webhook-id": "msg_1"}),
        (orjson.dumps({"type": "order.paid", "timestamp": "soon"}), {"webhook-id": "msg_1"}),
        (orjson.dumps({"type": "order.paid"}), {}),
    ],
    ids=["list", "not-json", "no-type", "bad-timestamp", "no-id"],
)
def test_the_envelope_refuses_what_is_not_a_polar_event(body: bytes, headers: dict[str, str]) -> None:
    with pytest.raises(MalformedRequest):
        ADAPTER.envelope(body, headers)


# --------------------------------------------------------------------------- the table, row by row

PRICE = ProviderPrice(
    price_id="prod-polar-pro",
    amount=1500,
    currency="usd",
    interval=Interval.MONTH,
    interval_count=1,
    name="Pro",
)


def test_the_table_has_exactly_the_documented_rows() -> None:
    assert set(TABLE) == {
        "subscription.created",
        "subscription.updated",
        "subscription.active",
        "subscription.past_due",
        "subscription.canceled",
        "subscription.uncanceled",
        "subscription.revoked",
        "order.paid",
    }


def test_status_map() -> None:
    assert STATUS_MAP == {
        "incomplete": S.PENDING,
        "incomplete_expired": S.EXPIRED,
        "trialing": S.TRIALING,
        "active": S.ACTIVE,
        "past_due": S.PAST_DUE,
        "unpaid": S.UNPAID,
        "canceled": S.CANCELED,
    }


def test_subscription_created_is_a_full_snapshot() -> None:
    modified = T0 + timedelta(seconds=3, microseconds=250)
    command = one_sync(
        subscription_event(
            "subscription.created",
            status="incomplete",
            modified_at=modified,
            metadata={"subgate_subscription_id": "sub_ours"},
        )
    )
    assert command == SyncSubscription(
        source_key=SOURCE,
        merchant_id=MERCHANT,
        provider="polar",
        provider_subscription_id="b6a3c5e2-polar-sub-1",
        provider_customer_id="c0ffee00-polar-cus-1",
        customer_email="ada@example.com",
        price=PRICE,
        status=S.PENDING,
        observed_at=modified,
        current_period_start=PERIOD_START,
        current_period_end=PERIOD_END,
        linked_subscription_id="sub_ours",
    )


@pytest.mark.parametrize(
    ("event_type", "status", "expected"),
    [
        ("subscription.updated", "active", S.ACTIVE),
        ("subscription.active", "active", S.ACTIVE),
        ("subscription.past_due", "past_due", S.PAST_DUE),
        ("subscription.updated", "unpaid", S.UNPAID),
        ("subscription.updated", "trialing", S.TRIALING),
        ("subscription.canceled", "canceled", S.CANCELED),
        ("subscription.revoked", "active", S.CANCELED),
        ("subscription.revoked", "canceled", S.CANCELED),
    ],
)
def test_each_subscription_type_takes_the_status_it_reports(
    event_type: str, status: str, expected: SubscriptionStatus
) -> None:
    assert one_sync(subscription_event(event_type, status=status)).status == expected


def test_canceled_at_period_end_stays_active_with_the_flag() -> None:
    command = one_sync(
        subscription_event(
            "subscription.canceled", cancel_at_period_end=True, canceled_at=T0 + timedelta(days=1)
        )
    )
    assert (command.status, command.cancel_at_period_end) == (S.ACTIVE, True)
    assert command.canceled_at == T0 + timedelta(days=1)


def test_uncanceled_clears_the_flag() -> None:
    command = one_sync(subscription_event("subscription.uncanceled", cancel_at_period_end=False))
    assert (command.status, command.cancel_at_period_end, command.canceled_at) == (S.ACTIVE, False, None)


def test_a_never_modified_subscription_is_dated_by_its_creation() -> None:
    created = T0 - timedelta(hours=1)
    assert one_sync(subscription_event(modified_at=None, created_at=created)).observed_at == created


def test_a_yearly_plan_every_two_years() -> None:
    price = one_sync(subscription_event(interval="year", interval_count=2, amount=9900, currency="eur")).price
    assert (price.interval, price.interval_count, price.amount, price.currency) == (
        Interval.YEAR,
        2,
        9900,
        "eur",
    )


def test_order_paid_records_the_payment_of_its_subscription() -> None:
    command = one(order_event(total_amount=1815, currency="eur"))
    assert command == RecordPayment(
        source_key=SOURCE,
        merchant_id=MERCHANT,
        provider="polar",
        provider_subscription_id="b6a3c5e2-polar-sub-1",
        provider_invoice_id="0rder000-polar-1",
        amount_paid=1815,
        currency="eur",
        observed_at=T0,
        period_start=PERIOD_START,
        period_end=PERIOD_END,
    )


def test_an_older_order_shape_with_amount() -> None:
    order = order_object()
    del order["total_amount"]
    order["amount"] = 990
    command = one(polar_event("order.paid", order))
    assert isinstance(command, RecordPayment)
    assert command.amount_paid == 990


def test_an_order_of_no_subscription_is_ignored() -> None:
    result = normalize(order_event(subscription_id=None))
    assert isinstance(result, Ignored)
    assert "subscription" in result.reason


@pytest.mark.parametrize("event_type", ["checkout.created", "order.refunded", "benefit_grant.created", ""])
def test_other_types_are_ignored(event_type: str) -> None:
    result = normalize(polar_event(event_type, {"id": "x"}))
    assert isinstance(result, Ignored)


def _bad(**changes: Any) -> dict[str, Any]:
    return subscription_object() | changes


MALFORMED = {
    "no-id": _bad(id=None),
    "unknown-status": _bad(status="paused"),
    "no-customer": _bad(customer_id=None, customer=None),
    "bad-interval": _bad(recurring_interval="fortnight"),
    "negative-amount": _bad(amount=-1),
    "period-not-a-time": _bad(current_period_end="next month"),
    "period-without-zone": _bad(current_period_end="2025-02-01T00:00:00"),
    "no-time-at-all": _bad(modified_at=None, created_at=None),
    "no-product": _bad(product_id=None, product=None),
}


@pytest.mark.parametrize("obj", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_subscriptions_are_payload_errors(obj: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        normalize(polar_event("subscription.updated", obj, timestamp=None))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(deadline=None, max_examples=200)
@given(event_type=st.sampled_from(sorted(TABLE)), data=json_values, timestamp=json_values)
def test_arbitrary_objects_fail_only_as_payload_errors(event_type: str, data: Any, timestamp: Any) -> None:
    body = orjson.dumps({"type": event_type, "timestamp": timestamp, "data": data})
    try:
        result = normalize(body)
    except PayloadError:
        return
    assert isinstance(result, Ignored) or all(isinstance(c, SyncSubscription | RecordPayment) for c in result)


def test_times_keep_their_microseconds() -> None:
    modified = datetime(2025, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert one_sync(subscription_event(modified_at=modified)).observed_at == modified
