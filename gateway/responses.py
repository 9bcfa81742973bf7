"""JSON responses rendered with orjson, and the single error body every route answers with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # orjson refuses anything it cannot encode faithfully (naive datetimes are
        # handled by our serializers beforehand), so a bad value fails loudly here.
        return orjson.dumps(content)


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> ORJSONResponse:
    return ORJSONResponse(content, status_code=status_code, headers=headers)


def error_response(
    status_code: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> ORJSONResponse:
    """`{"error": {"type", "message"}}`: the one error shape of the public contract."""
    return ORJSONResponse(
        {"error": {"type": error_type, "message": message}}, status_code=status_code, headers=headers
    )
