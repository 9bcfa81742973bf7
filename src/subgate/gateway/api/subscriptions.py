"""`/v1/subscriptions`: read access to the subscriptions kept in sync from providers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from subgate.domain.merchants.model import Merchant
from subgate.domain.subscriptions.model import subscription_view
from subgate.domain.subscriptions.ports import SubscriptionFilter
from subgate.domain.subscriptions.state_machine import SubscriptionStatus
from subgate.gateway.auth import v1_route
from subgate.gateway.responses import json_response
from subgate.gateway.serialize import page_view
from subgate.gateway.validation import page_request, query_enum, query_str
from subgate.integrations.deps import GatewayDeps


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
