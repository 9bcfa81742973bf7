"""Reading a portal page's query string: list cursors, filters and times, each checked (422 if wrong)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, TypeVar

from starlette.requests import Request

from domain.shared.errors import ValidationFailed
from domain.shared.pagination import PageRequest

PAGE_SIZE: Final = 25
_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,255}")
# What `<input type="datetime-local">` sends, read as UTC (seconds optional).
_LOCAL_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")

E = TypeVar("E", bound=StrEnum)


def text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


def an_id(request: Request, name: str) -> str | None:
    value = text(request, name)
    if value is not None and _ID.fullmatch(value) is None:
        raise ValidationFailed(name, "not an id")
    return value


def newest_first(request: Request) -> PageRequest:
    """A page of PAGE_SIZE, newest first, after the `after` cursor (the last id shown)."""
    return PageRequest(limit=PAGE_SIZE, starting_after=an_id(request, "after"), newest_first=True)


def choice(request: Request, name: str, kind: type[E]) -> E | None:
    value = text(request, name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ValidationFailed(name, f"one of {', '.join(k.value for k in kind)}") from None


def status_filter(kind: type[E], chosen: E | None) -> dict[str, Any]:
    """A listing's status filter for its template: every status, and the chosen one (None: all)."""
    return {"statuses": [s.value for s in kind], "status": None if chosen is None else chosen.value}


def utc_time(request: Request, name: str) -> datetime | None:
    return parse_utc(text(request, name), name)


def parse_utc(value: str | None, name: str) -> datetime | None:
    """`YYYY-MM-DDTHH:MM[:SS]`, in UTC; years 1 to 9999."""
    if value is None:
        return None
    if _LOCAL_TIME.fullmatch(value) is None:
        raise ValidationFailed(name, "a time as YYYY-MM-DDTHH:MM, in UTC")
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed(name, "not a date and time that exists") from None
