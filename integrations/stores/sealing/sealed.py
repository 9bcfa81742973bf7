"""A `DocumentStore` that seals secrets on their way in and opens them on their way out.

It wraps any backend (SQLite, MongoDB, the in-memory fake), so the repositories and the
domain above it see secrets in clear and the backend below it never does. The secrets are a
connection's webhook secrets and provider API key, an endpoint's signing secrets, and the
answer an idempotency key keeps (the answer to creating an endpoint or rotating its secret
shows the secret).

Every write of one of those documents seals all its secrets with the keyring's first key and
records that key's id in the document (`sealed_with`); with no key configured the secrets
are written in clear and `sealed_with` is null. A read opens the values of a document whose
`sealed_with` is set, and leaves a document without one as it is: documents written before a
key was configured still read, and are re-sealed over time (`integrations.stores.sealing.resealing`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Final

from integrations.stores import idempotency
from integrations.stores.collection import CONNECTIONS, ENDPOINTS
from integrations.stores.documents import (
    Document,
    DocumentSession,
    DocumentStore,
    Filter,
    ForwardingSession,
    IndexSpec,
    Scalar,
)
from integrations.stores.sealing.keyring import Keyring, SecretUnreadable

SEALED_WITH: Final = "sealed_with"

_Change = Callable[[str], str]


def _connection(doc: Document, change: _Change) -> Document:
    sealed = {**doc, "webhook_secrets": [change(secret) for secret in doc.get("webhook_secrets") or ()]}
    if doc.get("api_key") is not None:
        sealed["api_key"] = change(doc["api_key"])
    return sealed


def _endpoint(doc: Document, change: _Change) -> Document:
    secrets = [{**secret, "value": change(secret["value"])} for secret in doc.get("secrets") or ()]
    return {**doc, "secrets": secrets}


def _idempotency_key(doc: Document, change: _Change) -> Document:
    body = doc.get("response_body")
    return {**doc, "response_body": None if body is None else change(body)}


# Each collection that holds secrets: how to change every secret of one of its documents (into
# a new document: the caller's stays as it was), and the fields that hold them.
_SECRETS: Final[Mapping[str, tuple[Callable[[Document, _Change], Document], frozenset[str]]]] = {
    CONNECTIONS.name: (_connection, frozenset({"webhook_secrets", "api_key"})),
    ENDPOINTS.name: (_endpoint, frozenset({"secrets"})),
    idempotency.COLLECTION: (_idempotency_key, frozenset({"response_body"})),
}
SEALED_COLLECTIONS: Final = tuple(_SECRETS)


class SealedStore:
    """`DocumentStore` over `inner`, sealing with `keyring` (see the module docstring)."""

    def __init__(self, inner: DocumentStore, keyring: Keyring) -> None:
        self.inner = inner
        self.keyring = keyring

    def session(self) -> AbstractAsyncContextManager[DocumentSession]:
        return _SealedScope(self.inner.session(), self.keyring)

    async def migrate(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        await self.inner.migrate(collections)

    async def collections(self) -> frozenset[str]:
        return await self.inner.collections()

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


class _SealedScope(AbstractAsyncContextManager[DocumentSession]):
    """The inner store's session scope, handing out a sealing session (a class, not a generator:
    every unit of work opens one)."""

    __slots__ = ("_keyring", "_scope")

    def __init__(self, scope: AbstractAsyncContextManager[DocumentSession], keyring: Keyring) -> None:
        self._scope = scope
        self._keyring = keyring

    async def __aenter__(self) -> DocumentSession:
        return SealedSession(await self._scope.__aenter__(), self._keyring)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool | None:
        return await self._scope.__aexit__(kind, error, trace)


class SealedSession(ForwardingSession):
    __slots__ = ("_keyring",)

    def __init__(self, inner: DocumentSession, keyring: Keyring) -> None:
        super().__init__(inner)
        self._keyring = keyring

    def _sealed(self, collection: str, doc: Document) -> Document:
        found = _SECRETS.get(collection)
        if found is None:
            return doc
        current = self._keyring.current
        if current is None:
            return {**doc, SEALED_WITH: None}
        sealed = found[0](doc, self._keyring.seal)
        sealed[SEALED_WITH] = current
        return sealed

    def _opened(self, collection: str, doc: Document) -> Document:
        found = _SECRETS.get(collection)
        if found is None or doc.get(SEALED_WITH) is None:
            return doc  # no secrets here, or kept in clear
        keyring = self._keyring
        try:
            return found[0](doc, keyring.open)
        except SecretUnreadable:
            # Once more, naming the document in the error: only on this path, off the hot one.
            where = f"{collection} {doc.get('id')}"
            return found[0](doc, lambda stored: keyring.open(stored, where))

    async def insert(self, collection: str, doc: Document) -> None:
        await self._inner.insert(collection, self._sealed(collection, doc))

    async def get(self, collection: str, doc_id: str) -> Document | None:
        found = await self._inner.get(collection, doc_id)
        return None if found is None else self._opened(collection, found)

    def _read(self, collection: str, docs: list[Document]) -> list[Document]:
        if collection not in _SECRETS:
            return docs
        return [self._opened(collection, doc) for doc in docs]

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        await self._inner.replace(collection, self._sealed(collection, doc), expected_version)

    async def claim(
        self, collection: str, where: Filter, *, order_by: str, limit: int, assign: Mapping[str, Scalar]
    ) -> list[Document]:
        self._refuse_secrets(collection, assign)
        return await super().claim(collection, where, order_by=order_by, limit=limit, assign=assign)

    async def update_where(self, collection: str, where: Filter, assign: Mapping[str, Scalar]) -> int:
        self._refuse_secrets(collection, assign)
        return await self._inner.update_where(collection, where, assign)

    @staticmethod
    def _refuse_secrets(collection: str, assign: Mapping[str, Scalar]) -> None:
        """Assignments go to the backend as they are: never a secret, nor the key that sealed them."""
        found = _SECRETS.get(collection)
        if found is not None and (touched := (found[1] | {SEALED_WITH}) & assign.keys()):
            raise ValueError(f"{collection}: {', '.join(sorted(touched))} cannot be assigned in bulk")
