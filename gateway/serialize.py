"""Dict views for the routes still built without schemas (see `gateway.schemas` for the rest)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from domain.shared.pagination import Page

T = TypeVar("T")

View = dict[str, Any]


def page_view(page: Page[T], view: Callable[[T], View]) -> View:
    return {"data": [view(item) for item in page.items], "has_more": page.has_more}


def list_view(items: Sequence[T], has_more: bool, view: Callable[[T], View]) -> View:
    return {"data": [view(item) for item in items], "has_more": has_more}
