"""JSON responses encoded with msgspec, and the single error body every route answers with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec
from starlette.responses import Response

from gateway.schemas.common import ErrorBody, ErrorDetail

_ENCODER: Final = msgspec.json.Encoder()


class JSONResponse(Response):
    """Structs, dicts and lists of them; datetimes become ISO 8601 with a `Z` for UTC."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # Anything msgspec cannot encode faithfully fails loudly here rather than going out mangled.
        return _ENCODER.encode(content)


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=headers)


def error_response(
    status_code: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """`{"error": {"type", "message"}}`: the one error shape of the public contract."""
    body = ErrorBody(error=ErrorDetail(type=error_type, message=message))
    return JSONResponse(body, status_code=status_code, headers=headers)
