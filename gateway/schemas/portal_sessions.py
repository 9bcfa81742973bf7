"""`/v1/portal-sessions`: one-time links into the merchant portal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from domain.merchants.portal import MAX_EXPIRES_IN, MIN_EXPIRES_IN


class PortalSessionCreate(Struct, frozen=True, kw_only=True):
    expires_in: (
        Annotated[
            int,
            Meta(
                ge=MIN_EXPIRES_IN,
                le=MAX_EXPIRES_IN,
                description="Seconds until the link and the session it opens end (default 3600).",
            ),
        ]
        | None
    ) = None
    read_only: Annotated[bool, Meta(description="A session that shows everything and changes nothing.")] = (
        False
    )


class PortalSession(Struct, frozen=True, kw_only=True):
    url: Annotated[str, Meta(description="Opens the portal once; a second opening is refused.")]
    expires_at: datetime


class PortalSessionsRevoked(Struct, frozen=True, kw_only=True):
    revoked: Annotated[int, Meta(description="How many sessions and unopened links were ended.")]
