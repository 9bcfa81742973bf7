"""`/v1/deliveries`: what happened to each outbound message (webhooks and customer emails)."""

from __future__ import annotations

from starlette.requests import Request

from domain.merchants.model import Merchant
from domain.notifications.ports import DeliveryFilter
from gateway.deps import GatewayDeps
from gateway.routing import Operation
from gateway.schemas import deliveries as schema
from gateway.schemas.common import page_of
from gateway.v1 import V1


class DeliveriesApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def operations(self) -> list[Operation]:
        v1 = V1(self._deps, "deliveries")
        return [
            v1.with_query(
                "/deliveries",
                self.list,
                query=schema.DeliveryQuery,
                ok=schema.DeliveryPage,
                summary="List deliveries",
            ),
            v1.plain(
                "GET", "/deliveries/{delivery_id}", self.get, ok=schema.Delivery, summary="Get a delivery"
            ),
            v1.plain(
                "POST",
                "/deliveries/{delivery_id}/retry",
                self.retry,
                ok=schema.Delivery,
                summary="Retry a delivery now",
            ),
        ]

    async def list(self, _: Request, merchant: Merchant, query: schema.DeliveryQuery) -> schema.DeliveryPage:
        where = DeliveryFilter(endpoint_id=query.endpoint_id, status=query.status, channel=query.channel)
        page = await self._deps.notifications.list_deliveries(merchant.id, where, query.page())
        return page_of(page, schema.delivery)

    async def get(self, request: Request, merchant: Merchant) -> schema.Delivery:
        delivery = await self._deps.notifications.get_delivery(merchant.id, _delivery_id(request))
        return schema.delivery(delivery)

    async def retry(self, request: Request, merchant: Merchant) -> schema.Delivery:
        """Due now with a fresh retry schedule, the same message (and `webhook-id`); 409 if it cannot go."""
        delivery = await self._deps.notifications.retry_delivery(merchant.id, _delivery_id(request))
        return schema.delivery(delivery)


def _delivery_id(request: Request) -> str:
    return str(request.path_params["delivery_id"])
