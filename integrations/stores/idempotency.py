"""Idempotency keys in the store: who holds a merchant's key, and the answer it produced.

One document per (merchant, key), unique on that pair. A request that finds no usable
document takes the key (`in_progress`, with a lease); when it finishes, the answer is
kept (`completed`) and replayed to every request with the same key and the same
fingerprint until the record expires. A request that failed on our side (5xx, or an
exception) gives the key back (`released`), so the client's retry runs afresh; so does
an `in_progress` record whose lease ran out (its process died mid-request).

Every unit of work of the request that writes to the store also marks the record
`applied`, in the unit's own transaction (`StoreTxn` does it while the request holds the
key, see `holding`): the request's effect and the mark commit together or not at all. The
answer is kept right after, in a write of its own; a process that dies between the two
leaves an `applied` record without an answer, and a retry with the key is refused (409
`idempotency_answer_lost`) instead of running the request a second time. The mark is a
compare-and-set on the record's version, so a request whose lease ran out and whose key
another request took over cannot write at all.

Expired records are never read as answers; the next request with that key takes the
record over. The `expires_at` index lets an operator (or a later sweep) find them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from domain.shared.clock import Clock
from domain.shared.errors import Conflict
from domain.shared.ids import new_id
from integrations.stores.codecs import iso, parse_time
from integrations.stores.documents import (
    Document,
    DocumentSession,
    DocumentStore,
    DuplicateDocument,
    VersionMismatch,
)

COLLECTION: Final = "idempotency_keys"  # its indexes: integrations.stores.schema
# How long an answer is replayed, counted from the first request.
REPLAY_WINDOW: Final = timedelta(hours=24)
# How long a request may hold its key. Far longer than any request of the API takes; after it,
# the holder is taken for dead (a crashed process) and the next request with the key runs.
LEASE: Final = timedelta(seconds=90)
# A begin that lost an insert or compare-and-set race reads the winner's record once more.
_ATTEMPTS: Final = 3


class RecordState(StrEnum):
    IN_PROGRESS = "in_progress"
    APPLIED = "applied"  # the request's writes committed; its answer not kept yet
    COMPLETED = "completed"
    RELEASED = "released"


class Refused(StrEnum):
    """Why a request may neither run nor be answered from the record."""

    IN_PROGRESS = "in_progress"  # another request holds the key right now
    OTHER_REQUEST = "other_request"  # the key was used for another method, path or body
    ANSWER_LOST = "answer_lost"  # the request wrote, then its process died before the answer was kept


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyedRequest:
    merchant_id: str
    key: str
    fingerprint: str  # what makes two requests "the same": method, path, query and body


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedResponse:
    status: int
    content_type: str | None
    body: bytes


@dataclass(slots=True, kw_only=True)
class Started:
    """The caller holds the key: it runs the request, then completes or releases.

    `version` is the record's as this request last wrote it (each unit of work that marks
    the record `applied` moves it on)."""

    record_id: str
    version: int
    merchant_id: str = ""
    key: str = ""


class KeyTakenOver(Conflict):
    """The request's lease on its key ran out and another request took the key over: the
    unit of work that would have written is rolled back."""

    def __init__(self) -> None:
        super().__init__(
            "another request with this Idempotency-Key took it over while this one ran "
            "(it ran longer than the key's lease); nothing was written"
        )


_HELD: ContextVar[Started | None] = ContextVar("subgate_idempotency_key_held", default=None)


@contextmanager
def holding(started: Started) -> Iterator[None]:
    """While the block runs (the request, in this task and the tasks it starts), every unit of
    work that writes marks `started`'s record in its own transaction (see `mark_applied`)."""
    token = _HELD.set(started)
    try:
        yield
    finally:
        _HELD.reset(token)


def held() -> Started | None:
    return _HELD.get()


async def mark_applied(session: DocumentSession, started: Started) -> None:
    """In the unit of work's session: the record becomes `applied`, by compare-and-set on the
    version this request left it at (KeyTakenOver when another request holds it now)."""
    changed = await session.update_where(
        COLLECTION,
        {"merchant_id": started.merchant_id, "key": started.key, "version": started.version},
        {"state": RecordState.APPLIED.value},
    )
    if changed != 1:
        raise KeyTakenOver


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    response: SavedResponse


Begun = Started | Replay | Refused


