"""The low-level storage port both backends implement.

Documents are JSON-compatible dicts with a string `id` and an integer `version`.
Times are stored as fixed-width ISO 8601 UTC strings (see `codecs.iso`), so
range filters compare them correctly as strings in every backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypedDict, Unpack

Document = dict[str, Any]
Scalar = str | int | float | bool | None


class StorageError(Exception):
    """The store could not be reached or failed; nothing can be assumed written."""


class DuplicateDocument(Exception):
    """An insert hit the primary key or a unique index."""


class VersionMismatch(Exception):
    """A compare-and-set found another version than expected (or no document)."""


class UnreadableDocument(ValueError):
    """A stored document that cannot be read back as its value (not transient: reading it again
    gives the same answer). `reason` says which field and why, in msgspec's words."""

    def __init__(self, kind: str, doc_id: object, reason: str) -> None:
        super().__init__(f"stored {kind} {doc_id!r} cannot be read: {reason}")
        self.kind = kind
        self.doc_id = doc_id
        self.reason = reason


@dataclass(frozen=True, slots=True)
class In:
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Lte:
    value: Scalar


@dataclass(frozen=True, slots=True)
class Gt:
    value: Scalar


Condition = Scalar | In | Lte | Gt
Filter = Mapping[str, Condition]
"""Field name -> condition; all must hold. Only top-level fields can be filtered."""

# What a collection, field or index may be called, on every backend.
NAME: Final = re.compile(r"[a-z_][a-z0-9_]*")


def checked_name(name: str, what: str) -> str:
    """`name` itself if it matches `NAME`, else ValueError. SQLite interpolates names into SQL
    (tables, indexes, JSON paths) and MongoDB reads "$" and "." as operators, so both backends take
    only this boring, quote-free alphabet (and a name that works on one works on the other); values
    are always bound."""
    if not isinstance(name, str) or NAME.fullmatch(name) is None:
        raise ValueError(f"invalid {what} name {name!r}: must match {NAME.pattern}")
    return name


def range_value(field: str, condition: Lte | Gt) -> Scalar:
    """The value a range condition compares with; never null."""
    if condition.value is None:
        # Ordering against null differs between backends; refuse rather than diverge.
        raise ValueError(f"range condition on {field!r} needs a non-null value")
    return condition.value


def check_assignable(assign: Mapping[str, Scalar]) -> None:
    """Every field `update_where` or `claim` sets must be a valid name other than `id` and `version`
    (the store bumps the version itself)."""
    for name in assign:
        if checked_name(name, "field") in ("id", "version"):
            raise ValueError(f"{name!r} cannot be assigned")


@dataclass(frozen=True, slots=True)
class IndexSpec:
    name: str  # explicit: some servers rename auto-named indexes
    fields: tuple[str, ...]
    unique: bool = False
    # Only documents whose first field is set (not null) are indexed, where the backend can:
    # for a field most documents leave null, queried only by range or equality (which never
    # match null), so that writing those documents costs that index nothing.
    sparse: bool = False


class FindOptions(TypedDict, total=False):
    """How `find` orders and pages what it finds; each one left out has its default."""

    after_id: str | None  # default None: from the first document
    order_by: str  # default "id"
    descending: bool  # default False


class DocumentSession(Protocol):
    """Operations inside one transaction (or, where the server has none, one logical unit)."""

    async def insert(self, collection: str, doc: Document) -> None:
        """Raises DuplicateDocument on an id or unique-index clash."""
        ...

    async def get(self, collection: str, doc_id: str) -> Document | None: ...

    async def find(
        self, collection: str, where: Filter, *, limit: int, **options: Unpack[FindOptions]
    ) -> list[Document]:
        """Matching documents sorted ascending by `order_by` (then id), at most `limit`.

        `after_id` keeps only ids greater than it (cursor pagination; use with order_by="id").
        `descending` reverses the order, and `after_id` then keeps only ids smaller than it.
        """
        ...

    async def count(self, collection: str, where: Filter) -> int:
        """How many documents match `where`.

        Meant for filters an index serves (its leading fields): the backends count index
        entries then, without reading the documents.
        """
        ...

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        """Store `doc` (whose version must be expected_version + 1) if the stored version matches.

        Raises VersionMismatch otherwise.
        """
        ...

    async def claim(
        self, collection: str, where: Filter, *, order_by: str, limit: int, assign: Mapping[str, Scalar]
    ) -> list[Document]:
        """Take up to `limit` matching documents (ascending by `order_by`, then id) atomically.

        Each taken document gets the top-level `assign` fields and version + 1, and is
        returned as stored afterwards. A document is taken by one claim only: a concurrent
        claim (in this process or another) sees it changed and passes it over. This is how
        workers lease due work from the store, in batches.
        """
        ...

    async def update_where(self, collection: str, where: Filter, assign: Mapping[str, Scalar]) -> int:
        """Set the top-level `assign` fields on every matching document (version + 1 each).

        Returns how many documents changed.
        """
        ...

    async def delete_where(self, collection: str, where: Filter, *, order_by: str = "id", limit: int) -> int:
        """Remove up to `limit` matching documents, the first ones by `order_by` (then id).

        Returns how many were removed. The condition holds for each document at the moment it
        is removed: one that a concurrent write changed so that it no longer matches stays.
        Meant for filters whose equality fields and `order_by` lead an index, so that a batch
        reads no more than it removes (how retention purges, see `integrations.stores.retention`).
        """
        ...


class DocumentStore(Protocol):
    def session(self) -> AbstractAsyncContextManager[DocumentSession]:
        """A transaction: commits when the block exits normally, rolls back when it raises.

        Connection failures surface as StorageError.
        """
        ...

    async def migrate(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        """Create every collection and index; idempotent."""
        ...

    async def collections(self) -> frozenset[str]:
        """The names of the collections that exist (created by `migrate`, or by an earlier release)."""
        ...

    async def ping(self) -> None:
        """Raises StorageError when the store is unreachable."""
        ...

    async def close(self) -> None: ...


class ForwardingSession:
    """A `DocumentSession` that hands every operation to `inner`: a base for the ones that
    add something to some operations (note writes, seal secrets) and pass the rest on.

    `_read` sees the documents `find` and `claim` return, and may change them.
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: DocumentSession) -> None:
        self._inner = inner

    def _read(self, collection: str, docs: list[Document]) -> list[Document]:  # noqa: ARG002 - a hook: subclasses read by collection
        return docs

    async def insert(self, collection: str, doc: Document) -> None:
        await self._inner.insert(collection, doc)

    async def get(self, collection: str, doc_id: str) -> Document | None:
        return await self._inner.get(collection, doc_id)

    async def find(
        self, collection: str, where: Filter, *, limit: int, **options: Unpack[FindOptions]
    ) -> list[Document]:
        return self._read(collection, await self._inner.find(collection, where, limit=limit, **options))

    async def count(self, collection: str, where: Filter) -> int:
        return await self._inner.count(collection, where)

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        await self._inner.replace(collection, doc, expected_version)

    async def claim(
        self, collection: str, where: Filter, *, order_by: str, limit: int, assign: Mapping[str, Scalar]
    ) -> list[Document]:
        docs = await self._inner.claim(collection, where, order_by=order_by, limit=limit, assign=assign)
        return self._read(collection, docs)

    async def update_where(self, collection: str, where: Filter, assign: Mapping[str, Scalar]) -> int:
        return await self._inner.update_where(collection, where, assign)

    async def delete_where(self, collection: str, where: Filter, *, order_by: str = "id", limit: int) -> int:
        return await self._inner.delete_where(collection, where, order_by=order_by, limit=limit)
