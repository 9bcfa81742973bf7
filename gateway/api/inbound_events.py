"""`/v1/inbound-events`: the provider events a merchant's connections received."""

from __future__ import annotations

from starlette.requests import Request

from domain.inbound.ports import InboundFilter
from domain.merchants.model import Merchant
from gateway.deps import GatewayDeps
from gateway.routing import Operation
from gateway.schemas import inbound_events as schema
from gateway.schemas.common import page_of
from gateway.v1 import V1


class InboundEventsApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def operations(self) -> list[Operation]:
        v1 = V1(self._deps, "inbound_events")
        return [
            v1.with_query(
                "/inbound-events",
                self.list,
                query=schema.InboundEventQuery,
                ok=schema.InboundEventPage,
                summary="List inbound events",
            ),
            v1.plain(
                "GET",
                "/inbound-events/{event_id}",
                self.get,
                ok=schema.InboundEvent,
                summary="Get an inbound event",
            ),
            v1.plain(
                "POST",
                "/inbound-events/{event_id}/reprocess",
                self.reprocess,
                ok=schema.InboundEvent,
                summary="Process an inbound event again",
            ),
        ]

    async def list(
        self, _: Request, merchant: Merchant, query: schema.InboundEventQuery
    ) -> schema.InboundEventPage:
        where = InboundFilter(connection_id=query.connection_id, status=query.status)
        page = await self._deps.inbound.list(merchant.id, where, query.page())
        return page_of(page, schema.inbound_event)

    async def get(self, request: Request, merchant: Merchant) -> schema.InboundEvent:
        event = await self._deps.inbound.get(merchant.id, _event_id(request))
        return schema.inbound_event(event)

    async def reprocess(self, request: Request, merchant: Merchant) -> schema.InboundEvent:
        """Run a `failed` or `ignored` event again (idempotent); answers the event, `accepted`; 409 for an
        `applied` one."""
        event = await self._deps.inbound.reprocess(merchant.id, _event_id(request))
        return schema.inbound_event(event)


def _event_id(request: Request) -> str:
    return str(request.path_params["event_id"])
