"""`DocumentStore` on MongoDB through `pymongo.AsyncMongoClient`.

Each document is stored as-is plus ``_id`` = its ``id`` (``_id`` is removed
again on the way out). Point lookups (`get`, `replace`) go through ``_id``.
Secondary indexes name the stored ``id`` field instead: the nx-27017
stand-in accepts an index that lists ``_id`` but then fails every insert, and
the two fields always hold the same value anyway. `find` uses ``_id`` when
the query is about ids alone (the built-in index serves it) and ``id`` when
other fields are involved (so compound indexes ending in ``id`` serve it).

Transactions: a session is a real multi-document transaction only where the
server has them (replica set or mongos, detected once with ``hello``). On a
standalone server the operations simply run one by one; correctness then
rests on what every caller relies on anyway - unique indexes and the
version compare-and-set in `replace` - and a failed block may leave its
earlier writes behind.

Portability rule for callers: after an operation inside a session raised
(DuplicateDocument, VersionMismatch, StorageError), end the session. A real
MongoDB transaction is aborted by the server at that point, so carrying on
could not commit anything.

The client connects lazily (on the first operation); `close()` is idempotent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, Final, Unpack

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    CollectionInvalid,
    DuplicateKeyError,
    InvalidURI,
    OperationFailure,
    PyMongoError,
)

from integrations.stores.documents import (
    Condition,
    Document,
    DocumentSession,
    DuplicateDocument,
    Filter,
    FindOptions,
    Gt,
    In,
    IndexSpec,
    Lte,
    Scalar,
    StorageError,
    VersionMismatch,
    check_assignable,
    checked_name,
    range_value,
)

__all__ = ["DEFAULT_DATABASE", "MongoStore"]

DEFAULT_DATABASE: Final = "subgate"

# Server error codes (see MongoDB's error_codes.yml).
_WRITE_CONFLICT: Final = 112
_NAMESPACE_EXISTS: Final = 48
_INDEX_OPTIONS_CONFLICT: Final = 85
_CLAIM_ROUNDS: Final = 4

MongoDoc = dict[str, Any]


def _condition(field: str, condition: Condition) -> MongoDoc:
    if isinstance(condition, In):
        return {"$in": list(condition.values)}
    if isinstance(condition, Lte | Gt):
        return {"$lte" if isinstance(condition, Lte) else "$gt": range_value(field, condition)}
    # $eq null also matches a missing field, like json_extract's NULL on SQLite.
    return {"$eq": condition}


def _find_spec(
    where: Filter, after_id: str | None = None, order_by: str = "id", *, descending: bool = False
) -> tuple[MongoDoc, list[tuple[str, int]]]:
    """The filter and sort behind `find`."""
    for name in (*where, order_by):
        checked_name(name, "field")
    id_key = "_id" if order_by == "id" and all(name == "id" for name in where) else "id"

    def key(name: str) -> str:
        return id_key if name == "id" else name

    clauses = [(key(name), _condition(name, condition)) for name, condition in where.items()]
    if after_id is not None:
        clauses.append((id_key, {"$lt" if descending else "$gt": after_id}))
    fields = [name for name, _ in clauses]
    if len(set(fields)) == len(fields):
        query: MongoDoc = dict(clauses)
    else:
        # Two conditions on one field (e.g. an id range and after_id) cannot share a dict key.
        query = {"$and": [{name: condition} for name, condition in clauses]}
    way = DESCENDING if descending else ASCENDING
    sort = [(id_key, way)] if order_by == "id" else [(order_by, way), (id_key, way)]
    return query, sort


def _assignment(assign: Mapping[str, Scalar]) -> MongoDoc:
    check_assignable(assign)
    return dict(assign)


def _document_id(doc: Document) -> str:
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        raise ValueError(f"document needs a non-empty string 'id', got {doc_id!r}")
    return doc_id


def _to_mongo(doc: Document) -> MongoDoc:
    # A copy, so the caller's dict never gains an `_id`.
    stored = dict(doc)
    stored["_id"] = _document_id(doc)
    return stored


def _from_mongo(stored: MongoDoc) -> Document:
    stored.pop("_id", None)
    return stored


@contextmanager
def _translated(action: str, conflict: type[Exception] | None = None) -> Iterator[None]:
    try:
        yield
    except DuplicateKeyError as exc:
        raise DuplicateDocument(str(exc)) from exc
    except OperationFailure as exc:
        if conflict is not None and exc.code == _WRITE_CONFLICT:
            # Inside a transaction, a concurrent transaction that already wrote
            # the same document or unique key makes the server fail this write
            # at once: for an insert that is a duplicate, for a replace a lost race.
            raise conflict(f"mongo {action} lost a write conflict: {exc}") from exc
        raise StorageError(f"mongo {action} failed: {exc}") from exc
    except PyMongoError as exc:
        # ConnectionFailure, ServerSelectionTimeoutError, AutoReconnect,
        # NetworkTimeout and friends: nothing can be assumed written.
        raise StorageError(f"mongo {action} failed: {exc}") from exc


class _MongoSession:
    def __init__(self, db: AsyncDatabase[MongoDoc], session: AsyncClientSession | None) -> None:
        self._db = db
        self._session = session
        self._open = True

    def finish(self) -> None:
        self._open = False

    def _collection(self, name: str) -> AsyncCollection[MongoDoc]:
        if not self._open:
            raise RuntimeError("document session used after its transaction ended")
        return self._db[checked_name(name, "collection")]

    async def insert(self, collection: str, doc: Document) -> None:
        target = self._collection(collection)
        stored = _to_mongo(doc)
        with _translated("insert", conflict=DuplicateDocument):
            await target.insert_one(stored, session=self._session)

    async def get(self, collection: str, doc_id: str) -> Document | None:
        target = self._collection(collection)
        with _translated("get"):
            found = await target.find_one({"_id": doc_id}, session=self._session)
        return None if found is None else _from_mongo(found)

    async def find(
        self, collection: str, where: Filter, *, limit: int, **options: Unpack[FindOptions]
    ) -> list[Document]:
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        target = self._collection(collection)
        query, sort = _find_spec(where, **options)
        if limit == 0:
            # MongoDB reads limit 0 as "no limit".
            return []
        with _translated("find"):
            cursor = target.find(query, sort=sort, limit=limit, session=self._session)
            async with cursor:
                found = await cursor.to_list()
        return [_from_mongo(doc) for doc in found]

    async def count(self, collection: str, where: Filter) -> int:
        target = self._collection(collection)
        query, _ = _find_spec(where, None, "id")
        with _translated("count"):
            return await target.count_documents(query, session=self._session)

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        target = self._collection(collection)
        stored = _to_mongo(doc)
        if doc.get("version") != expected_version + 1:
            raise ValueError(
                f"replacement must carry version {expected_version + 1}, got {doc.get('version')!r}"
            )
        with _translated("replace", conflict=VersionMismatch):
            result = await target.replace_one(
                {"_id": stored["_id"], "version": expected_version}, stored, session=self._session
            )
        if result.matched_count == 0:
            raise VersionMismatch(f"{collection}/{stored['_id']}: stored version is not {expected_version}")

    async def claim(
        self, collection: str, where: Filter, *, order_by: str, limit: int, assign: Mapping[str, Scalar]
    ) -> list[Document]:
        # MongoDB cannot change "the first n matches" in one atomic step, so each candidate is
        # taken by compare-and-set on its version: of two racing claims, one wins each document.
        change = {"$set": _assignment(assign), "$inc": {"version": 1}}
        target = self._collection(collection)
        taken: list[Document] = []
        # A candidate lost to a concurrent claim no longer matches (its lease changed it), so
        # looking again finds the next ones; a few rounds bound the work under contention.
        for _ in range(_CLAIM_ROUNDS):
            candidates = await self.find(collection, where, limit=limit - len(taken), order_by=order_by)
            for candidate in candidates:
                try:
                    with _translated("claim", conflict=VersionMismatch):
                        found = await target.find_one_and_update(
                            {"_id": candidate["id"], "version": candidate["version"]},
                            change,
                            return_document=ReturnDocument.AFTER,
                            session=self._session,
                        )
                except VersionMismatch:
                    found = None  # a concurrent transaction took it first
                if found is not None:
                    taken.append(_from_mongo(found))
            if not candidates or len(taken) >= limit:
                break
        return taken

    async def delete_where(self, collection: str, where: Filter, *, order_by: str = "id", limit: int) -> int:
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        target = self._collection(collection)
        query, sort = _find_spec(where, None, order_by)
        if limit == 0:
            return 0  # MongoDB reads limit 0 as "no limit"
        with _translated("delete"):
            cursor = target.find(query, projection={"_id": 1}, sort=sort, limit=limit, session=self._session)
            async with cursor:
                picked = [doc["_id"] for doc in await cursor.to_list()]
            if not picked:
                return 0
            # The condition again: a document changed since it was picked, so that it no longer
            # matches, stays (one statement, checked per document as it is removed).
            result = await target.delete_many(
                {"$and": [{"_id": {"$in": picked}}, query]}, session=self._session
            )
        return result.deleted_count

    async def update_where(self, collection: str, where: Filter, assign: Mapping[str, Scalar]) -> int:
        target = self._collection(collection)
        query, _ = _find_spec(where, None, "id")
        with _translated("update"):
            result = await target.update_many(
                query, {"$set": _assignment(assign), "$inc": {"version": 1}}, session=self._session
            )
        return result.modified_count


class MongoStore:
    """`DocumentStore` on the database named in `url` (default ``subgate``)."""

    def __init__(self, url: str, *, server_selection_timeout_ms: int = 5000) -> None:
        try:
            self._client: AsyncMongoClient[MongoDoc] = AsyncMongoClient(
                url,
                serverSelectionTimeoutMS=server_selection_timeout_ms,
                # Without this a dead server is only noticed after the OS's
                # much longer TCP connect timeout.
                connectTimeoutMS=server_selection_timeout_ms,
            )
        except InvalidURI as exc:
            raise ValueError(f"invalid MongoDB URL: {exc}") from exc
        self._db: AsyncDatabase[MongoDoc] = self._client.get_default_database(default=DEFAULT_DATABASE)
        self._transactions: bool | None = None
        self._closed = False

    async def supports_transactions(self) -> bool:
        """Whether sessions are real transactions here (asked once, then cached)."""
        if self._transactions is None:
            with _translated("hello"):
                reply = await self._client.admin.command("hello")
            # Only replica-set members and mongos routers run transactions.
            self._transactions = "setName" in reply or reply.get("msg") == "isdbgrid"
        return self._transactions

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("mongo store is closed")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[DocumentSession]:
        self._check_open()
        if not await self.supports_transactions():
            plain = _MongoSession(self._db, None)
            try:
                yield plain
            finally:
                plain.finish()
            return
        client_session = self._client.start_session()
        try:
            with _translated("start transaction"):
                await client_session.start_transaction()
            session = _MongoSession(self._db, client_session)
            try:
                yield session
            except BaseException:
                session.finish()
                # The caller's exception matters more; the server also aborts a
                # transaction whose session goes away.
                with suppress(PyMongoError):
                    await client_session.abort_transaction()
                raise
            session.finish()
            with _translated("commit"):
                await client_session.commit_transaction()
        finally:
            await client_session.end_session()

    async def migrate(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        self._check_open()
        plans: list[tuple[str, list[tuple[list[tuple[str, int]], IndexSpec]]]] = []
        for collection, specs in collections.items():
            indexes = []
            for spec in specs:
                checked_name(spec.name, "index")
                if not spec.fields:
                    raise ValueError(f"index {spec.name!r} has no fields")
                for name in spec.fields:
                    checked_name(name, "field")
                indexes.append(([(name, ASCENDING) for name in spec.fields], spec))
            plans.append((checked_name(collection, "collection"), indexes))
        with _translated("migrate"):
            existing = set(await self._db.list_collection_names())
        for collection, indexes in plans:
            if collection not in existing:
                await self._create_collection(collection)
            for keys, spec in indexes:
                await self._create_index(collection, keys, spec)

    async def _create_index(self, collection: str, keys: list[tuple[str, int]], spec: IndexSpec) -> None:
        # `sparse` is left to the backends that index only set values; the index is whole here.
        try:
            with _translated(f"migrate (index {spec.name})"):
                # Never looked up by name later: some servers rename indexes.
                await self._db[collection].create_index(keys, name=spec.name, unique=spec.unique)
        except StorageError as error:
            cause = error.__cause__
            if not isinstance(cause, OperationFailure) or cause.code != _INDEX_OPTIONS_CONFLICT:
                raise
            # The same fields are indexed under a name an earlier declaration gave them: kept.

    async def _create_collection(self, name: str) -> None:
        try:
            await self._db.create_collection(name)
        except CollectionInvalid:
            pass  # pymongo saw it in listCollections: another migrate got there first
        except OperationFailure as exc:
            if exc.code != _NAMESPACE_EXISTS:
                raise StorageError(f"mongo migrate (collection {name}) failed: {exc}") from exc
        except PyMongoError as exc:
            raise StorageError(f"mongo migrate (collection {name}) failed: {exc}") from exc

    async def collections(self) -> frozenset[str]:
        self._check_open()
        with _translated("list collections"):
            return frozenset(await self._db.list_collection_names())

    async def ping(self) -> None:
        self._check_open()
        with _translated("ping"):
            await self._client.admin.command("ping")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _translated("close"):
            await self._client.close()
