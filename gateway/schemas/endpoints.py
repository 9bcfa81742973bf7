"""`/v1/endpoints`: where outbound webhooks go. The signing secret is shown only when made."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, structs

from domain.notifications.external import MAX_URL_LENGTH
from domain.notifications.model import Endpoint as DomainEndpoint
from domain.shared.events import EventType
from gateway.schemas.common import MAX_LIST_LENGTH, Page, Text

Url = Annotated[
    str,
    Meta(
        max_length=MAX_URL_LENGTH,
        description="An absolute http(s) URL without credentials; private and loopback targets are "
        "refused unless SUBGATE_ALLOW_PRIVATE_TARGETS is set.",
        extra_json_schema={"format": "uri"},
    ),
]
EventTypes = Annotated[
    list[EventType],
    Meta(max_length=MAX_LIST_LENGTH, description="The event types to receive; empty: every type."),
]


class EndpointCreate(Struct, frozen=True, kw_only=True):
    url: Url
    event_types: EventTypes = []
    description: Text | None = None


class EndpointUpdate(Struct, frozen=True, kw_only=True):
    """Only the fields given change; `description: null` clears it; enabling starts failures afresh."""

    url: Url | UnsetType = UNSET
    event_types: EventTypes | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    description: Text | UnsetType | None = UNSET


class Endpoint(Struct, frozen=True, kw_only=True):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    created_at: datetime


class CreatedEndpoint(Endpoint, frozen=True, kw_only=True):
    secret: Annotated[str, Meta(description="The signing secret (`whsec_...`), shown only here.")]


class RotatedEndpoint(CreatedEndpoint, frozen=True, kw_only=True):
    previous_secrets_expire_at: Annotated[
        datetime | None, Meta(description="Until then the previous secret signs alongside the new one.")
    ]


class DeletedEndpoint(Struct, frozen=True, kw_only=True):
    id: str
    deleted: bool
    canceled_deliveries: Annotated[int, Meta(description="Deliveries still waiting for it, now canceled.")]


EndpointPage = Page[Endpoint]


def endpoint(value: DomainEndpoint) -> Endpoint:
    # Every field of the representation is an attribute of the domain value, under the same name.
    return msgspec.convert(value, Endpoint, from_attributes=True)


def created(value: DomainEndpoint) -> CreatedEndpoint:
    return CreatedEndpoint(**structs.asdict(endpoint(value)), secret=value.secrets[0].value)


def rotated(value: DomainEndpoint, secret: str) -> RotatedEndpoint:
    previous = [s.expires_at for s in value.secrets[1:] if s.expires_at is not None]
    return RotatedEndpoint(
        **structs.asdict(endpoint(value)),
        secret=secret,
        previous_secrets_expire_at=max(previous) if previous else None,
    )
