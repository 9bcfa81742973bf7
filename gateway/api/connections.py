"""`/v1/connections`: the provider accounts that post webhooks to a merchant."""

from __future__ import annotations

from collections.abc import Sequence

from msgspec import UnsetType
from starlette.requests import Request

from domain.merchants.external import ConnectionChange, NewConnection
from domain.merchants.model import Connection, Merchant
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, page_from_overfetch
from gateway.schemas import connections as schema
from gateway.schemas.common import Deleted, PageQuery, page_of
from gateway.v1 import Resource, route


class ConnectionsApi(Resource):
    tag = "connections"

    @route("POST", "/connections", "Create a connection", status=201)
    async def create(
        self, _: Request, merchant: Merchant, body: schema.ConnectionCreate
    ) -> schema.Connection:
        """Secrets and the API key are kept, never shown again."""
        if body.provider not in self._deps.providers:
            # Refused here rather than created with a webhook URL that would answer 404.
            implemented = ", ".join(sorted(self._deps.providers))
            raise ValidationFailed(
                "provider", f"{body.provider.value!r} is not implemented; one of {implemented}"
            )
        new = NewConnection(
            provider=body.provider, webhook_secrets=body.webhook_secrets, api_key=body.api_key
        )
        connection = await self._deps.merchants.create_connection(merchant.id, new)
        return schema.connection(connection, self._deps.config.base_url)

    @route("GET", "/connections", "List connections")
    async def list(self, _: Request, merchant: Merchant, query: PageQuery) -> schema.ConnectionPage:
        connections = await self._deps.merchants.list_connections(merchant.id)
        window = _window(connections, query.page())
        return page_of(window, lambda c: schema.connection(c, self._deps.config.base_url))

    @route("GET", "/connections/{connection_id}", "Get a connection")
    async def get(self, request: Request, merchant: Merchant) -> schema.Connection:
        connection = await self._deps.merchants.get_connection(merchant.id, _connection_id(request))
        return schema.connection(connection, self._deps.config.base_url)

    @route(
        "PATCH",
        "/connections/{connection_id}",
        "Rotate a connection's secrets or set its API key",
        found_first="_found",
    )
    async def update(
        self, request: Request, merchant: Merchant, body: schema.ConnectionUpdate
    ) -> schema.Connection:
        """The new `webhook_secrets` list replaces the old one at once; `api_key: null` forgets the key."""
        change = ConnectionChange(
            webhook_secrets=None if isinstance(body.webhook_secrets, UnsetType) else body.webhook_secrets,
            api_key_changed=not isinstance(body.api_key, UnsetType),
            api_key=None if isinstance(body.api_key, UnsetType) else body.api_key,
        )
        connection = await self._deps.merchants.update_connection(
            merchant.id, _connection_id(request), change
        )
        return schema.connection(connection, self._deps.config.base_url)

    @route("DELETE", "/connections/{connection_id}", "Delete a connection")
    async def delete(self, request: Request, merchant: Merchant) -> Deleted:
        """Later webhooks to the connection answer 404; the events it received stay listed."""
        connection_id = _connection_id(request)
        await self._deps.merchants.delete_connection(merchant.id, connection_id)
        return Deleted(id=connection_id, deleted=True)

    async def _found(self, request: Request, merchant: Merchant) -> None:
        await self._deps.merchants.get_connection(merchant.id, _connection_id(request))


def _connection_id(request: Request) -> str:
    return str(request.path_params["connection_id"])


def _window(connections: Sequence[Connection], page: PageRequest) -> Page[Connection]:
    """The service returns a merchant's (few) connections at once; the page is cut here.

    Ids are time ordered, so sorting by id gives the same order and cursor semantics
    as every store-backed list.
    """
    ordered = sorted(connections, key=lambda c: c.id)
    if page.starting_after is not None:
        ordered = [c for c in ordered if c.id > page.starting_after]
    return page_from_overfetch(ordered[: page.limit + 1], page.limit)
