"""Who is looking: the browser's portal session, its budget of requests and its forms' token.

Every portal page goes through `Access`: the session cookie is read, counted against the
session's request budget (on a digest of the cookie, before the store is asked anything), and
looked up; the page then works for that session's merchant only. A POST is refused (403) for a
read-only session and for a form without the session's anti-forgery token, before its body
means anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import parse_qsl

from starlette.requests import Request

from domain.merchants.portal import PortalSession, PortalSessions, form_token, form_token_matches
from domain.shared.errors import DomainError, Unauthenticated
from gateway.auth import mark_authenticated
from gateway.body import read_limited
from gateway.deps import RateLimiter
from gateway.portal.links import OPEN_PATH, PREFIX

COOKIE: Final = "subgate_portal"
FORM_TOKEN_FIELD: Final = "form_token"  # noqa: S105 - a form field's name, not a secret
_FORM_TYPE: Final = "application/x-www-form-urlencoded"
_MAX_FIELDS: Final = 200


class Forbidden(DomainError):
    """A POST the session may not make: read-only, or without its form token."""

    kind = "forbidden"


class Throttled(DomainError):
    kind = "rate_limited"

    def __init__(self, wait: float) -> None:
        super().__init__("too many requests in this portal session; wait a moment")
        self.wait = wait


class UnreadableForm(DomainError):
    kind = "invalid_request"


@dataclass(frozen=True, slots=True)
class Visit:
    """One request of a live session: whose data it may see, and what its forms carry."""

    session: PortalSession
    form_token: str

    @property
    def merchant_id(self) -> str:
        return self.session.merchant_id

    @property
    def read_only(self) -> bool:
        return self.session.read_only


Form = dict[str, list[str]]


def presented_credential(request: Request) -> str | None:
    """What a portal request authenticates with (the failed-authentication throttle counts it):
    a link's token when opening one, else the session cookie."""
    path = request.url.path
    if path == OPEN_PATH:
        return request.query_params.get("token")
    if path.startswith(PREFIX + "/"):
        return request.cookies.get(COOKIE)
    return None


def session_cookie(token: str, expires_at: datetime, now: datetime, *, secure: bool) -> str:
    """The Set-Cookie value: HttpOnly, SameSite=Lax, the portal's path, gone when the session ends."""
    max_age = max(0, int((expires_at - now).total_seconds()))
    parts = [f"{COOKIE}={token}", f"Path={PREFIX}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


class Access:
    def __init__(self, sessions: PortalSessions, limiter: RateLimiter | None, max_body_bytes: int) -> None:
        self._sessions = sessions
        self._limiter = limiter
        self._max_body_bytes = max_body_bytes

    async def visit(self, request: Request) -> Visit:
        token = request.cookies.get(COOKIE)
        if not token:
            raise Unauthenticated("open the portal through a portal link")
        if self._limiter is not None:
            identity = "portal:" + hashlib.sha256(token.encode()).hexdigest()
            wait = await self._limiter.hit(identity)
            if wait is not None:
                raise Throttled(wait)
        session = await self._sessions.authenticate(token)
        mark_authenticated(request)
        return Visit(session=session, form_token=form_token(token))

    async def posted(self, request: Request, visit: Visit) -> Form:
        """The form of a POST this session may make; Forbidden otherwise."""
        if visit.read_only:
            raise Forbidden("this portal session is read-only: it cannot change anything")
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        body = await read_limited(request, self._max_body_bytes)
        form: Form = {}
        if content_type == _FORM_TYPE:
            try:
                pairs = parse_qsl(
                    body.decode("utf-8"),
                    keep_blank_values=True,
                    strict_parsing=False,
                    max_num_fields=_MAX_FIELDS,
                )
            except (UnicodeDecodeError, ValueError):
                raise UnreadableForm("the form could not be read") from None
            for name, value in pairs:
                form.setdefault(name, []).append(value)
        token = request.cookies.get(COOKIE, "")
        presented = form.get(FORM_TOKEN_FIELD, [None])[0]
        if not form_token_matches(token, presented):
            raise Forbidden("the form was not sent from this portal session (its token is missing or wrong)")
        return form
