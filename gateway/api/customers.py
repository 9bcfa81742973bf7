"""`/v1/customers`: who subscribes.

Every text field is refused (422) if it holds a line break: names and addresses end up in
mail headers, where one would let a value add headers of its own.
"""

from __future__ import annotations

from typing import Final

import structlog
from msgspec import UnsetType
from starlette.requests import Request

from domain.merchants.model import Merchant
from domain.notifications.emails import check_address, check_header_text
from domain.shared.personal import Person
from domain.subscriptions.external.catalog import CustomerChange, NewCustomer
from gateway.api.provider_ids import provider_ids
from gateway.schemas import customers as schema
from gateway.schemas.common import PageQuery, page_of
from gateway.v1 import Resource, route

BY_ID: Final = "/customers/{customer_id}"

log = structlog.get_logger()


class CustomersApi(Resource):
    tag = "customers"

    @route("POST", "/customers", "Create a customer", status=201)
    async def create(self, _: Request, merchant: Merchant, body: schema.CustomerCreate) -> schema.Customer:
        """A provider customer id links the customer to it: the provider's events then find it."""
        new = NewCustomer(
            email=check_address("email", body.email),
            name=_name(body.name),
            provider_customer_ids=provider_ids(
                self._deps, "provider_customer_ids", body.provider_customer_ids
            ),
        )
        customer = await self._deps.subscriptions.customers.create(merchant.id, new)
        return schema.customer(customer)

    @route("GET", "/customers", "List customers")
    async def list(self, _: Request, merchant: Merchant, query: PageQuery) -> schema.CustomerPage:
        page = await self._deps.subscriptions.customers.list(merchant.id, query.page())
        return page_of(page, schema.customer)

    @route("GET", BY_ID, "Get a customer")
    async def get(self, request: Request, merchant: Merchant) -> schema.Customer:
        customer = await self._deps.subscriptions.customers.get(merchant.id, _customer_id(request))
        return schema.customer(customer)

    @route("PATCH", BY_ID, "Change a customer", found_first="_found")
    async def update(
        self, request: Request, merchant: Merchant, body: schema.CustomerUpdate
    ) -> schema.Customer:
        """A provider id it has already cannot be changed (409); one for another provider is added."""
        ids = body.provider_customer_ids
        change = CustomerChange(
            email=None if isinstance(body.email, UnsetType) else check_address("email", body.email),
            name_changed=not isinstance(body.name, UnsetType),
            name=None if isinstance(body.name, UnsetType) else _name(body.name),
            provider_customer_ids=None
            if isinstance(ids, UnsetType)
            else provider_ids(self._deps, "provider_customer_ids", ids),
        )
        customer = await self._deps.subscriptions.customers.update(merchant.id, _customer_id(request), change)
        return schema.customer(customer)

    @route("POST", f"{BY_ID}/erase", "Erase a customer")
    async def erase(self, request: Request, merchant: Merchant) -> schema.Customer:
        """Remove the customer's personal data: its email and name (for good: a later PATCH of
        either is 409 `customer_erased`), the recipients and bodies of its emails (those still
        waiting are canceled, and no email is written to it again), and its personal fields in
        the stored provider events that name it or its address. Its subscriptions go on, without
        emails. Idempotent: 200 each time, with the customer as it is left."""
        deps = self._deps
        customer = await deps.subscriptions.customers.get(merchant.id, _customer_id(request))
        # The addresses first: once its emails are erased, nothing would tell them any more.
        addresses = await deps.notifications.customer_addresses(merchant.id, customer.id)
        emails = tuple(dict.fromkeys(a for a in (customer.email, *addresses) if a))
        person = Person(provider_customer_ids=customer.provider_customer_ids, emails=emails)
        events = await deps.inbound.erase(merchant.id, person)
        # Marked before its emails are erased: none can be queued in between.
        erased = await deps.subscriptions.customers.erase(merchant.id, customer.id)
        emails_erased = await deps.notifications.erase_customer_emails(merchant.id, customer.id)
        log.info(
            "customer_erased",
            merchant_id=merchant.id,
            customer_id=customer.id,
            inbound_events=events,
            emails=emails_erased,
        )
        return schema.customer(erased)

    async def _found(self, request: Request, merchant: Merchant) -> None:
        # Not found before validation: another merchant's id answers 404 whatever the body.
        await self._deps.subscriptions.customers.get(merchant.id, _customer_id(request))


def _customer_id(request: Request) -> str:
    return str(request.path_params["customer_id"])


def _name(name: str | None) -> str | None:
    return None if name is None else check_header_text("name", name)
