"""The portal's routes under `/portal`, and the one place its refusals become pages.

Pages are `page(handler)` (GET, a live session) or `action(handler)` (POST, a live session
that may change things, with its form token); either way the handler gets the `Visit` and
works for that session's merchant only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Final

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.types import Receive, Scope, Send

from domain.merchants.portal import SessionEnded
from domain.shared.errors import DomainError
from gateway.auth import mark_authenticated
from gateway.deps import GatewayDeps, PortalDeps
from gateway.errors import ApiError, domain_status
from gateway.portal.access import Access, Forbidden, Form, Throttled, UnreadableForm, Visit, session_cookie
from gateway.portal.assets import Assets
from gateway.portal.links import PREFIX
from gateway.portal.render import Pages, PortalHeaders, see_other
from gateway.ratelimit import retry_after
from integrations.stores.documents import StorageError

log = structlog.get_logger()

PageHandler = Callable[[Request, Visit], Awaitable[Response]]
ActionHandler = Callable[[Request, Visit, Form], Awaitable[Response]]
RouteHandler = Callable[[Request], Awaitable[Response]]

_TITLES: Final = {
    400: "The form could not be read",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    410: "This portal session has ended",
    413: "Too large",
    422: "Not valid",
    429: "Too many requests",
    503: "Unavailable",
}
# The portal's own refusals; every other domain error has the status the API gives it.
_PORTAL_STATUS: Final[tuple[tuple[type[DomainError], int], ...]] = (
    (SessionEnded, 410),
    (Forbidden, 403),
    (Throttled, 429),
    (UnreadableForm, 400),
)


class NotificationPages:
    """Pages over the merchant's notifications and their delivery history."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.notifications = site.deps.notifications
        self.history = site.portal.history


class Site:
    def __init__(self, deps: GatewayDeps, portal: PortalDeps) -> None:
        self.deps = deps
        self.portal = portal
        self.assets = Assets(PREFIX)
        self.pages = Pages(self.assets)
        self.access = Access(portal.sessions, deps.rate_limiter, deps.config.max_body_bytes)
        self._secure = deps.config.base_url.lower().startswith("https:")

    def page(self, handler: PageHandler) -> RouteHandler:
        async def endpoint(request: Request) -> Response:
            visit = None
            try:
                visit = await self.access.visit(request)
                return await handler(request, visit)
            except (DomainError, ApiError, StorageError) as error:
                return self.refusal(error, visit)

        return endpoint

    def action(self, handler: ActionHandler) -> RouteHandler:
        async def endpoint(request: Request) -> Response:
            visit = None
            try:
                visit = await self.access.visit(request)
                form = await self.access.posted(request, visit)
                return await handler(request, visit, form)
            except (DomainError, ApiError, StorageError) as error:
                return self.refusal(error, visit)

        return endpoint

    def refusal(self, error: Exception, visit: Visit | None) -> Response:
        """The page for a refusal, with the status the contract gives it."""
        if isinstance(error, StorageError):
            log.error("store_unavailable", path="/portal", exc_info=error)
            return self.pages.problem(
                503, _TITLES[503], "The store is unavailable; try again in a moment.", visit
            )
        if isinstance(error, ApiError):
            status, message = error.status_code, error.message
        else:
            assert isinstance(error, DomainError)  # noqa: S101 - the only other kind caught above
            status = next(
                (code for kind, code in _PORTAL_STATUS if isinstance(error, kind)), domain_status(error)
            )
            message = error.message
        response = self.pages.problem(status, _TITLES.get(status, HTTPStatus(status).phrase), message, visit)
        if isinstance(error, Throttled):
            response.headers["Retry-After"] = retry_after(error.wait)
        return response

    async def open(self, request: Request) -> Response:
        """A portal link: consumed, and the browser gets its session cookie."""
        try:
            opened = await self.portal.sessions.open(request.query_params.get("token", ""))
        except (DomainError, StorageError) as error:
            return self.refusal(error, None)
        mark_authenticated(request)
        response = see_other("/")
        cookie = session_cookie(
            opened.token, opened.session.expires_at, self.deps.clock(), secure=self._secure
        )
        response.headers.append("Set-Cookie", cookie)
        return response

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.pages.problem(404, _TITLES[404], "There is no such page in the portal.")
        await response(scope, receive, send)

    def mount(self, routes: list[Route]) -> Mount:
        static = Route("/static/{name}", self.assets.serve, methods=["GET"])
        opening = Route("/open", self.open, methods=["GET"])
        router = Router([opening, static, *routes], default=self.not_found)
        return Mount(PREFIX, app=PortalHeaders(router, self.portal.frame_ancestors))
