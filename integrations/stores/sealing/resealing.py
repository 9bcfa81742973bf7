"""Keeping sealed secrets readable and current: the check at start, and re-sealing over time.

After a rotation (a new key first in `SUBGATE_SECRET_KEY`, the old ones after it), and after a
key is first configured over secrets kept in clear, the worker re-seals a few documents at a
time with the first key (`Resealer.step`); `subgate secrets reencrypt` does all of them at
once. Each document is written back by compare-and-set on its `version`, so a change made
meanwhile (a merchant rotating a connection's or an endpoint's secrets) is never overwritten:
the re-seal of that document loses instead, and that change was sealed with the first key.

The documents to re-seal are found by `sealed_with` (indexed): the id of an older key, or
null (kept in clear). A document sealed with a key that is not configured at all cannot be
opened; `check` finds such documents at start, so a missing key stops the process with a
message naming the setting instead of failing request after request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from domain.shared.clock import Clock
from integrations.stores import idempotency
from integrations.stores.codecs import parse_time
from integrations.stores.documents import Document, In, VersionMismatch
from integrations.stores.sealing.keyring import SecretUnreadable
from integrations.stores.sealing.keys import SETTING
from integrations.stores.sealing.sealed import SEALED_COLLECTIONS, SEALED_WITH, SealedStore

# Documents one step looks at: small, so that a step is a few milliseconds of the worker's time.
STEP_DOCUMENTS: Final = 50
# After a step that found nothing to re-seal, how long the next steps stay idle.
IDLE_AFTER_NOTHING: Final = timedelta(seconds=60)
_PAGE: Final = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Census:
    """How the documents of one collection that holds secrets are sealed."""

    collection: str
    current: int  # sealed with the first key
    older: int  # sealed with another configured key: re-sealed over time
    clear: int  # kept in clear (written while no key was configured)
    unreadable: int  # sealed with a key that is not configured


class Resealer:
    def __init__(
        self,
        store: SealedStore,
        clock: Clock,
        *,
        step_documents: int = STEP_DOCUMENTS,
        idle_after_nothing: timedelta = IDLE_AFTER_NOTHING,
    ) -> None:
        self._store = store
        self._keyring = store.keyring
        self._clock = clock
        self._step_documents = step_documents
        self._idle_after_nothing = idle_after_nothing
        self._idle_until: datetime | None = None

    async def check(self) -> None:
        """Raise SecretUnreadable, naming the setting, if a stored secret no configured key opens."""
        for census in await self.census():
            if census.unreadable <= 0:
                continue
            found = await self._unreadable_example(census.collection)
            if found is not None:
                example, key = found
                raise SecretUnreadable(
                    f"{self._keyring.source}: {census.unreadable} document(s) of {census.collection} hold "
                    f"secrets sealed with a key that is not configured (for example {example}, sealed "
                    f"with key {key}; configured: {', '.join(self._keyring.key_ids) or 'none'}). "
                    f"List the key that sealed them in {SETTING}, after the current one."
                )

    async def census(self) -> list[Census]:
        """How the documents of each collection that holds secrets are sealed (counts over an index).

        The counts are not one snapshot: a document written or re-sealed meanwhile can make
        `unreadable` too high (never too low: the total is counted last), which `check`
        confirms by finding such a document before it says so.
        """
        current = self._keyring.current
        found = []
        async with self._store.session() as session:
            for collection in SEALED_COLLECTIONS:
                first = 0 if current is None else await session.count(collection, {SEALED_WITH: current})
                older = 0
                if self._keyring.older:
                    older = await session.count(collection, {SEALED_WITH: In(self._keyring.older)})
                clear = await session.count(collection, {SEALED_WITH: None})
                total = await session.count(collection, {})
                found.append(
                    Census(
                        collection=collection,
                        current=first,
                        older=older,
                        clear=clear,
                        unreadable=total - first - older - clear,
                    )
                )
        return found

    async def step(self) -> int:
        """Re-seal a few documents with the first key; how many. Idle a while after finding none."""
        now = self._clock()
        if self._idle_until is not None and now < self._idle_until:
            return 0
        resealed, looked = await self._sweep(self._step_documents, now)
        self._idle_until = None if looked else now + self._idle_after_nothing
        return resealed

    async def reseal_all(self) -> int:
        """Re-seal every document not sealed with the first key; how many."""
        total = 0
        while True:
            resealed, _ = await self._sweep(None, self._clock())
            total += resealed
            if not resealed:
                return total

    async def reseal(self, collection: str, doc: Document, now: datetime) -> bool:
        """Write `doc` (as read, opened) back sealed with the first key, if it is still as read."""
        if _held(collection, doc, now):
            return False
        version = int(doc["version"])
        try:
            async with self._store.session() as session:
                await session.replace(collection, {**doc, "version": version + 1}, version)
        except VersionMismatch:
            return False  # written meanwhile, and so sealed with the first key by that write
        return True

    async def _sweep(self, budget: int | None, now: datetime) -> tuple[int, int]:
        """Re-seal stale documents, looking at up to `budget` of them (None: all); (re-sealed, looked at)."""
        if self._keyring.current is None:
            return 0, 0
        resealed = looked = 0
        for collection in SEALED_COLLECTIONS:
            for stale in (*self._keyring.older, None):
                after: str | None = None
                while budget is None or looked < budget:
                    page = _PAGE if budget is None else min(_PAGE, budget - looked)
                    stale_here = {SEALED_WITH: stale}
                    async with self._store.session() as session:
                        docs = await session.find(collection, stale_here, limit=page, after_id=after)
                    looked += len(docs)
                    for doc in docs:
                        resealed += await self.reseal(collection, doc, now)
                    if len(docs) < page:
                        break
                    after = docs[-1]["id"]
        return resealed, looked

    async def _unreadable_example(self, collection: str) -> tuple[str, str] | None:
        """A document of `collection` sealed with a key that is not configured, and that key's id."""
        readable = {*self._keyring.key_ids, None}
        after: str | None = None
        while True:
            # The backend's own session: reading through the sealed one would fail on that very document.
            async with self._store.inner.session() as session:
                docs = await session.find(collection, {}, limit=_PAGE, after_id=after)
            for doc in docs:
                if doc.get(SEALED_WITH) not in readable:
                    return str(doc["id"]), str(doc[SEALED_WITH])
            if len(docs) < _PAGE:
                return None
            after = docs[-1]["id"]


def _held(collection: str, doc: Document, now: datetime) -> bool:
    """An idempotency key its request still holds: that request writes it back soon (sealed with
    the first key), and would lose its answer if the record's version moved under it."""
    if collection != idempotency.COLLECTION or doc.get("state") != idempotency.RecordState.IN_PROGRESS:
        return False
    try:
        return parse_time(doc["locked_until"]) > now
    except (KeyError, TypeError, ValueError):
        return False
