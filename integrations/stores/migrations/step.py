"""One forward-only migration step: what it adds to the declared schema, and what it rewrites."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from integrations.stores.documents import DocumentStore

Rewrite = Callable[[DocumentStore, datetime], Awaitable[int]]
"""Brings the stored documents to the step's shape on the raw backend (secrets stay sealed as
they are), at the migration's time; returns how many it changed. It must be idempotent: a step
cut short (a crash, a lost lock) is run again from the start by the next `subgate migrate`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """Step `number` (the schema version a store has once it ran) and what it brings.

    `collections` and `indexes` name what the step added to `integrations.stores.schema`
    (every migration creates the whole declared schema first, idempotently, so naming them
    is all an index-only step does); `rewrite`, when given, then changes stored documents.
    """

    number: int
    name: str
    collections: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()
    rewrite: Rewrite | None = None

    @property
    def title(self) -> str:
        return f"{self.number} ({self.name})"
