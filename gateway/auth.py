"""Bearer API keys: the key a request carries (every `/v1` operation authenticates, see `gateway.v1`)."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request

from domain.merchants.external import MerchantsExternal
from domain.merchants.model import Merchant
from domain.shared.errors import Unauthenticated

# Set in the request's state once its credentials verified (read by gateway.auth_throttle).
AUTHENTICATED: Final = "authenticated"

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


def mark_authenticated(request: Request) -> None:
    setattr(request.state, AUTHENTICATED, True)


async def authenticate(request: Request, merchants: MerchantsExternal) -> Merchant:
    """The merchant whose API key the request carries; raises Unauthenticated (401)."""
    merchant = await merchants.authenticate(bearer_key(request))
    mark_authenticated(request)
    return merchant
