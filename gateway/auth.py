"""Bearer API keys: every `/v1` route is built through `v1_route`, which always authenticates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.merchants.service import MerchantsExternal
from domain.shared.errors import Unauthenticated

AuthedEndpoint = Callable[[Request, Merchant], Awaitable[Response]]

# Real keys are about 46 characters; anything far longer is not worth hashing.
_MAX_KEY_LENGTH = 512


def bearer_key(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthenticated("an API key is required: Authorization: Bearer <api_key>")
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthenticated("the Authorization header must be: Bearer <api_key>")
    if len(key) > _MAX_KEY_LENGTH:
        raise Unauthenticated("invalid API key")
    return key


def authenticated(
    merchants: MerchantsExternal, endpoint: AuthedEndpoint
) -> Callable[[Request], Awaitable[Response]]:
    """Resolve the merchant before the endpoint runs; the endpoint only ever sees its own merchant."""

    async def run(request: Request) -> Response:
        merchant = await merchants.authenticate(bearer_key(request))
        return await endpoint(request, merchant)

    return run


def v1_route(merchants: MerchantsExternal, path: str, endpoints: Mapping[str, AuthedEndpoint]) -> Route:
    """One route per path with every method on it, so a 405 lists all allowed methods."""
    by_method = dict(endpoints)
    if "GET" in by_method:
        # Starlette answers HEAD wherever GET is allowed.
        by_method.setdefault("HEAD", by_method["GET"])

    async def dispatch(request: Request, merchant: Merchant) -> Response:
        return await by_method[request.method](request, merchant)

    return Route(f"/v1{path}", authenticated(merchants, dispatch), methods=list(endpoints))
