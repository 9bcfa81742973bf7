"""Cursor pagination shared by every list operation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from domain.shared.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    # Newest first (ids descending; `starting_after` then names the last, oldest, item shown).
    newest_first: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValidationFailed("limit", f"must be between 1 and {MAX_LIMIT}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    has_more: bool


def page_from_overfetch(rows: list[T], limit: int) -> Page[T]:
    """Repositories fetch limit + 1 rows; the extra row only tells whether more exist."""
    return Page(items=tuple(rows[:limit]), has_more=len(rows) > limit)
