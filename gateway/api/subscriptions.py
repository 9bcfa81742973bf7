"""`/v1/subscriptions`: read access to the subscriptions kept in sync from providers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.subscriptions.model import subscription_view
from domain.subscriptions.ports import SubscriptionFilter
from domain.subscriptions.state_machine import SubscriptionStatus
from gateway.auth import v1_route
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.serialize import page_view
from gateway.validation import page_request, query_enum, query_str


class SubscriptionsApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        return [
            v1_route(merchants, "/subscriptions", {"GET": self.list}),
            v1_route(merchants, "/subscriptions/{subscription_id}", {"GET": self.get}),
        ]

    async def list(self, request: Request, merchant: Merchant) -> Response:
        where = SubscriptionFilter(
            status=query_enum(request, "status", SubscriptionStatus),
            customer_id=query_str(request, "customer_id"),
            provider_subscription_id=query_str(request, "provider_subscription_id"),
        )
        page = await self._deps.subscriptions.list(merchant.id, where, page_request(request))
        return json_response(page_view(page, subscription_view))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        subscription_id = str(request.path_params["subscription_id"])
        subscription = await self._deps.subscriptions.get(merchant.id, subscription_id)
        return json_response(subscription_view(subscription))
