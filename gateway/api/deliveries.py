"""`/v1/deliveries` and `/v1/dead-letters`: what happened to each outbound message."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.notifications.model import DeadLetterKind, DeliveryStatus
from domain.notifications.ports import DeliveryFilter
from gateway.auth import v1_route
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.serialize import dead_letter_view, delivery_view, page_view
from gateway.validation import page_request, query_enum, query_str


class DeliveriesApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        return [
            v1_route(merchants, "/deliveries", {"GET": self.list}),
            v1_route(merchants, "/deliveries/{delivery_id}", {"GET": self.get}),
            v1_route(merchants, "/dead-letters", {"GET": self.dead_letters}),
        ]

    async def list(self, request: Request, merchant: Merchant) -> Response:
        where = DeliveryFilter(
            endpoint_id=query_str(request, "endpoint_id"),
            status=query_enum(request, "status", DeliveryStatus),
        )
        page = await self._deps.notifications.list_deliveries(merchant.id, where, page_request(request))
        return json_response(page_view(page, delivery_view))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        delivery_id = str(request.path_params["delivery_id"])
        delivery = await self._deps.notifications.get_delivery(merchant.id, delivery_id)
        return json_response(delivery_view(delivery))

    async def dead_letters(self, request: Request, merchant: Merchant) -> Response:
        kind = query_enum(request, "kind", DeadLetterKind)
        page = await self._deps.notifications.list_dead_letters(merchant.id, kind, page_request(request))
        return json_response(page_view(page, dead_letter_view))
