"""`/v1/portal-sessions`: one-time links into the merchant portal, and ending them all."""

from __future__ import annotations

from starlette.requests import Request

from domain.merchants.model import Merchant
from domain.merchants.portal import PortalSessions
from gateway.deps import GatewayDeps
from gateway.portal.links import portal_link
from gateway.schemas import portal_sessions as schema
from gateway.v1 import Resource, route


class PortalSessionsApi(Resource):
    tag = "portal_sessions"

    def __init__(self, deps: GatewayDeps, sessions: PortalSessions) -> None:
        super().__init__(deps)
        self._sessions = sessions

    @route(
        "POST",
        "/portal-sessions",
        "Make a one-time link into the merchant portal",
        status=201,
        optional_body=True,
    )
    async def create(
        self, _: Request, merchant: Merchant, body: schema.PortalSessionCreate
    ) -> schema.PortalSession:
        """`{expires_in?, read_only?}`: the link works once, until `expires_at`."""
        issued = await self._sessions.issue(merchant.id, expires_in=body.expires_in, read_only=body.read_only)
        return schema.PortalSession(
            url=portal_link(self._deps.config.base_url, issued.token), expires_at=issued.session.expires_at
        )

    @route("POST", "/portal-sessions/revoke-all", "End every portal session and unopened link")
    async def revoke_all(self, _: Request, merchant: Merchant) -> schema.PortalSessionsRevoked:
        """Every browser session ends at its next request; unopened links stop working."""
        return schema.PortalSessionsRevoked(revoked=await self._sessions.revoke_all(merchant.id))
