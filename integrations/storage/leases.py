"""Which worker processes are alive, so that work leased by a dead one is handed back quickly.

Each worker writes a heartbeat document every second or so. Any worker that finds a
heartbeat older than the dead-after limit retires that worker (compare-and-set, so one
of several finders wins) and hands its leases back; without this, a killed worker's
work would wait for its leases to run out (a minute and more).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime, timedelta

from domain.shared.clock import Clock
from integrations.storage.codecs import iso
from integrations.storage.documents import DocumentStore, DuplicateDocument, Lte, VersionMismatch

COLLECTION = "workers"


class WorkerRegistry:
    def __init__(self, store: DocumentStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def beat(self, owner: str) -> bool:
        """Record that `owner` is alive now (registers it on first call).

        True when `owner` had been presumed dead (its heartbeat went stale while it could not
        write one: a store outage, a long pause) and is registered alive again. Its leases
        were handed back meanwhile: what it still works on may also run elsewhere.
        """
        now = iso(self._clock())
        async with self._store.session() as session:
            doc = await session.get(COLLECTION, owner)
            if doc is None:
                with suppress(DuplicateDocument):
                    await session.insert(
                        COLLECTION, {"id": owner, "version": 0, "alive": True, "heartbeat_at": now}
                    )
                return False
            # Still running, so alive again if it had been retired: otherwise nobody would hand
            # back what it leases from now on, should it die.
            beat = {**doc, "alive": True, "heartbeat_at": now, "version": doc["version"] + 1}
            beat.pop("retired_at", None)
            try:
                await session.replace(COLLECTION, beat, doc["version"])
            except VersionMismatch:
                return False  # retired (or beaten) at this very moment: the next beat settles it
        return not doc["alive"]

    async def alive(self, owner: str) -> bool:
        async with self._store.session() as session:
            doc = await session.get(COLLECTION, owner)
        return doc is not None and bool(doc["alive"])

    async def silent_since(self, cutoff: datetime, limit: int = 50) -> Sequence[str]:
        """Workers still marked alive whose last heartbeat is at or before `cutoff`."""
        async with self._store.session() as session:
            docs = await session.find(
                COLLECTION,
                {"alive": True, "heartbeat_at": Lte(iso(cutoff))},
                limit=limit,
                order_by="heartbeat_at",
            )
        return [str(d["id"]) for d in docs]

    async def retire(self, owner: str) -> bool:
        """Mark `owner` dead; True for the caller that did it (it hands the leases back)."""
        async with self._store.session() as session:
            doc = await session.get(COLLECTION, owner)
            if doc is None or not doc["alive"]:
                return False
            try:
                await session.replace(
                    COLLECTION,
                    {**doc, "alive": False, "retired_at": iso(self._clock()), "version": doc["version"] + 1},
                    doc["version"],
                )
            except VersionMismatch:
                return False
        return True

    def cutoff(self, dead_after: timedelta) -> datetime:
        return self._clock() - dead_after
