"""A budget of requests per API key on the REST API; past it, 429 with `Retry-After`.

Counted before authentication, on a digest of the presented key (the key itself never
leaves the process), so that a flood of requests costs us no store lookups. Requests
without a bearer key are not counted here: they are refused (401) without touching the
store. Provider webhooks and probes live outside `/v1` and are never counted.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.shared.errors import Unauthenticated
from gateway.auth import bearer_key
from gateway.deps import RateLimiter
from gateway.responses import error_response

REST_PREFIX: Final = "/v1/"


def retry_after(wait: float) -> str:
    """Whole seconds, rounded up, at least 1 (`Retry-After: 0` would invite an instant retry)."""
    return str(max(1, math.ceil(wait)))


def key_identity(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class RateLimitMiddleware:
    """Pure ASGI: a refused request never reaches routing, authentication or the store."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(REST_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            api_key = bearer_key(Request(scope))
        except Unauthenticated:
            await self.app(scope, receive, send)  # the route answers 401 itself
            return
        wait = await self.limiter.hit(key_identity(api_key))
        if wait is None:
            await self.app(scope, receive, send)
            return
        seconds = retry_after(wait)
        refusal = error_response(
            429,
            "rate_limited",
            f"too many requests for this API key; retry after {seconds} s",
            {"Retry-After": seconds},
        )
        await refusal(scope, receive, send)
