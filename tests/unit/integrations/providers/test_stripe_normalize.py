"""StripeAdapter: envelope parsing and the normalization of events into domain commands."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from domain.subscriptions.commands import (
    AnnounceTrialEnd,
    FailureKind,
    LinkSubscription,
    ProviderCommand,
    ProviderPrice,
    RecordPayment,
    RecordPaymentFailure,
    SyncSubscription,
)
from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers.interface import Envelope, Ignored, MalformedRequest, PayloadError, SignedRequest
from integrations.providers.samples import encode
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.payloads import STATUS_MAP
from integrations.providers.stripe.samples import (
    PERIOD_END,
    PERIOD_START,
    T0,
    checkout_session_object,
    event,
    event_body,
    invoice_object,
    invoice_paid_event,
    signed_headers,
    subscription_event,
    subscription_object,
    thin_event_body,
)
from integrations.providers.stripe.table import TABLE

S = SubscriptionStatus
ADAPTER = StripeAdapter()
MERCHANT = "mer_1"
SOURCE = "evt_ours_1"
PROPERTY = settings(deadline=None, max_examples=300)
SUBSCRIPTION_TYPES = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
HANDLED_TYPES = tuple(sorted(TABLE))


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def normalize(body: bytes) -> Sequence[ProviderCommand] | Ignored:
    return ADAPTER.normalize(body, MERCHANT, SOURCE)


def one_sync(body: bytes) -> SyncSubscription:
    result = normalize(body)
    assert not isinstance(result, Ignored), result
    [command] = result
    assert isinstance(command, SyncSubscription)
    return command


def one_payment(body: bytes) -> RecordPayment:
    result = normalize(body)
    assert not isinstance(result, Ignored), result
    [command] = result
    assert isinstance(command, RecordPayment)
    return command


def with_object(event_type: str, obj: Any, **envelope: Any) -> bytes:
    document = event(event_type, {}, **envelope)
    document["data"]["object"] = obj
    return encode(document)


# --------------------------------------------------------------------------- subscriptions


@pytest.mark.parametrize(
    ("event_type", "tie_break"), [(SUBSCRIPTION_TYPES[0], 10), (SUBSCRIPTION_TYPES[1], 110)]
)
def test_subscription_event_in_the_current_shape(event_type: str, tie_break: int) -> None:
    command = one_sync(
        subscription_event(event_type, created=T0 + 60, status="trialing", trial_end=PERIOD_END)
    )

    assert command == SyncSubscription(
        source_key=SOURCE,
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id="sub_test1",
        provider_customer_id="cus_test1",
        price=ProviderPrice(
            price_id="price_test1", amount=2000, currency="usd", interval=Interval.MONTH, interval_count=1
        ),
        status=S.TRIALING,
        observed_at=ts(T0 + 60),
        tie_break=tie_break,
        current_period_start=ts(PERIOD_START),
        current_period_end=ts(PERIOD_END),
        cancel_at_period_end=False,
        trial_end=ts(PERIOD_END),
        canceled_at=None,
        linked_subscription_id=None,
        customer_email=None,
    )


def test_legacy_shape_takes_the_period_from_the_subscription() -> None:
    sub = subscription_object(legacy=True, period_start=T0 + 10, period_end=T0 + 20)
    assert "current_period_end" not in sub["items"]["data"][0]

    command = one_sync(event_body("customer.subscription.updated", sub))

    assert (command.current_period_start, command.current_period_end) == (ts(T0 + 10), ts(T0 + 20))


def test_the_items_period_wins_when_both_shapes_are_present() -> None:
    sub = subscription_object(period_start=T0 + 100, period_end=T0 + 200)
    sub["current_period_start"], sub["current_period_end"] = T0 + 1, T0 + 2

    command = one_sync(event_body("customer.subscription.updated", sub))

    assert (command.current_period_start, command.current_period_end) == (ts(T0 + 100), ts(T0 + 200))


def test_a_subscription_without_any_period_has_none() -> None:
    command = one_sync(subscription_event(period_start=None, period_end=None))
    assert (command.current_period_start, command.current_period_end) == (None, None)


def test_deleted_means_canceled_whatever_the_object_says() -> None:
    command = one_sync(
        subscription_event("customer.subscription.deleted", status="active", canceled_at=T0 + 5)
    )
    assert command.status == S.CANCELED
    assert command.canceled_at == ts(T0 + 5)


def test_expanded_customer_gives_its_id_and_email() -> None:
    customer = {"id": "cus_expanded", "object": "customer", "email": "ada@example.com"}
    command = one_sync(subscription_event(customer=customer))
    assert command.provider_customer_id == "cus_expanded"
    assert command.customer_email == "ada@example.com"


def test_metadata_links_to_our_subscription() -> None:
    command = one_sync(subscription_event(metadata={"subgate_subscription_id": "sub_ours"}))
    assert command.linked_subscription_id == "sub_ours"


def test_cancel_at_period_end_and_price_details() -> None:
    command = one_sync(
        subscription_event(
            cancel_at_period_end=True,
            nickname="Pro yearly",
            interval="year",
            interval_count=2,
            unit_amount=99_00,
            currency="eur",
        )
    )
    assert command.cancel_at_period_end is True
    assert command.price == ProviderPrice(
        price_id="price_test1",
        amount=9900,
        currency="eur",
        interval=Interval.YEAR,
        interval_count=2,
        name="Pro yearly",
    )


def test_a_legacy_plan_object_stands_in_for_the_price() -> None:
    sub = subscription_object()
    item = sub["items"]["data"][0]
    del item["price"]
    item["plan"] = {"id": "plan_old", "object": "plan", "amount": 1500, "currency": "eur", "interval": "week"}

    command = one_sync(event_body("customer.subscription.updated", sub))

    assert command.price == ProviderPrice(
        price_id="plan_old", amount=1500, currency="eur", interval=Interval.WEEK
    )


STRIPE_STATUSES = {
    "incomplete": S.PENDING,
    "incomplete_expired": S.EXPIRED,
    "trialing": S.TRIALING,
    "active": S.ACTIVE,
    "past_due": S.PAST_DUE,
    "unpaid": S.UNPAID,
    "canceled": S.CANCELED,
    "paused": S.PAUSED,
}


def test_status_map_is_the_documented_table() -> None:
    assert STATUS_MAP == STRIPE_STATUSES


@pytest.mark.parametrize(("stripe_status", "ours"), STRIPE_STATUSES.items())
def test_status_mapping(stripe_status: str, ours: SubscriptionStatus) -> None:
    assert one_sync(subscription_event(status=stripe_status)).status == ours


def test_an_unknown_status_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="status"):
        normalize(subscription_event(status="on_hold"))


# --------------------------------------------------------------------------- invoices


def test_invoice_paid_in_the_current_shape() -> None:
    body = invoice_paid_event(
        created=T0 + 30,
        invoice_id="in_9",
        subscription="sub_9",
        amount_paid=4500,
        currency="eur",
        period_start=T0 + 100,
        period_end=T0 + 200,
        metadata={"subgate_subscription_id": "sub_ours"},
    )

    assert one_payment(body) == RecordPayment(
        source_key=SOURCE,
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id="sub_9",
        provider_invoice_id="in_9",
        amount_paid=4500,
        currency="eur",
        observed_at=ts(T0 + 30),
        period_start=ts(T0 + 100),
        period_end=ts(T0 + 200),
        linked_subscription_id="sub_ours",
    )


def test_invoice_paid_in_the_legacy_shape() -> None:
    invoice = invoice_object(legacy=True, subscription="sub_legacy")
    assert "parent" not in invoice

    command = one_payment(event_body("invoice.paid", invoice))

    assert command.provider_subscription_id == "sub_legacy"
    assert (command.period_start, command.period_end) == (ts(PERIOD_START), ts(PERIOD_END))
    assert command.linked_subscription_id is None


@pytest.mark.parametrize("legacy", [False, True], ids=["parent", "top-level"])
def test_invoice_with_an_expanded_subscription(legacy: bool) -> None:
    expanded = {
        "id": "sub_exp",
        "object": "subscription",
        "metadata": {"subgate_subscription_id": "sub_ours"},
    }
    command = one_payment(invoice_paid_event(legacy=legacy, subscription=expanded))
    assert command.provider_subscription_id == "sub_exp"
    if legacy:
        assert command.linked_subscription_id == "sub_ours"


def test_invoice_without_lines_has_no_period() -> None:
    invoice = invoice_object()
    del invoice["lines"]
    command = one_payment(event_body("invoice.paid", invoice))
    assert (command.period_start, command.period_end) == (None, None)


def test_zero_amount_invoice_is_still_a_command() -> None:
    assert one_payment(invoice_paid_event(amount_paid=0)).amount_paid == 0


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
def test_invoice_without_a_subscription_is_ignored(legacy: bool) -> None:
    result = normalize(invoice_paid_event(legacy=legacy, subscription=None))
    assert isinstance(result, Ignored)
    assert "subscription" in result.reason


# --------------------------------------------------------------------------- ignored and malformed


@pytest.mark.parametrize(
    "event_type", ["charge.succeeded", "invoice.created", "", "customer.subscription", "v1.invoice.paid"]
)
def test_unhandled_types_are_ignored_without_reading_the_object(event_type: str) -> None:
    result = normalize(with_object(event_type, "not even an object", created="yesterday"))
    assert isinstance(result, Ignored)
    assert repr(event_type) in result.reason


def _bad(**changes: Any) -> dict[str, Any]:
    sub = subscription_object()
    sub.update(changes)
    return sub


def _bad_item(**changes: Any) -> dict[str, Any]:
    sub = subscription_object()
    sub["items"]["data"][0].update(changes)
    return sub


def _bad_price(**changes: Any) -> dict[str, Any]:
    sub = subscription_object()
    sub["items"]["data"][0]["price"].update(changes)
    return sub


def _bad_invoice(**changes: Any) -> dict[str, Any]:
    invoice = invoice_object()
    invoice.update(changes)
    return invoice


MALFORMED_SUBSCRIPTIONS = {
    "object-is-a-list": [subscription_object()],
    "object-is-null": None,
    "no-id": _bad(id=None),
    "empty-id": _bad(id=""),
    "no-customer": _bad(customer=None),
    "customer-without-id": _bad(customer={"object": "customer"}),
    "customer-is-a-number": _bad(customer=42),
    "no-items": _bad(items=None),
    "items-empty": _bad(items={"object": "list", "data": []}),
    "item-is-a-string": _bad(items={"object": "list", "data": ["si_1"]}),
    "no-price": _bad_item(price=None),
    "price-is-an-id": _bad_item(price="price_1"),
    "bad-interval": _bad_price(recurring={"interval": "fortnight"}),
    "no-currency": _bad_price(currency=None),
    "price-without-id": _bad_price(id=None),
    "period-as-text": _bad_item(current_period_end="2025-02-01"),
    "period-negative": _bad_item(current_period_start=-1),
    "period-as-float": _bad_item(current_period_start=1.5),
    "period-as-bool": _bad_item(current_period_end=True),
    "period-beyond-9999": _bad_item(current_period_end=253_402_300_800),
    "trial-end-as-text": _bad(trial_end="soon"),
    "canceled-at-as-object": _bad(canceled_at={}),
    "status-missing": _bad(status=None),
    "status-is-a-number": _bad(status=1),
}


@pytest.mark.parametrize("obj", MALFORMED_SUBSCRIPTIONS.values(), ids=MALFORMED_SUBSCRIPTIONS.keys())
def test_malformed_subscriptions_are_payload_errors(obj: Any) -> None:
    with pytest.raises(PayloadError):
        normalize(with_object("customer.subscription.updated", obj))


MALFORMED_INVOICES = {
    "object-is-text": "in_1",
    "amount-negative": _bad_invoice(amount_paid=-1),
    "amount-as-text": _bad_invoice(amount_paid="2000"),
    "amount-as-float": _bad_invoice(amount_paid=20.0),
    "amount-as-bool": _bad_invoice(amount_paid=True),
    "amount-missing": _bad_invoice(amount_paid=None),
    "no-currency": _bad_invoice(currency=None),
    "no-id": _bad_invoice(id=None),
    "line-period-as-text": _bad_invoice(lines={"data": [{"period": {"start": "x", "end": PERIOD_END}}]}),
    "subscription-without-id": _bad_invoice(
        parent={"type": "subscription_details", "subscription_details": {"subscription": {"object": "x"}}}
    ),
    "legacy-subscription-is-a-number": invoice_object(legacy=True, subscription=None) | {"subscription": 7},
}


@pytest.mark.parametrize("obj", MALFORMED_INVOICES.values(), ids=MALFORMED_INVOICES.keys())
def test_malformed_invoices_are_payload_errors(obj: Any) -> None:
    with pytest.raises(PayloadError):
        normalize(with_object("invoice.paid", obj))


@pytest.mark.parametrize(
    "created", [None, "1735689600", -5, 1.5, True], ids=["missing", "text", "negative", "float", "bool"]
)
def test_a_handled_event_needs_a_created_timestamp(created: Any) -> None:
    document = orjson.loads(subscription_event())
    document["created"] = created
    with pytest.raises(PayloadError, match="created"):
        normalize(encode(document))


@pytest.mark.parametrize(
    "data", [None, [], "x", {"no_object": True}], ids=["null", "list", "text", "no-object"]
)
def test_a_handled_event_needs_data_object(data: Any) -> None:
    document = orjson.loads(subscription_event())
    document["data"] = data
    with pytest.raises(PayloadError):
        normalize(encode(document))


def test_an_unhashable_status_is_a_payload_error() -> None:
    # A list or object where the status string belongs must be rejected like any other bad value.
    with pytest.raises(PayloadError, match="status"):
        normalize(with_object("customer.subscription.updated", _bad(status=["active"])))


def test_a_non_string_customer_email_is_dropped() -> None:
    # SyncSubscription.customer_email is `str | None`; whatever else Stripe's field holds must not leak in.
    customer = {"id": "cus_1", "object": "customer", "email": {"address": "ada@example.com"}}
    assert one_sync(subscription_event(customer=customer)).customer_email is None


# --------------------------------------------------------------------------- envelope


def test_envelope_reads_id_type_and_created() -> None:
    body = subscription_event("customer.subscription.created", event_id="evt_abc", created=T0 + 9)
    assert ADAPTER.envelope(body, {}) == Envelope(
        event_id="evt_abc", type="customer.subscription.created", created_at=ts(T0 + 9)
    )


def test_envelope_tolerates_a_missing_created() -> None:
    document = orjson.loads(subscription_event(event_id="evt_abc"))
    del document["created"]
    assert ADAPTER.envelope(encode(document), {}).created_at is None


ENVELOPE_ERRORS = {
    "list": b"[]",
    "string": b'"evt_1"',
    "number": b"12",
    "null": b"null",
    "not-json": b"{id: evt_1}",
    "not-utf8": b'{"id": "\xff"}',
    "empty": b"",
    "no-id": encode({"type": "invoice.paid", "created": T0}),
    "empty-id": encode({"id": "", "type": "invoice.paid", "created": T0}),
    "numeric-id": encode({"id": 5, "type": "invoice.paid", "created": T0}),
    "huge-id": encode({"id": "e" * 256, "type": "invoice.paid", "created": T0}),
    "no-type": encode({"id": "evt_1", "created": T0}),
    "type-is-object": encode({"id": "evt_1", "type": {}, "created": T0}),
    "created-as-text": encode({"id": "evt_1", "type": "invoice.paid", "created": "now"}),
}


@pytest.mark.parametrize("body", ENVELOPE_ERRORS.values(), ids=ENVELOPE_ERRORS.keys())
def test_envelope_rejects_what_is_not_an_event(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        ADAPTER.envelope(body, {})


def test_signed_headers_verify_with_the_adapter() -> None:
    body = invoice_paid_event()
    headers = signed_headers(body, "whsec_test_secret", T0)
    ADAPTER.verify(
        SignedRequest(
            body=body,
            headers=headers,
            secrets=["whsec_other", "whsec_test_secret"],
            now=ts(T0 + 10),
            tolerance_seconds=300,
        )
    )


# --------------------------------------------------------------------------- properties

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _check_result(result: Sequence[ProviderCommand] | Ignored) -> None:
    """Whatever comes back is well typed: Ignored, or commands with the declared field types."""
    if isinstance(result, Ignored):
        assert isinstance(result.reason, str)
        return
    for command in result:
        assert command.source_key.startswith(SOURCE)
        assert command.merchant_id == MERCHANT
        assert isinstance(command.provider_subscription_id, str)
        assert command.linked_subscription_id is None or isinstance(command.linked_subscription_id, str)
        if isinstance(command, RecordPaymentFailure):
            assert command.amount_due >= 0
            assert command.attempt is None or command.attempt >= 0
        if isinstance(command, AnnounceTrialEnd | LinkSubscription):
            continue
        if isinstance(command, SyncSubscription):
            assert isinstance(command.status, SubscriptionStatus)
            assert isinstance(command.provider_customer_id, str)
            assert isinstance(command.price.amount, int)
            assert isinstance(command.price.currency, str)
            assert command.price.name is None or isinstance(command.price.name, str)
            assert isinstance(command.cancel_at_period_end, bool)
            assert command.customer_email is None or isinstance(command.customer_email, str)
        elif isinstance(command, RecordPayment):
            assert isinstance(command.amount_paid, int)
            assert command.amount_paid >= 0


@PROPERTY
@given(document=json_values)
def test_arbitrary_json_bodies_fail_only_as_payload_errors(document: Any) -> None:
    body = encode(document)
    try:
        result = normalize(body)
    except PayloadError:
        return
    except MalformedRequest:
        # Only a body that is not a JSON object at all is refused before reading the type.
        assert not isinstance(document, dict)
        return
    _check_result(result)


@PROPERTY
@given(event_type=st.sampled_from(HANDLED_TYPES), obj=json_values, created=json_scalars)
def test_arbitrary_objects_of_handled_types_fail_only_as_payload_errors(
    event_type: str, obj: Any, created: Any
) -> None:
    body = with_object(event_type, obj, created=T0)
    document = orjson.loads(body)
    document["created"] = created
    try:
        result = normalize(encode(document))
    except PayloadError:
        return
    _check_result(result)


def _paths(document: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path to a value inside `document` (dict keys and list indexes)."""
    found: list[tuple[str | int, ...]] = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _replaced(document: Any, path: tuple[str | int, ...], value: Any) -> Any:
    copy = orjson.loads(orjson.dumps(document))
    holder = copy
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return copy


