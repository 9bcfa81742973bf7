"""`/v1/endpoints`: where a merchant wants its outbound webhooks delivered, and how they are signed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from msgspec import UnsetType
from starlette.requests import Request

from domain.merchants.model import Merchant
from domain.notifications.external import KEEP, EndpointChanges, Keep, NewEndpoint, validated_url
from domain.shared.events import EventType
from gateway.deps import GatewayDeps
from gateway.routing import Operation
from gateway.schemas import endpoints as schema
from gateway.schemas.common import PageQuery, page_of
from gateway.v1 import V1, Body

T = TypeVar("T")


class EndpointsApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def operations(self) -> list[Operation]:
        v1 = V1(self._deps, "endpoints")
        by_id = "/endpoints/{endpoint_id}"
        return [
            v1.with_body(
                "POST",
                "/endpoints",
                self.create,
                body=Body(schema.EndpointCreate),
                ok=schema.CreatedEndpoint,
                status=201,
                summary="Create an endpoint",
            ),
            v1.with_query(
                "/endpoints", self.list, query=PageQuery, ok=schema.EndpointPage, summary="List endpoints"
            ),
            v1.plain("GET", by_id, self.get, ok=schema.Endpoint, summary="Get an endpoint"),
            v1.with_body(
                "PATCH",
                by_id,
                self.update,
                body=Body(schema.EndpointUpdate, found_first=self._found),
                ok=schema.Endpoint,
                summary="Change an endpoint",
            ),
            v1.plain("DELETE", by_id, self.delete, ok=schema.DeletedEndpoint, summary="Delete an endpoint"),
            v1.plain(
                "POST",
                by_id + "/rotate-secret",
                self.rotate_secret,
                ok=schema.RotatedEndpoint,
                summary="Rotate an endpoint's signing secret",
            ),
        ]

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

    async def list(self, _: Request, merchant: Merchant, query: PageQuery) -> schema.EndpointPage:
        page = await self._deps.notifications.list_endpoints(merchant.id, query.page())
        return page_of(page, schema.endpoint)

    async def get(self, request: Request, merchant: Merchant) -> schema.Endpoint:
        endpoint = await self._deps.notifications.get_endpoint(merchant.id, _endpoint_id(request))
        return schema.endpoint(endpoint)

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

    async def delete(self, request: Request, merchant: Merchant) -> schema.DeletedEndpoint:
        """The endpoint goes; deliveries still waiting for it end as `canceled` (not dead letters)."""
        endpoint_id = _endpoint_id(request)
        canceled = await self._deps.notifications.delete_endpoint(merchant.id, endpoint_id)
        return schema.DeletedEndpoint(id=endpoint_id, deleted=True, canceled_deliveries=canceled)

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
