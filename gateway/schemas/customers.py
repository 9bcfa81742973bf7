"""`/v1/customers`: who subscribes. Names and addresses end up in mail headers: no line breaks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from domain.notifications.emails import MAX_ADDRESS_LENGTH
from domain.subscriptions.external.catalog import MAX_NAME_LENGTH
from domain.subscriptions.model import Customer as DomainCustomer
from gateway.schemas.common import Page, Text
from gateway.schemas.plans import ProviderIds

Email = Annotated[
    str,
    Meta(
        description="A plain address such as name@example.com; no line breaks.",
        extra_json_schema={"format": "email", "maxLength": MAX_ADDRESS_LENGTH},
    ),
]
Name = Annotated[Text, Meta(description=f"1 to {MAX_NAME_LENGTH} characters once trimmed; no line breaks.")]


class CustomerCreate(Struct, frozen=True, kw_only=True):
    email: Email
    name: Name | None = None
    provider_customer_ids: ProviderIds | None = None


class CustomerUpdate(Struct, frozen=True, kw_only=True):
    """Only the fields given change; `name: null` clears it; provider ids are added, never replaced."""

    email: Email | UnsetType = UNSET
    name: Name | UnsetType | None = UNSET
    provider_customer_ids: ProviderIds | UnsetType | None = UNSET


class Customer(Struct, frozen=True, kw_only=True):
    id: str
    email: Annotated[str | None, Meta(description="Null when the provider event that made it carried none.")]
    name: str | None
    provider_customer_ids: dict[str, str]
    created_at: datetime
    erased_at: Annotated[
        datetime | None,
        Meta(description="When its personal data was erased (POST .../erase); null if never."),
    ] = None


CustomerPage = Page[Customer]


def customer(value: DomainCustomer) -> Customer:
    # Every field of the representation is an attribute of the domain value, under the same name.
    return msgspec.convert(value, Customer, from_attributes=True)
