"""`/v1/endpoints`: where a merchant wants its outbound webhooks delivered."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.notifications.service import NewEndpoint, validated_url
from domain.shared.errors import ValidationFailed
from gateway.auth import v1_route
from gateway.body import json_object
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.serialize import created_endpoint_view, endpoint_view, page_view
from gateway.validation import optional_str, page_request, required_str, str_list


class EndpointsApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        return [
            v1_route(merchants, "/endpoints", {"POST": self.create, "GET": self.list}),
            v1_route(merchants, "/endpoints/{endpoint_id}", {"GET": self.get}),
        ]

    async def create(self, request: Request, merchant: Merchant) -> Response:
        data = await json_object(request, self._deps.config.max_body_bytes)
        new = NewEndpoint(
            url=validated_url(required_str(data, "url")),
            event_types=str_list(data, "event_types", required=False),
            description=optional_str(data, "description"),
        )
        refusal = await self._deps.check_target(new.url)
        if refusal is not None:
            raise ValidationFailed("url", refusal)
        endpoint = await self._deps.notifications.create_endpoint(merchant.id, new)
        return json_response(created_endpoint_view(endpoint), status_code=201)

    async def list(self, request: Request, merchant: Merchant) -> Response:
        page = await self._deps.notifications.list_endpoints(merchant.id, page_request(request))
        return json_response(page_view(page, endpoint_view))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        endpoint_id = str(request.path_params["endpoint_id"])
        endpoint = await self._deps.notifications.get_endpoint(merchant.id, endpoint_id)
        return json_response(endpoint_view(endpoint))
