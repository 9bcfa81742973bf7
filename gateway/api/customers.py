"""`/v1/customers`: who subscribes; read, parsed and shown here.

Every text field is refused (422) if it holds a line break: names and addresses end up in
mail headers, where one would let a value add headers of its own.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.notifications.emails import check_address, check_header_text
from domain.shared.clock import public_time
from domain.subscriptions.catalog import CustomerChange, NewCustomer
from domain.subscriptions.model import Customer
from gateway.api.plans import provider_ids
from gateway.auth import v1_route
from gateway.body import json_object
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.serialize import View, page_view
from gateway.validation import optional_str, page_request, required_str


class CustomersApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        return [
            v1_route(merchants, "/customers", {"POST": self.create, "GET": self.list}),
            v1_route(merchants, "/customers/{customer_id}", {"GET": self.get, "PATCH": self.update}),
        ]

    async def create(self, request: Request, merchant: Merchant) -> Response:
        data = await json_object(request, self._deps.config.max_body_bytes)
        new = NewCustomer(
            email=_email(data),
            name=_name(data),
            provider_customer_ids=provider_ids(self._deps, data, "provider_customer_ids"),
        )
        customer = await self._deps.subscriptions.customers.create(merchant.id, new)
        return json_response(customer_view(customer), status_code=201)

    async def list(self, request: Request, merchant: Merchant) -> Response:
        page = await self._deps.subscriptions.customers.list(merchant.id, page_request(request))
        return json_response(page_view(page, customer_view))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        customer = await self._deps.subscriptions.customers.get(merchant.id, _customer_id(request))
        return json_response(customer_view(customer))

    async def update(self, request: Request, merchant: Merchant) -> Response:
        """PATCH: only the fields given change (`name: null` clears it); provider ids are added."""
        customer_id = _customer_id(request)
        # Not found before validation: another merchant's id answers 404 whatever the body.
        await self._deps.subscriptions.customers.get(merchant.id, customer_id)
        data = await json_object(request, self._deps.config.max_body_bytes)
        change = CustomerChange(
            email=_email(data) if "email" in data else None,
            name_changed="name" in data,
            name=_name(data),
            provider_customer_ids=provider_ids(self._deps, data, "provider_customer_ids")
            if "provider_customer_ids" in data
            else None,
        )
        customer = await self._deps.subscriptions.customers.update(merchant.id, customer_id, change)
        return json_response(customer_view(customer))


def customer_view(customer: Customer) -> View:
    return {
        "id": customer.id,
        "email": customer.email,
        "name": customer.name,
        "provider_customer_ids": dict(customer.provider_customer_ids),
        "created_at": public_time(customer.created_at),
    }


def _customer_id(request: Request) -> str:
    return str(request.path_params["customer_id"])


def _email(data: dict[str, Any]) -> str:
    return check_address("email", required_str(data, "email"))


def _name(data: dict[str, Any]) -> str | None:
    name = optional_str(data, "name")
    return None if name is None else check_header_text("name", name)
