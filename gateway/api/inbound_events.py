"""`/v1/inbound-events`: the provider events a merchant's connections received."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.billing.model import InboundStatus
from domain.billing.ports import InboundFilter
from domain.merchants.model import Merchant
from gateway.auth import v1_route
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.serialize import inbound_event_view, page_view
from gateway.validation import page_request, query_enum, query_str


class InboundEventsApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        return [
            v1_route(merchants, "/inbound-events", {"GET": self.list}),
            v1_route(merchants, "/inbound-events/{event_id}", {"GET": self.get}),
            v1_route(merchants, "/inbound-events/{event_id}/reprocess", {"POST": self.reprocess}),
        ]

    async def list(self, request: Request, merchant: Merchant) -> Response:
        where = InboundFilter(
            connection_id=query_str(request, "connection_id"),
            status=query_enum(request, "status", InboundStatus),
        )
        page = await self._deps.inbound.list(merchant.id, where, page_request(request))
        return json_response(page_view(page, inbound_event_view))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        event_id = str(request.path_params["event_id"])
        event = await self._deps.inbound.get(merchant.id, event_id)
        return json_response(inbound_event_view(event))

    async def reprocess(self, request: Request, merchant: Merchant) -> Response:
        """Run a `failed` or `ignored` event again (idempotent); answers the event, `accepted`."""
        event_id = str(request.path_params["event_id"])
        event = await self._deps.inbound.reprocess(merchant.id, event_id)
        return json_response(inbound_event_view(event))
