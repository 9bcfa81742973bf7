"""A customer's personal data in stored provider payloads: found by the fields each provider
lists, emptied for that customer only, and nothing else in the payload changed."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings, strategies as st

from domain.shared.personal import Person
from integrations.providers.paddle import samples as paddle_events
from integrations.providers.personal import PersonalFields, ProviderPayloads
from integrations.providers.polar import samples as polar_events
from integrations.providers.stripe import samples as stripe_events
from tests.support.fakes import PERSONAL_DATA

ADA = Person(provider_customer_ids={"stripe": "cus_ada", "polar": "polar-ada"}, emails=("ada@example.com",))
ADDRESS = {"line1": "1 Analytical Row", "city": "London", "postal_code": "N1", "country": "GB"}


def stripe(event_type: str, obj: dict[str, Any], **extra: Any) -> bytes:
    return stripe_events.event_body(event_type, obj, event_id="evt_1", **extra)


def erased(provider: str, body: bytes, person: Person = ADA) -> dict[str, Any] | None:
    result = PERSONAL_DATA.without(provider, body, person)
    return None if result is None else json.loads(result)


def test_a_stripe_customer_event_loses_the_customers_details_and_former_values() -> None:
    customer = {
        "id": "cus_ada",
        "object": "customer",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": "+44 20 7946 0000",
        "address": ADDRESS,
        "shipping": {"name": "Ada Lovelace", "address": ADDRESS},
        "currency": "gbp",
    }
    body = stripe("customer.updated", customer, previous_attributes={"email": "ada@old.example", "name": "A"})

    got = erased("stripe", body)

    assert got is not None
    obj = got["data"]["object"]
    assert {k: obj[k] for k in ("email", "name", "phone", "address", "shipping")} == dict.fromkeys(
        ("email", "name", "phone", "address", "shipping")
    )
    assert (obj["id"], obj["currency"], got["id"], got["type"]) == (
        "cus_ada",
        "gbp",
        "evt_1",
        "customer.updated",
    )
    assert got["data"]["previous_attributes"] == {"email": None, "name": None}


def test_a_stripe_invoice_of_the_customer_loses_the_copied_details() -> None:
    invoice = stripe_events.invoice_object(customer="cus_ada") | {
        "customer_email": "ada@example.com",
        "customer_name": "Ada Lovelace",
        "customer_phone": "+44 20 7946 0000",
        "customer_address": ADDRESS,
        "customer_shipping": None,
    }
    got = erased("stripe", stripe("invoice.paid", invoice))

    assert got is not None
    obj = got["data"]["object"]
    assert [obj[k] for k in ("customer_email", "customer_name", "customer_phone", "customer_address")] == [
        None
    ] * 4
    assert (obj["customer"], obj["amount_paid"], obj["lines"]) == ("cus_ada", 2000, invoice["lines"])


def test_a_stripe_subscription_with_the_customer_expanded_loses_it_and_a_checkout_its_details() -> None:
    sub = stripe_events.subscription_object(
        customer={"id": "cus_ada", "object": "customer", "email": "ada@example.com", "name": "Ada"}
    )
    session = stripe_events.checkout_session_object() | {
        "customer": "cus_ada",
        "customer_details": {"email": "ada@example.com", "name": "Ada", "address": ADDRESS},
        "customer_email": None,
    }

    subscription = erased("stripe", stripe("customer.subscription.updated", sub))
    checkout = erased("stripe", stripe("checkout.session.completed", session))

    assert subscription is not None
    assert checkout is not None
    expanded = subscription["data"]["object"]["customer"]
    assert (expanded["id"], expanded["email"], expanded["name"]) == ("cus_ada", None, None)
    assert subscription["data"]["object"]["items"] == sub["items"]
    assert checkout["data"]["object"]["customer_details"] is None


def test_a_polar_subscription_and_a_customer_event_lose_the_customers_details() -> None:
    sub = polar_events.subscription_object(customer_id="polar-ada", email="ada@example.com")
    sub["customer"] |= {"name": "Ada", "billing_address": ADDRESS, "tax_id": ["GB123", "gb_vat"]}
    customer = {"id": "polar-ada", "email": "ada@example.com", "name": "Ada", "billing_address": ADDRESS}

    subscription = erased("polar", polar_events.polar_event("subscription.updated", sub))
    updated = erased("polar", polar_events.polar_event("customer.updated", customer))

    assert subscription is not None
    assert updated is not None
    embedded = subscription["data"]["customer"]
    assert [embedded[k] for k in ("email", "name", "billing_address", "tax_id")] == [None] * 4
    assert (embedded["id"], subscription["data"]["product"]) == ("polar-ada", sub["product"])
    assert [updated["data"][k] for k in ("email", "name", "billing_address")] == [None] * 3
    assert updated["data"]["id"] == "polar-ada"


def test_another_customers_events_are_left_as_they_are() -> None:
    other = stripe_events.invoice_object(customer="cus_bob") | {"customer_email": "bob@example.com"}
    polar_other = polar_events.subscription_event(customer_id="polar-bob", email="bob@example.com")

    assert PERSONAL_DATA.without("stripe", stripe("invoice.paid", other), ADA) is None
    assert PERSONAL_DATA.without("polar", polar_other, ADA) is None


def test_the_address_alone_finds_an_event_in_any_letter_case_and_empties_it_wherever_it_is() -> None:
    charge = {
        "id": "ch_1",
        "object": "charge",
        "customer": None,
        "receipt_email": "ADA@Example.com",
        "metadata": {"contact": "ada@example.COM"},
    }
    got = erased("stripe", stripe("charge.succeeded", charge), Person(emails=("ada@example.com",)))

    assert got is not None
    assert got["data"]["object"]["receipt_email"] is None
    assert got["data"]["object"]["metadata"] == {"contact": None}


def test_a_look_alike_address_or_id_is_someone_else() -> None:
    # A Cyrillic "a" (U+0430) in place of the Latin one: another mailbox, another person.
    look_alike = stripe_events.invoice_object(customer="cus_\u0430da") | {
        "customer_email": "\u0430da@example.com"
    }

    assert PERSONAL_DATA.without("stripe", stripe("invoice.paid", look_alike), ADA) is None


def test_nothing_is_done_without_identities_for_an_unknown_provider_or_for_a_body_that_is_not_json() -> None:
    body = stripe("customer.updated", {"id": "cus_ada", "object": "customer", "email": "ada@example.com"})

    assert PERSONAL_DATA.without("stripe", body, Person()) is None
    assert PERSONAL_DATA.without("lemonsqueezy", body, ADA) is None
    assert PERSONAL_DATA.without("stripe", b"cus_ada ada@example.com {", ADA) is None
    assert PERSONAL_DATA.without("stripe", b"[" * 100_000 + b"cus_ada", ADA) is None


def test_a_provider_is_added_by_listing_its_fields() -> None:
    listed = PersonalFields(
        objects=(("data",),),
        customer_refs=("customer_id",),
        customer_events=frozenset({"customer.updated"}),
        fields=frozenset({"billing_contact"}),
        customer_fields=frozenset({"email", "name"}),
    )
    payloads = ProviderPayloads({"paddle": listed})
    person = Person(provider_customer_ids={"paddle": "ctm_ada"})
    transaction = {
        "type": "transaction.completed",
        "data": {"customer_id": "ctm_ada", "billing_contact": "x"},
    }
    customer = {"type": "customer.updated", "data": {"id": "ctm_ada", "email": "a@example.com", "name": "A"}}

    emptied = payloads.without("paddle", json.dumps(transaction).encode(), person)
    updated = payloads.without("paddle", json.dumps(customer).encode(), person)

    assert emptied is not None
    assert json.loads(emptied)["data"] == {
        "customer_id": "ctm_ada",
        "billing_contact": None,
    }
    assert updated is not None
    assert json.loads(updated)["data"] == {
        "id": "ctm_ada",
        "email": None,
        "name": None,
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)
NAMES = st.sampled_from(["customer", "customer_email", "email", "object", "type", "data", "id", "name"])
VALUES = st.sampled_from(["cus_ada", "ADA@example.com", "customer", "customer.updated", "x"]) | JSON


@settings(max_examples=300, deadline=None)
@given(
    provider=st.sampled_from(["stripe", "polar"]),
    document=st.dictionaries(NAMES, st.dictionaries(NAMES, VALUES, max_size=6) | VALUES, max_size=6),
)
def test_any_payload_is_either_left_alone_or_left_without_the_address(
    provider: str, document: dict[str, Any]
) -> None:
    body = json.dumps(document).encode()

    result = PERSONAL_DATA.without(provider, body, ADA)

    if result is not None:
        assert "ada@example.com" not in result.decode().lower()
        assert isinstance(json.loads(result), dict)


def test_paddle_events_of_the_customer_lose_the_customers_details_and_others_stay() -> None:
    person = Person(provider_customer_ids={"paddle": paddle_events.CUSTOMER_ID}, emails=("ada@example.com",))
    customer = {"id": paddle_events.CUSTOMER_ID, "email": "ada@example.com", "name": "Ada", "locale": "en"}
    address = {"id": "add_1", "customer_id": paddle_events.CUSTOMER_ID, "first_line": "1 Analytical Row"}
    address |= {"city": "London", "postal_code": "N1", "country_code": "GB"}
    subscription = paddle_events.subscription_event()

    updated = erased("paddle", paddle_events.paddle_event("customer.updated", customer), person)
    moved = erased("paddle", paddle_events.paddle_event("address.updated", address), person)
    other = paddle_events.subscription_event(customer_id="ctm_someone_else")

    assert updated is not None
    assert moved is not None
    assert (updated["data"]["email"], updated["data"]["name"]) == (None, None)
    assert (updated["data"]["id"], updated["data"]["locale"]) == (paddle_events.CUSTOMER_ID, "en")
    assert [moved["data"][k] for k in ("first_line", "city", "postal_code")] == [None] * 3
    assert moved["data"]["country_code"] == "GB"
    # A subscription names its customer by id only: nothing personal in it to empty.
    assert PERSONAL_DATA.without("paddle", subscription, person) is None
    assert PERSONAL_DATA.without("paddle", other, person) is None
