"""Many units of work applied in memory, then written in one store transaction.

A worker applies a batch of inbound events this way instead of opening a transaction per event:

- reads come first from what the batch has read ahead (`read_ahead`: one query per collection
  for the whole batch), then from the store, one look-up at a time, outside any transaction;
- writes are kept in layers: each unit of work (`txn`) writes into its own layer on top of its
  event's, which sits on top of the batch's. A unit that raises leaves nothing behind, and an
  event whose units do not all succeed (`event(...)` ends with an exception) is dropped whole:
  what later units see is exactly what the finished events wrote;
- `commit` writes every kept write, in the order it was made, in one store session: the
  effects of every event of the batch (and their outbox messages) commit together, or none do.

The guarantees a store gives a unit of work still hold: an insert whose id is visible fails
with DuplicateDocument at once, a replace of a version other than the visible one fails with
VersionMismatch. Ids the batch never saw are checked by the store at `commit`: a clash there
(another process wrote meanwhile) raises `BatchConflict`, and the caller applies the events one
by one instead. Operations the layers cannot answer from memory (queries, claims, updates by
filter, writes of collections with unique indexes) raise `Unbatchable`: that event is applied
in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final, TypeVar

from domain.shared.clock import Clock, system_clock
from integrations.stores.documents import (
    Document,
    DocumentSession,
    DocumentStore,
    DuplicateDocument,
    Filter,
    In,
    Scalar,
    VersionMismatch,
)
from integrations.stores.repositories import StoreUnit
from integrations.stores.unreadable import SetAside

T = TypeVar("T")
_Key = tuple[str, str]

# What a subscription unit writes, none with a unique index besides its id.
BATCHABLE: Final = frozenset(
    {"subscriptions", "customers", "plans", "provider_links", "processed_inputs", "outbox"}
)


class Unbatchable(Exception):
    """An operation the batch cannot answer from memory: the event needs a transaction of its own."""


class BatchConflict(Exception):
    """The store refused the batch's writes (a clash with a write made meanwhile): nothing was written."""


@dataclass(frozen=True, slots=True)
class _Write:
    collection: str
    doc: Document
    expected: int | None  # None: an insert; otherwise the replaced version


class _Layer:
    """Documents written on top of `parent` (None: the batch's own reads, see `Batch`)."""

    def __init__(self, batch: Batch, parent: _Layer | None) -> None:
        self.batch = batch
        self.parent = parent
        self.docs: dict[_Key, Document] = {}
        self.writes: list[_Write] = []

    def visible(self, key: _Key) -> tuple[bool, Document | None]:
        """(whether the batch knows the document, the document or None when it does not exist)."""
        layer: _Layer | None = self
        while layer is not None:
            if key in layer.docs:
                return True, layer.docs[key]
            layer = layer.parent
        if key in self.batch.known:
            return True, self.batch.known[key]
        return False, None

    def keep(self) -> None:
        """Hand this layer's writes to its parent (the unit or event succeeded)."""
        if self.parent is None:
            raise RuntimeError("the batch's own layer has no parent")
        self.parent.docs.update(self.docs)
        self.parent.writes.extend(self.writes)


def _copy(doc: Document | None) -> Document | None:
    return None if doc is None else dict(doc)


def _batchable(collection: str) -> None:
    if collection not in BATCHABLE:
        raise Unbatchable(f"writes of {collection!r} are not batched")


