"""Compare-and-set writes of versioned documents, a lost race reported as the domain's conflict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, TypeVar

from domain.shared.errors import ConcurrencyConflict
from integrations.stores.documents import Document, DocumentSession, VersionMismatch


class Versioned(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)


async def replace_or_conflict(
    session: DocumentSession, collection: str, doc: Document, expected_version: int, entity: str
) -> None:
    """Store `doc` if the stored version is `expected_version`; ConcurrencyConflict otherwise."""
    try:
        await session.replace(collection, doc, expected_version)
    except VersionMismatch:
        raise ConcurrencyConflict(entity, str(doc["id"])) from None


async def bumped(
    session: DocumentSession, collection: str, to_doc: Callable[[V], Document], value: V, entity: str
) -> V:
    """`value` stored with version + 1 if the stored version is value.version; the stored value."""
    new = replace(value, version=value.version + 1)  # type: ignore[type-var]
    await replace_or_conflict(session, collection, to_doc(new), value.version, entity)
    return new
