"""`/v1/deliveries`: what happened to each outbound message (webhooks and customer emails)."""

from __future__ import annotations

from starlette.requests import Request

from domain.merchants.model import Merchant
from domain.notifications.ports import DeliveryFilter
from gateway.schemas import deliveries as schema
from gateway.schemas.common import page_of
from gateway.v1 import Resource, route


class DeliveriesApi(Resource):
    tag = "deliveries"

    @route("GET", "/deliveries", "List deliveries")
    async def list(self, _: Request, merchant: Merchant, query: schema.DeliveryQuery) -> schema.DeliveryPage:
        where = DeliveryFilter(endpoint_id=query.endpoint_id, status=query.status, channel=query.channel)
        page = await self._deps.notifications.list_deliveries(merchant.id, where, query.page())
        return page_of(page, schema.delivery)

    @route("GET", "/deliveries/{delivery_id}", "Get a delivery")
    async def get(self, request: Request, merchant: Merchant) -> schema.Delivery:
        delivery = await self._deps.notifications.get_delivery(merchant.id, _delivery_id(request))
        return schema.delivery(delivery)

    @route("POST", "/deliveries/{delivery_id}/retry", "Retry a delivery now")
    async def retry(self, request: Request, merchant: Merchant) -> schema.Delivery:
        """Due now with a fresh retry schedule, the same message (and `webhook-id`); 409 if it cannot go."""
        delivery = await self._deps.notifications.retry_delivery(merchant.id, _delivery_id(request))
        return schema.delivery(delivery)


def _delivery_id(request: Request) -> str:
    return str(request.path_params["delivery_id"])
