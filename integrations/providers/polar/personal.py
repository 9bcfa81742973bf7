"""Where Polar's events carry a customer's personal data (see `integrations.providers.personal`).

The event's object is `data`. A subscription, order or checkout names its customer by
`customer_id` and usually embeds it (`customer`: email, name, billing address, tax id);
orders and checkouts copy billing details; `customer.*` events are about the customer itself;
older payloads also embed the `user`.
"""

from __future__ import annotations

from typing import Final

from integrations.providers.personal import PersonalFields

POLAR_PERSONAL: Final = PersonalFields(
    objects=(("data",),),
    customer_refs=("customer_id", "customer"),
    customer_events=frozenset(
        {"customer.created", "customer.updated", "customer.deleted", "customer.state_changed"}
    ),
    fields=frozenset(
        {
            "customer_email",
            "customer_name",
            "customer_billing_name",
            "customer_billing_address",
            "customer_tax_id",
            "customer_ip_address",
            "billing_name",
            "billing_address",
        }
    ),
    customer_fields=frozenset({"email", "name", "billing_name", "billing_address", "tax_id"}),
    nested={"user": frozenset({"email", "public_name", "username", "avatar_url"})},
)
