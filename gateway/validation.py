"""Typed reads of JSON fields and query parameters; every failure is a ValidationFailed (422).

Unknown JSON fields are ignored, so clients can send a superset of what a route reads.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from starlette.requests import Request

from domain.shared.errors import ValidationFailed
from domain.shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest

E = TypeVar("E", bound=enum.Enum)

MAX_ID_LENGTH = 255
MAX_TEXT_LENGTH = 1000
MAX_LIST_LENGTH = 100


def required_str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        raise ValidationFailed(name, "is required")
    if not isinstance(value, str):
        raise ValidationFailed(name, "must be a string")
    return value


def optional_str(data: Mapping[str, Any], name: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(name, "must be a string or null")
    if len(value) > max_length:
        raise ValidationFailed(name, f"must be at most {max_length} characters")
    return value


def str_list(data: Mapping[str, Any], name: str, *, required: bool) -> list[str]:
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationFailed(name, "is required")
        return []
    # A bare string would otherwise pass as a list of one-character strings further down.
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationFailed(name, "must be a list of strings")
    if len(value) > MAX_LIST_LENGTH:
        raise ValidationFailed(name, f"must have at most {MAX_LIST_LENGTH} items")
    return value


def query_str(request: Request, name: str) -> str | None:
    """A query parameter, with an empty value (`?status=`) meaning "not given"."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_ID_LENGTH:
        raise ValidationFailed(name, f"must be at most {MAX_ID_LENGTH} characters")
    return value


def query_enum(request: Request, name: str, choices: type[E]) -> E | None:
    value = query_str(request, name)
    if value is None:
        return None
    for choice in choices:
        if choice.value == value:
            return choice
    allowed = ", ".join(str(choice.value) for choice in choices)
    raise ValidationFailed(name, f"must be one of {allowed}")


def page_request(request: Request) -> PageRequest:
    raw = query_str(request, "limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        if not raw.isascii() or not raw.isdigit():
            raise ValidationFailed("limit", f"must be an integer between 1 and {MAX_LIMIT}")
        # Bounded before int() so a thousand-digit value costs nothing.
        limit = int(raw) if len(raw) <= len(str(MAX_LIMIT)) else MAX_LIMIT + 1
    return PageRequest(limit=limit, starting_after=query_str(request, "starting_after"))
