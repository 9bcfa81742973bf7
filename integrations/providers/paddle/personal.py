"""Where Paddle Billing's events carry a customer's personal data (see `integrations.providers.personal`).

The event's object is `data`. Subscriptions and transactions name their customer by
`customer_id` (a `ctm_` id) and point at an address and a business by id only; `customer.*`
events are the customer itself (email, name); `address.*` and `business.*` events are objects
of the customer's (street, city, postal code; a company's name, number, tax identifier and
contacts) and name the customer by `customer_id` too.
"""

from __future__ import annotations

from typing import Final

from integrations.providers.personal import PersonalFields

PADDLE_PERSONAL: Final = PersonalFields(
    objects=(("data",),),
    customer_refs=("customer_id", "customer"),
    customer_events=frozenset({"customer.created", "customer.updated", "customer.imported"}),
    event_type_field="event_type",
    fields=frozenset(
        {
            # An address of the customer's (address.* events).
            "first_line",
            "second_line",
            "city",
            "postal_code",
            "region",
            # A business of the customer's (business.* events).
            "company_number",
            "tax_identifier",
            "contacts",
        }
    ),
    customer_fields=frozenset({"email", "name"}),
    nested={"address": frozenset({"first_line", "second_line", "city", "postal_code", "region"})},
)
