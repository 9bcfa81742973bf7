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


def optional_int(data: Mapping[str, Any], name: str) -> int | None:
    """An integer (not a boolean, not a float), or None when absent or null."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(name, "must be an integer")
    return value


def required_int(data: Mapping[str, Any], name: str) -> int:
    value = optional_int(data, name)
    if value is None:
        raise ValidationFailed(name, "is required")
    return value


def optional_bool(data: Mapping[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ValidationFailed(name, "must be true or false")
    return value


def str_map(data: Mapping[str, Any], name: str, max_length: int = MAX_ID_LENGTH) -> dict[str, str]:
    """An object of strings (`{"stripe": "price_..."}`); empty when absent or null."""
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise ValidationFailed(name, "must be an object of strings")
    if len(value) > MAX_LIST_LENGTH:
        raise ValidationFailed(name, f"must have at most {MAX_LIST_LENGTH} entries")
    for key, item in value.items():
        if len(item) > max_length:
            raise ValidationFailed(f"{name}.{key}", f"must be at most {max_length} characters")
    return dict(value)


def query_bool(request: Request, name: str) -> bool | None:
    value = query_str(request, name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise ValidationFailed(name, "must be true or false")
    return value == "true"
