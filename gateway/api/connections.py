"""`/v1/connections`: the provider accounts that post webhooks to a merchant."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Connection, Merchant
from domain.merchants.service import ConnectionChange, NewConnection
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, page_from_overfetch
from gateway.auth import v1_route
from gateway.body import json_object
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.serialize import connection_view, page_view
from gateway.validation import optional_str, page_request, required_str, str_list

MAX_API_KEY_LENGTH = 512


class ConnectionsApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps
        self._base_url = deps.config.base_url

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        return [
            v1_route(merchants, "/connections", {"POST": self.create, "GET": self.list}),
            v1_route(
                merchants,
                "/connections/{connection_id}",
                {"GET": self.get, "PATCH": self.update, "DELETE": self.delete},
            ),
        ]

    async def create(self, request: Request, merchant: Merchant) -> Response:
        data = await json_object(request, self._deps.config.max_body_bytes)
        provider = required_str(data, "provider")
        if provider not in self._deps.providers:
            # Refused here rather than created with a webhook URL that would answer 404.
            implemented = ", ".join(sorted(self._deps.providers))
            raise ValidationFailed("provider", f"{provider!r} is not implemented; one of {implemented}")
        new = NewConnection(
            provider=provider,
            webhook_secrets=str_list(data, "webhook_secrets", required=True),
            api_key=optional_str(data, "api_key", max_length=MAX_API_KEY_LENGTH),
        )
        connection = await self._deps.merchants.create_connection(merchant.id, new)
        return json_response(connection_view(connection, self._base_url), status_code=201)

    async def list(self, request: Request, merchant: Merchant) -> Response:
        page = page_request(request)
        connections = await self._deps.merchants.list_connections(merchant.id)
        window = _window(connections, page)
        return json_response(page_view(window, lambda c: connection_view(c, self._base_url)))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        connection_id = str(request.path_params["connection_id"])
        connection = await self._deps.merchants.get_connection(merchant.id, connection_id)
        return json_response(connection_view(connection, self._base_url))

    async def update(self, request: Request, merchant: Merchant) -> Response:
        """Rotate `webhook_secrets` (the new list replaces the old at once) and/or set `api_key`."""
        connection_id = str(request.path_params["connection_id"])
        data = await json_object(request, self._deps.config.max_body_bytes)
        change = ConnectionChange(
            webhook_secrets=str_list(data, "webhook_secrets", required=True)
            if "webhook_secrets" in data
            else None,
            api_key_changed="api_key" in data,
            api_key=optional_str(data, "api_key", max_length=MAX_API_KEY_LENGTH),
        )
        connection = await self._deps.merchants.update_connection(merchant.id, connection_id, change)
        return json_response(connection_view(connection, self._base_url))

    async def delete(self, request: Request, merchant: Merchant) -> Response:
        """Later webhooks to the connection answer 404; the events it received stay listed."""
        connection_id = str(request.path_params["connection_id"])
        await self._deps.merchants.delete_connection(merchant.id, connection_id)
        return json_response({"id": connection_id, "deleted": True})


def _window(connections: Sequence[Connection], page: PageRequest) -> Page[Connection]:
    """The service returns a merchant's (few) connections at once; the page is cut here.

    Ids are time ordered, so sorting by id gives the same order and cursor semantics
    as every store-backed list.
    """
    ordered = sorted(connections, key=lambda c: c.id)
    if page.starting_after is not None:
        ordered = [c for c in ordered if c.id > page.starting_after]
    return page_from_overfetch(ordered[: page.limit + 1], page.limit)
