"""Bearer API keys: the key a request carries (every `/v1` operation authenticates, see `gateway.v1`)."""

from __future__ import annotations

from starlette.requests import Request

from domain.shared.errors import Unauthenticated

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
