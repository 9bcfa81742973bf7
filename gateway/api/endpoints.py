"""`/v1/endpoints`: where a merchant wants its outbound webhooks delivered, and how they are signed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeVar

from msgspec import UnsetType
from starlette.requests import Request

from domain.merchants.model import Merchant
from domain.notifications.external import KEEP, EndpointChanges, Keep, NewEndpoint, validated_url
from domain.shared.events import EventType
from gateway.schemas import endpoints as schema
from gateway.schemas.common import PageQuery, page_of
from gateway.v1 import Resource, route

T = TypeVar("T")


BY_ID: Final = "/endpoints/{endpoint_id}"


class EndpointsApi(Resource):
    tag = "endpoints"

    @route("POST", "/endpoints", "Create an endpoint", status=201)
    async def create(
        self, _: Request, merchant: Merchant, body: schema.EndpointCreate
    ) -> schema.CreatedEndpoint:
        """The answer carries the signing secret, shown only here."""
        new = NewEndpoint(
            url=await self._allowed_url(body.url),
            event_types=_values(body.event_types),
            description=body.description,
        )
        endpoint = await self._deps.notifications.create_endpoint(merchant.id, new)
        return schema.created(endpoint)

    @route("GET", "/endpoints", "List endpoints")
    async def list(self, _: Request, merchant: Merchant, query: PageQuery) -> schema.EndpointPage:
        page = await self._deps.notifications.list_endpoints(merchant.id, query.page())
        return page_of(page, schema.endpoint)

    @route("GET", BY_ID, "Get an endpoint")
    async def get(self, request: Request, merchant: Merchant) -> schema.Endpoint:
        endpoint = await self._deps.notifications.get_endpoint(merchant.id, _endpoint_id(request))
        return schema.endpoint(endpoint)

    @route("PATCH", BY_ID, "Change an endpoint", found_first="_found")
    async def update(
        self, request: Request, merchant: Merchant, body: schema.EndpointUpdate
    ) -> schema.Endpoint:
        """Only the fields given change (`description: null` clears it)."""
        changes = EndpointChanges(
            url=KEEP if isinstance(body.url, UnsetType) else await self._allowed_url(body.url),
            event_types=KEEP if isinstance(body.event_types, UnsetType) else _values(body.event_types),
            enabled=_kept(body.enabled),
            description=_kept(body.description),
        )
        endpoint = await self._deps.notifications.update_endpoint(merchant.id, _endpoint_id(request), changes)
        return schema.endpoint(endpoint)

    @route("DELETE", BY_ID, "Delete an endpoint")
    async def delete(self, request: Request, merchant: Merchant) -> schema.DeletedEndpoint:
        """The endpoint goes; deliveries still waiting for it end as `canceled` (not dead letters)."""
        endpoint_id = _endpoint_id(request)
        canceled = await self._deps.notifications.delete_endpoint(merchant.id, endpoint_id)
        return schema.DeletedEndpoint(id=endpoint_id, deleted=True, canceled_deliveries=canceled)

    @route("POST", BY_ID + "/rotate-secret", "Rotate an endpoint's signing secret")
    async def rotate_secret(self, request: Request, merchant: Merchant) -> schema.RotatedEndpoint:
        """A new secret, shown only here; the previous one keeps signing alongside it for 24 h."""
        endpoint, secret = await self._deps.notifications.rotate_secret(merchant.id, _endpoint_id(request))
        return schema.rotated(endpoint, secret)

    async def _found(self, request: Request, merchant: Merchant) -> None:
        # Not found before validation: another merchant's id answers 404 whatever the body.
        await self._deps.notifications.get_endpoint(merchant.id, _endpoint_id(request))

    async def _allowed_url(self, url: str) -> str:
        """The URL as it is stored and connected to (ValidationFailed when it must not be)."""
        return await self._deps.check_target(validated_url(url))


def _endpoint_id(request: Request) -> str:
    return str(request.path_params["endpoint_id"])


def _values(event_types: Sequence[EventType]) -> list[str]:
    return [event_type.value for event_type in event_types]


def _kept(value: T | UnsetType) -> T | Keep:
    return KEEP if isinstance(value, UnsetType) else value
