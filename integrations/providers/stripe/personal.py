"""Where Stripe's events carry a customer's personal data (see `integrations.providers.personal`).

The event's object (`data.object`) and, for an update, its former values
(`data.previous_attributes`). A customer object (`"object": "customer"`) holds the person's
own details; an invoice, a checkout session, a charge or a payment intent copies them
(`customer_email`, `customer_details`, `billing_details`...); `customer` names the customer by
id, or holds it when expanded.
"""

from __future__ import annotations

from typing import Final

from integrations.providers.personal import PersonalFields

STRIPE_PERSONAL: Final = PersonalFields(
    objects=(("data", "object"), ("data", "previous_attributes")),
    customer_refs=("customer",),
    customer_marks=(("object", "customer"),),
    fields=frozenset(
        {
            "customer_email",
            "customer_name",
            "customer_phone",
            "customer_address",
            "customer_shipping",
            "customer_tax_ids",
            "customer_details",
            "shipping_details",
            "shipping",
            "billing_details",
            "receipt_email",
        }
    ),
    customer_fields=frozenset({"email", "name", "phone", "address", "shipping", "description"}),
)