class _LayerSession:
    """A `DocumentSession` over one layer: what the unit of work sees and writes."""

    def __init__(self, layer: _Layer) -> None:
        self._layer = layer

    async def _current(self, collection: str, doc_id: str) -> Document | None:
        known, doc = self._layer.visible((collection, doc_id))
        if known:
            return doc
        return await self._layer.batch.read(collection, doc_id)

    async def get(self, collection: str, doc_id: str) -> Document | None:
        return _copy(await self._current(collection, doc_id))

    async def insert(self, collection: str, doc: Document) -> None:
        _batchable(collection)
        key = (collection, str(doc["id"]))
        # An id the batch has not seen is checked by the store at commit (ids are new, mostly).
        known, current = self._layer.visible(key)
        if known and current is not None:
            raise DuplicateDocument(f"{collection}: id {key[1]!r} already exists")
        self._layer.docs[key] = dict(doc)
        self._layer.writes.append(_Write(collection, dict(doc), None))

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        _batchable(collection)
        if doc.get("version") != expected_version + 1:
            raise ValueError(f"replacement must carry version {expected_version + 1}")
        current = await self._current(collection, str(doc["id"]))
        if current is None or current.get("version") != expected_version:
            raise VersionMismatch(f"{collection}/{doc['id']}: stored version is not {expected_version}")
        self._layer.docs[(collection, str(doc["id"]))] = dict(doc)
        self._layer.writes.append(_Write(collection, dict(doc), expected_version))

    async def find(
        self,
        collection: str,
        where: Filter,  # noqa: ARG002 - the port's signature: refused whatever it asks
        *,
        limit: int,  # noqa: ARG002
        after_id: str | None = None,  # noqa: ARG002
        order_by: str = "id",  # noqa: ARG002
        descending: bool = False,  # noqa: ARG002
    ) -> list[Document]:
        raise Unbatchable(f"a query of {collection!r}")

    async def count(self, collection: str, where: Filter) -> int:  # noqa: ARG002 - as `find`
        raise Unbatchable(f"a count of {collection!r}")

    async def claim(
        self,
        collection: str,
        where: Filter,  # noqa: ARG002 - as `find`
        *,
        order_by: str,  # noqa: ARG002
        limit: int,  # noqa: ARG002
        assign: Mapping[str, Scalar],  # noqa: ARG002
    ) -> list[Document]:
        raise Unbatchable(f"a claim of {collection!r}")

    async def delete_where(
        self,
        collection: str,
        where: Filter,  # noqa: ARG002 - as `find`
        *,
        order_by: str = "id",  # noqa: ARG002
        limit: int,  # noqa: ARG002
    ) -> int:
        raise Unbatchable(f"a removal from {collection!r}")

    async def update_where(
        self,
        collection: str,
        where: Filter,  # noqa: ARG002 - as `find`
        assign: Mapping[str, Scalar],  # noqa: ARG002
    ) -> int:
        raise Unbatchable(f"an update of {collection!r} by filter")


class Batch:
    """One batch of units of work on `store` (see the module docstring)."""

    def __init__(self, store: DocumentStore, clock: Clock = system_clock) -> None:
        self._store = store
        self._clock = clock  # dates what the units write on their own (see `StoreUnit`)
        # What the batch read from the store: a document, or None for an id that does not exist.
        self.known: dict[_Key, Document | None] = {}
        self._root = _Layer(self, None)
        self._event: _Layer | None = None
        self.store_reads = 0  # look-ups and queries sent to the store (read-ahead included)

    async def read(self, collection: str, doc_id: str) -> Document | None:
        """A document the batch has not seen yet, from the store (and known from then on)."""
        self.store_reads += 1
        async with self._store.session() as session:
            doc = await session.get(collection, doc_id)
        self.known[(collection, doc_id)] = doc
        return doc

    async def read_ahead(self, collection: str, ids: Iterable[str]) -> list[Document]:
        """Read the documents of `ids` not known yet in one query; returns the ones found."""
        wanted = tuple(dict.fromkeys(i for i in ids if (collection, i) not in self.known))
        if not wanted:
            return []
        self.store_reads += 1
        async with self._store.session() as session:
            found = await session.find(collection, {"id": In(wanted)}, limit=len(wanted))
        for doc_id in wanted:
            self.known[(collection, doc_id)] = None
        for doc in found:
            self.known[(collection, str(doc["id"]))] = doc
        return found

    def known_doc(self, collection: str, doc_id: str) -> Document | None:
        return self.known.get((collection, doc_id))

    @asynccontextmanager
    async def event(self) -> AsyncIterator[None]:
        """The units run inside are kept only if the block ends without an exception."""
        if self._event is not None:
            raise RuntimeError("events of a batch do not nest")
        self._event = _Layer(self, self._root)
        try:
            yield
            self._event.keep()
        finally:
            self._event = None

    async def txn(self, work: Callable[[StoreUnit], Awaitable[T]], /) -> T:
        """A unit of work inside the current event: its writes are kept only if it returns."""
        if self._event is None:
            raise RuntimeError("a unit of a batch runs inside `event()`")
        layer = _Layer(self, self._event)
        result = await work(StoreUnit(_LayerSession(layer), SetAside(), self._clock))
        layer.keep()
        return result

    @property
    def pending(self) -> int:
        """How many writes `commit` would make."""
        return len(self._root.writes)

    async def commit(self) -> None:
        """Write what the finished events wrote, in order, in one store session."""
        writes, self._root.writes = self._root.writes, []
        if not writes:
            return
        try:
            async with self._store.session() as session:
                await _write_all(session, writes)
        except (DuplicateDocument, VersionMismatch) as clash:
            raise BatchConflict(str(clash)) from clash


async def _write_all(session: DocumentSession, writes: list[_Write]) -> None:
    for write in writes:
        if write.expected is None:
            await session.insert(write.collection, write.doc)
        else:
            await session.replace(write.collection, write.doc, write.expected)
