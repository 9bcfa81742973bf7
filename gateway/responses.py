"""JSON responses encoded with msgspec, and the single error body every route answers with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import msgspec
from starlette.responses import Response

from domain.shared.clock import utc_text
from gateway.schemas.common import ErrorBody, ErrorDetail

_ENCODER: Final = msgspec.json.Encoder()


class JSONResponse(Response):
    """Structs, dicts and lists of them; datetimes in the service's one form (`utc_text`)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # Anything msgspec cannot encode faithfully fails loudly here rather than going out mangled.
        # msgspec writes a time to the second or the microsecond as it falls: times are turned
        # into text first, so that every answer shows them with the same precision.
        return _ENCODER.encode(json_values(content))


def json_values(content: Any) -> Any:
    """`content` as JSON's values (dicts, lists, strings...), its times in the one form."""
    return _times_as_text(msgspec.to_builtins(content, builtin_types=(datetime,)))


def _times_as_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, dict):
        return {key: _times_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_times_as_text(item) for item in value]
    return value


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
