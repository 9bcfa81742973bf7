"""`/v1/endpoints`: where a merchant wants its outbound webhooks delivered, and how they are signed."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.notifications.service import KEEP, EndpointChanges, Keep, NewEndpoint, validated_url
from domain.shared.clock import public_time
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
            v1_route(
                merchants,
                "/endpoints/{endpoint_id}",
                {"GET": self.get, "PATCH": self.update, "DELETE": self.delete},
            ),
            v1_route(merchants, "/endpoints/{endpoint_id}/rotate-secret", {"POST": self.rotate_secret}),
        ]

    async def create(self, request: Request, merchant: Merchant) -> Response:
        data = await json_object(request, self._deps.config.max_body_bytes)
        new = NewEndpoint(
            url=await self._allowed_url(required_str(data, "url")),
            event_types=str_list(data, "event_types", required=False),
            description=optional_str(data, "description"),
        )
        endpoint = await self._deps.notifications.create_endpoint(merchant.id, new)
        return json_response(created_endpoint_view(endpoint), status_code=201)

    async def list(self, request: Request, merchant: Merchant) -> Response:
        page = await self._deps.notifications.list_endpoints(merchant.id, page_request(request))
        return json_response(page_view(page, endpoint_view))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        endpoint = await self._deps.notifications.get_endpoint(merchant.id, _endpoint_id(request))
        return json_response(endpoint_view(endpoint))

    async def update(self, request: Request, merchant: Merchant) -> Response:
        """PATCH: only the fields given change (`description: null` clears it)."""
        endpoint_id = _endpoint_id(request)
        # Not found before validation: another merchant's id answers 404 whatever the body.
        await self._deps.notifications.get_endpoint(merchant.id, endpoint_id)
        data = await json_object(request, self._deps.config.max_body_bytes)
        changes = EndpointChanges(
            url=await self._allowed_url(required_str(data, "url")) if "url" in data else KEEP,
            event_types=str_list(data, "event_types", required=True) if "event_types" in data else KEEP,
            enabled=_bool(data, "enabled"),
            description=optional_str(data, "description") if "description" in data else KEEP,
        )
        endpoint = await self._deps.notifications.update_endpoint(merchant.id, endpoint_id, changes)
        return json_response(endpoint_view(endpoint))

    async def delete(self, request: Request, merchant: Merchant) -> Response:
        """The endpoint goes; deliveries still waiting for it end as `canceled` (not dead letters)."""
        endpoint_id = _endpoint_id(request)
        canceled = await self._deps.notifications.delete_endpoint(merchant.id, endpoint_id)
        return json_response({"id": endpoint_id, "deleted": True, "canceled_deliveries": canceled})

    async def rotate_secret(self, request: Request, merchant: Merchant) -> Response:
        """A new secret, shown only here; the previous one keeps signing alongside it for 24 h."""
        endpoint, secret = await self._deps.notifications.rotate_secret(merchant.id, _endpoint_id(request))
        previous = [s.expires_at for s in endpoint.secrets[1:] if s.expires_at is not None]
        return json_response(
            {
                **endpoint_view(endpoint),
                "secret": secret,
                "previous_secrets_expire_at": public_time(max(previous)) if previous else None,
            }
        )

    async def _allowed_url(self, url: str) -> str:
        checked = validated_url(url)
        refusal = await self._deps.check_target(checked)
        if refusal is not None:
            raise ValidationFailed("url", refusal)
        return checked


def _endpoint_id(request: Request) -> str:
    return str(request.path_params["endpoint_id"])


def _bool(data: dict[str, Any], name: str) -> bool | Keep:
    if name not in data:
        return KEEP
    value = data[name]
    if not isinstance(value, bool):
        raise ValidationFailed(name, "must be true or false")
    return value