def _response_fields(response: SavedResponse | None) -> Document:
    if response is None:
        return {"response_status": None, "response_content_type": None, "response_body": None}
    return {
        "response_status": response.status,
        "response_content_type": response.content_type,
        # base64: the store holds JSON-compatible values, and an answer need not be text.
        "response_body": base64.b64encode(response.body).decode("ascii"),
    }


def _saved_response(doc: Document) -> SavedResponse:
    return SavedResponse(
        status=int(doc["response_status"]),
        content_type=doc["response_content_type"],
        body=base64.b64decode(doc["response_body"]),
    )


class StoredIdempotencyKeys:
    """The gateway's `IdempotencyKeys` port on a `DocumentStore` (SQLite, MongoDB, in memory)."""

    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        *,
        window: timedelta = REPLAY_WINDOW,
        lease: timedelta = LEASE,
    ) -> None:
        self._store = store
        self._clock = clock
        self._window = window
        self._lease = lease

    async def begin(self, request: KeyedRequest) -> Begun:
        """Take the key, or say what the earlier request with it decides."""
        for _ in range(_ATTEMPTS):
            try:
                return await self._try_begin(request)
            except (DuplicateDocument, VersionMismatch):
                # Another request took the key between our read and our write (a unique-index
                # clash or a lost compare-and-set): its record now answers, so read it again.
                continue
        return Refused.IN_PROGRESS

    async def complete(self, started: Started, response: SavedResponse) -> bool:
        """Keep the answer for replays; False when the key was lost meanwhile (lease ran out)."""
        return await self._finish(started, RecordState.COMPLETED, response)

    async def release(self, started: Started) -> bool:
        """Give the key back without an answer: the next request with it runs afresh."""
        return await self._finish(started, RecordState.RELEASED, None)

    async def _try_begin(self, request: KeyedRequest) -> Begun:
        now = self._clock()
        async with self._store.session() as session:
            found = await session.find(
                COLLECTION, {"merchant_id": request.merchant_id, "key": request.key}, limit=1
            )
            if not found:
                doc = self._taken(request, now, {"id": new_id("idk"), "version": 0})
                await session.insert(COLLECTION, doc)
                return Started(
                    record_id=doc["id"], version=0, merchant_id=request.merchant_id, key=request.key
                )
            current = found[0]
            decided = self._decide(current, request, now)
            if decided is not None:
                return decided
            version = int(current["version"])
            taken = self._taken(request, now, {"id": current["id"], "version": version + 1})
            await session.replace(COLLECTION, taken, version)
            return Started(
                record_id=taken["id"], version=version + 1, merchant_id=request.merchant_id, key=request.key
            )

    def _decide(self, doc: Document, request: KeyedRequest, now: datetime) -> Begun | None:
        """The earlier request's verdict, or None when the record is free to take over."""
        state = RecordState(doc["state"])
        if parse_time(doc["expires_at"]) <= now or state == RecordState.RELEASED:
            return None
        if state == RecordState.IN_PROGRESS and parse_time(doc["locked_until"]) <= now:
            return None  # its holder died mid-request, before writing anything
        if doc["fingerprint"] != request.fingerprint:
            return Refused.OTHER_REQUEST
        if state == RecordState.IN_PROGRESS:
            return Refused.IN_PROGRESS
        if state == RecordState.APPLIED:
            # Its request wrote: still running while the lease holds, else it died before
            # its answer was kept. Either way it must not run again.
            still_running = parse_time(doc["locked_until"]) > now
            return Refused.IN_PROGRESS if still_running else Refused.ANSWER_LOST
        return Replay(response=_saved_response(doc))

    def _taken(self, request: KeyedRequest, now: datetime, identity: Document) -> Document:
        return {
            **identity,
            "merchant_id": request.merchant_id,
            "key": request.key,
            "fingerprint": request.fingerprint,
            "state": RecordState.IN_PROGRESS.value,
            "created_at": iso(now),
            "expires_at": iso(now + self._window),
            "locked_until": iso(now + self._lease),
            **_response_fields(None),
        }

    async def _finish(self, started: Started, state: RecordState, response: SavedResponse | None) -> bool:
        try:
            async with self._store.session() as session:
                doc = await session.get(COLLECTION, started.record_id)
                if doc is None:
                    return False
                finished = {
                    **doc,
                    "state": state.value,
                    "locked_until": None,
                    "version": started.version + 1,
                    **_response_fields(response),
                }
                await session.replace(COLLECTION, finished, started.version)
        except VersionMismatch:
            return False
        return True
