"""`/v1/deliveries`: what happened to each outbound message (webhooks and customer emails)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.notifications.model import Channel, Delivery, DeliveryStatus
from domain.notifications.ports import DeliveryFilter
from gateway.auth import v1_route
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.serialize import View, delivery_view, page_view
from gateway.validation import page_request, query_enum, query_str


def full_delivery_view(delivery: Delivery) -> View:
    """The delivery with its channel: an email has no endpoint but a recipient."""
    return {
        **delivery_view(delivery),
        "channel": delivery.channel.value,
        "recipient": delivery.recipient,
        "order_given_up": delivery.order_given_up,
    }


class DeliveriesApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        return [
            v1_route(merchants, "/deliveries", {"GET": self.list}),
            v1_route(merchants, "/deliveries/{delivery_id}", {"GET": self.get}),
            v1_route(merchants, "/deliveries/{delivery_id}/retry", {"POST": self.retry}),
        ]

    async def list(self, request: Request, merchant: Merchant) -> Response:
        where = DeliveryFilter(
            endpoint_id=query_str(request, "endpoint_id"),
            status=query_enum(request, "status", DeliveryStatus),
            channel=query_enum(request, "channel", Channel),
        )
        page = await self._deps.notifications.list_deliveries(merchant.id, where, page_request(request))
        return json_response(page_view(page, full_delivery_view))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        delivery_id = str(request.path_params["delivery_id"])
        delivery = await self._deps.notifications.get_delivery(merchant.id, delivery_id)
        return json_response(full_delivery_view(delivery))

    async def retry(self, request: Request, merchant: Merchant) -> Response:
        """Due now with a fresh retry schedule, the same message (and `webhook-id`); 409 if it cannot go."""
        delivery_id = str(request.path_params["delivery_id"])
        delivery = await self._deps.notifications.retry_delivery(merchant.id, delivery_id)
        return json_response(full_delivery_view(delivery))