VALID_OBJECTS: list[tuple[str, dict[str, Any]]] = [
    ("customer.subscription.updated", subscription_object()),
    ("customer.subscription.updated", subscription_object(legacy=True)),
    ("customer.subscription.deleted", subscription_object(customer={"id": "cus_1", "email": "a@b.c"})),
    ("customer.subscription.trial_will_end", subscription_object(status="trialing", trial_end=PERIOD_END)),
    ("invoice.paid", invoice_object()),
    ("invoice.paid", invoice_object(legacy=True)),
    ("invoice.payment_failed", invoice_object(amount_paid=0, amount_due=2000)),
    ("invoice.payment_action_required", invoice_object(legacy=True, amount_paid=0)),
    ("checkout.session.completed", checkout_session_object(metadata={"subgate_subscription_id": "sub_o"})),
    ("checkout.session.completed", checkout_session_object(subscription=subscription_object())),
]


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A valid event with one field somewhere inside its object replaced by arbitrary JSON."""
    event_type, obj = draw(st.sampled_from(VALID_OBJECTS))
    path = draw(st.sampled_from(_paths(obj)))
    return with_object(event_type, _replaced(obj, path, draw(json_values)))


@PROPERTY
@given(body=mutated_events())
def test_valid_events_with_one_bad_field_fail_only_as_payload_errors(body: bytes) -> None:
    try:
        result = normalize(body)
    except PayloadError:
        return
    _check_result(result)


# --------------------------------------------------------------------------- the whole table, row by row

SHAPES = pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])


def commands_of(body: bytes) -> Sequence[ProviderCommand]:
    result = normalize(body)
    assert not isinstance(result, Ignored), result
    return result


def test_the_table_has_exactly_the_documented_rows() -> None:
    assert set(TABLE) == {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "checkout.session.completed",
    }


@SHAPES
@pytest.mark.parametrize(
    ("event_type", "stripe_status", "ours"),
    [
        ("customer.subscription.created", "incomplete", S.PENDING),
        ("customer.subscription.updated", "past_due", S.PAST_DUE),
        ("customer.subscription.deleted", "canceled", S.CANCELED),
        ("customer.subscription.paused", "paused", S.PAUSED),
        ("customer.subscription.resumed", "active", S.ACTIVE),
    ],
)
def test_subscription_rows(
    legacy: bool, event_type: str, stripe_status: str, ours: SubscriptionStatus
) -> None:
    command = one_sync(
        subscription_event(
            event_type,
            created=T0 + 5,
            status=stripe_status,
            legacy=legacy,
            period_start=T0,
            period_end=T0 + 99,
        )
    )
    assert (command.status, command.observed_at) == (ours, ts(T0 + 5))
    assert (command.current_period_start, command.current_period_end) == (ts(T0), ts(T0 + 99))
    assert command.provider_subscription_id == "sub_test1"


@SHAPES
def test_trial_will_end_is_a_snapshot_and_a_reminder(legacy: bool) -> None:
    body = subscription_event(
        "customer.subscription.trial_will_end",
        created=T0 + 7,
        status="trialing",
        trial_end=PERIOD_END,
        legacy=legacy,
        metadata={"subgate_subscription_id": "sub_ours"},
    )
    synced, reminder = commands_of(body)
    assert isinstance(synced, SyncSubscription)
    assert synced.status == S.TRIALING
    assert synced.source_key == SOURCE
    assert reminder == AnnounceTrialEnd(
        source_key=f"{SOURCE}#trial_will_end",
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id="sub_test1",
        trial_end=ts(PERIOD_END),
        observed_at=ts(T0 + 7),
        linked_subscription_id="sub_ours",
    )


@SHAPES
@pytest.mark.parametrize("event_type", ["invoice.paid", "invoice.payment_succeeded"])
def test_paid_invoice_rows(legacy: bool, event_type: str) -> None:
    command = one_payment(
        invoice_paid_event(event_type=event_type, legacy=legacy, subscription="sub_9", invoice_id="in_9")
    )
    assert (command.provider_subscription_id, command.provider_invoice_id) == ("sub_9", "in_9")


@SHAPES
@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("invoice.payment_failed", FailureKind.DECLINED),
        ("invoice.payment_action_required", FailureKind.ACTION_REQUIRED),
    ],
)
def test_failed_payment_rows(legacy: bool, event_type: str, kind: FailureKind) -> None:
    body = invoice_paid_event(
        event_type=event_type,
        created=T0 + 3,
        legacy=legacy,
        subscription="sub_9",
        invoice_id="in_9",
        amount_paid=0,
        amount_due=4500,
        currency="eur",
        attempt_count=2,
        metadata={"subgate_subscription_id": "sub_ours"},
    )
    [command] = commands_of(body)
    assert command == RecordPaymentFailure(
        source_key=SOURCE,
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id="sub_9",
        provider_invoice_id="in_9",
        amount_due=4500,
        currency="eur",
        observed_at=ts(T0 + 3),
        kind=kind,
        attempt=2,
        linked_subscription_id=None if legacy else "sub_ours",
    )


@SHAPES
@pytest.mark.parametrize("event_type", ["invoice.payment_failed", "invoice.payment_action_required"])
def test_a_failed_one_off_invoice_is_ignored(legacy: bool, event_type: str) -> None:
    result = normalize(invoice_paid_event(event_type=event_type, legacy=legacy, subscription=None))
    assert isinstance(result, Ignored)


def test_checkout_for_our_subscription_links_it() -> None:
    session = checkout_session_object(
        subscription="sub_9", customer="cus_9", metadata={"subgate_subscription_id": "sub_ours"}
    )
    [command] = commands_of(event_body("checkout.session.completed", session))
    assert command == LinkSubscription(
        source_key=SOURCE,
        merchant_id=MERCHANT,
        provider="stripe",
        provider_subscription_id="sub_9",
        linked_subscription_id="sub_ours",
        provider_customer_id="cus_9",
    )


def test_checkout_with_the_subscription_expanded_is_its_snapshot() -> None:
    session = checkout_session_object(
        subscription=subscription_object(sub_id="sub_exp"), metadata={"subgate_subscription_id": "sub_ours"}
    )
    command = one_sync(event_body("checkout.session.completed", session, created=T0 + 1))
    assert (command.provider_subscription_id, command.linked_subscription_id) == ("sub_exp", "sub_ours")


@pytest.mark.parametrize(
    ("session", "why"),
    [
        (checkout_session_object(mode="payment"), "mode"),
        (checkout_session_object(subscription=None), "no subscription"),
        (checkout_session_object(), "subgate_subscription_id"),
    ],
    ids=["payment-mode", "no-subscription", "nothing-to-link"],
)
def test_checkouts_with_nothing_to_do_are_ignored(session: dict[str, Any], why: str) -> None:
    result = normalize(event_body("checkout.session.completed", session))
    assert isinstance(result, Ignored)
    assert why in result.reason


# --------------------------------------------------------------------------- one second, several snapshots


def rank(event_type: str, status: str, previous: dict[str, Any] | None = None) -> int:
    body = subscription_event(event_type, status=status, previous_attributes=previous)
    return one_sync(body).tie_break


def test_within_one_second_created_comes_first_and_deleted_last() -> None:
    created = rank("customer.subscription.created", "active")
    updated = rank("customer.subscription.updated", "incomplete")
    deleted = rank("customer.subscription.deleted", "active")
    assert created < updated < deleted


def test_within_one_second_the_lifecycle_moves_forward() -> None:
    first_paid = rank("customer.subscription.updated", "active", {"status": "incomplete"})
    failed = rank("customer.subscription.updated", "past_due", {"status": "active"})
    unpaid = rank("customer.subscription.updated", "unpaid", {"status": "past_due"})
    recovered = rank("customer.subscription.updated", "active", {"status": "unpaid"})
    paused = rank("customer.subscription.updated", "paused", {"status": "active"})
    resumed = rank("customer.subscription.updated", "active", {"status": "paused"})
    canceled = rank("customer.subscription.updated", "canceled", {"status": "active"})
    assert first_paid < failed < unpaid < recovered < paused < resumed < canceled


def test_a_resumed_event_ranks_as_a_resume_without_previous_attributes() -> None:
    assert rank("customer.subscription.resumed", "active") == rank(
        "customer.subscription.updated", "active", {"status": "paused"}
    )


def test_an_update_that_keeps_the_status_ranks_as_that_status() -> None:
    assert rank("customer.subscription.updated", "active", {"cancel_at_period_end": False}) == rank(
        "customer.subscription.updated", "active"
    )


# --------------------------------------------------------------------------- thin events


def test_a_thin_event_has_an_envelope_with_its_iso_time() -> None:
    body = thin_event_body(
        "customer.subscription.updated",
        "subscription",
        "sub_1",
        event_id="evt_thin",
        created="2025-01-01T00:00:05.120Z",
    )
    assert ADAPTER.envelope(body, {}) == Envelope(
        event_id="evt_thin",
        type="v1.customer.subscription.updated",
        created_at=datetime(2025, 1, 1, 0, 0, 5, 120000, tzinfo=UTC),
    )


def test_a_thin_event_cannot_be_normalized_from_its_bytes_alone() -> None:
    with pytest.raises(PayloadError, match="thin"):
        normalize(thin_event_body("customer.subscription.updated", "subscription", "sub_1"))


def test_a_thin_event_of_an_unhandled_type_is_ignored() -> None:
    result = normalize(thin_event_body("billing.meter.error_report_triggered", "billing.meter", "mtr_1"))
    assert isinstance(result, Ignored)
