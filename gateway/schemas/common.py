"""Shapes every resource shares: the error body, list pages and their query parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

from msgspec import Meta, Struct

from domain.shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page as DomainPage, PageRequest

T = TypeVar("T")
V = TypeVar("V")

MAX_ID_LENGTH = 255
MAX_TEXT_LENGTH = 1000
MAX_LIST_LENGTH = 100

Id = Annotated[str, Meta(max_length=MAX_ID_LENGTH)]
Text = Annotated[str, Meta(max_length=MAX_TEXT_LENGTH)]


class ErrorDetail(Struct, frozen=True, kw_only=True):
    type: Annotated[str, Meta(description="Machine-readable: `validation_error`, `not_found`, `conflict`...")]
    message: Annotated[str, Meta(description="What went wrong, for people; names the field at fault.")]


class ErrorBody(Struct, frozen=True, kw_only=True):
    """The one shape of every error answer."""

    error: ErrorDetail


class Page(Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list, oldest first; `has_more` says whether `starting_after` the last id finds more."""

    data: list[T]
    has_more: bool


def page_of(page: DomainPage[V], view: Callable[[V], T]) -> Page[T]:
    return Page(data=[view(item) for item in page.items], has_more=page.has_more)


class PageQuery(Struct, frozen=True, kw_only=True):
    """`?limit=&starting_after=`, taken by every list."""

    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT, description="Items per page.")] = DEFAULT_LIMIT
    starting_after: Annotated[Id, Meta(description="The last id of the previous page.")] | None = None

    def page(self) -> PageRequest:
        return PageRequest(limit=self.limit, starting_after=self.starting_after)


class Deleted(Struct, frozen=True, kw_only=True):
    id: str
    deleted: bool
