"""`/v1/connections`: provider accounts posting webhooks. Secrets and API keys go in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from domain.merchants.external import MAX_API_KEY_LENGTH, MAX_SECRET_LENGTH, MAX_SECRETS, MIN_SECRET_LENGTH
from domain.merchants.model import Connection as DomainConnection, Provider
from gateway.schemas.common import Page

Secrets = Annotated[
    list[Annotated[str, Meta(min_length=MIN_SECRET_LENGTH, max_length=MAX_SECRET_LENGTH)]],
    Meta(
        min_length=1,
        max_length=MAX_SECRETS,
        description="Signing secrets without surrounding spaces; any one of them verifies (rotation).",
    ),
]
ApiKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_API_KEY_LENGTH,
        description="The provider API key, for acting at the provider; never shown again.",
    ),
]


class ConnectionCreate(Struct, frozen=True, kw_only=True):
    provider: Annotated[Provider, Meta(description="One of the providers this service is set up for.")]
    webhook_secrets: Secrets
    api_key: ApiKey | None = None


class ConnectionUpdate(Struct, frozen=True, kw_only=True):
    """`webhook_secrets` (the new list replaces the old at once), `api_key` (null forgets it), or both."""

    webhook_secrets: Secrets | UnsetType = UNSET
    api_key: ApiKey | UnsetType | None = UNSET


class Connection(Struct, frozen=True, kw_only=True):
    id: str
    provider: Provider
    webhook_url: Annotated[str, Meta(description="Where the provider must post this connection's events.")]
    signing_scheme: Annotated[
        str | None,
        Meta(
            description="Which way the last verified webhook was signed, for a provider that signs "
            "more than one way (Polar: `secret_bytes` or `standard_webhooks`); null until then "
            "and for the other providers."
        ),
    ] = None
    created_at: datetime


ConnectionPage = Page[Connection]


def webhook_url(base_url: str, connection: DomainConnection) -> str:
    return f"{base_url.rstrip('/')}/webhooks/{connection.provider.value}/{connection.id}"


def connection(value: DomainConnection, base_url: str) -> Connection:
    return Connection(
        id=value.id,
        provider=value.provider,
        webhook_url=webhook_url(base_url, value),
        signing_scheme=value.signing_scheme,
        created_at=value.created_at,
    )
