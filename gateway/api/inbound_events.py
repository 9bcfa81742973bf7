"""`/v1/inbound-events`: the provider events a merchant's connections received."""

from __future__ import annotations

from starlette.requests import Request

from domain.inbound.ports import InboundFilter
from domain.merchants.model import Merchant
from gateway.schemas import inbound_events as schema
from gateway.schemas.common import page_of
from gateway.v1 import Resource, route


class InboundEventsApi(Resource):
    tag = "inbound_events"

    @route("GET", "/inbound-events", "List inbound events")
    async def list(
        self, _: Request, merchant: Merchant, query: schema.InboundEventQuery
    ) -> schema.InboundEventPage:
        where = InboundFilter(connection_id=query.connection_id, status=query.status)
        page = await self._deps.inbound.list(merchant.id, where, query.page())
        return page_of(page, schema.inbound_event)

    @route("GET", "/inbound-events/{event_id}", "Get an inbound event")
    async def get(self, request: Request, merchant: Merchant) -> schema.InboundEvent:
        event = await self._deps.inbound.get(merchant.id, _event_id(request))
        return schema.inbound_event(event)

    @route("POST", "/inbound-events/{event_id}/reprocess", "Process an inbound event again")
    async def reprocess(self, request: Request, merchant: Merchant) -> schema.InboundEvent:
        """Run a `failed` or `ignored` event again (idempotent); answers the event, `accepted`; 409 for an
        `applied` one."""
        event = await self._deps.inbound.reprocess(merchant.id, _event_id(request))
        return schema.inbound_event(event)


def _event_id(request: Request) -> str:
    return str(request.path_params["event_id"])
