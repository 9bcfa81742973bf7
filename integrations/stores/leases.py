"""Which worker processes are alive, so that work leased by a dead one is handed back quickly.

Each worker writes a heartbeat document every second or so. Any worker that finds a
heartbeat older than the dead-after limit retires that worker (compare-and-set, so one
of several finders wins) and hands its leases back; without this, a killed worker's
work would wait for its leases to run out (a minute and more).

The same heartbeats tell an operator whether any worker runs (`census`): `/readyz` shows it
beside the server's own checks, and `subgate status` fails when none does.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from domain.shared.clock import Clock
from integrations.stores.codecs import iso, parse_time
from integrations.stores.documents import Document, DocumentStore, DuplicateDocument, Lte, VersionMismatch

COLLECTION = "workers"
# A worker whose heartbeat is older than this is taken for dead (its leases go back).
DEAD_AFTER_SECONDS: Final = 5.0
# The census reads at most this many registered workers (far more than any deployment runs).
CENSUS_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerCensus:
    """The workers registered as running: how many beat recently, how many went silent (stopped
    without retiring: killed, or stuck), and the age of the newest heartbeat (None: no worker)."""

    alive: int
    silent: int
    heartbeat_age_seconds: float | None


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

    async def census(self, dead_after: timedelta) -> WorkerCensus:
        """Who runs now (see `WorkerCensus`); a worker that stopped cleanly is no longer counted."""
        now = self._clock()
        async with self._store.session() as session:
            docs = await session.find(
                COLLECTION, {"alive": True}, limit=CENSUS_LIMIT, order_by="heartbeat_at"
            )
        beats = [beat for beat in map(_heartbeat, docs) if beat is not None]
        alive = sum(1 for beat in beats if now - beat <= dead_after)
        newest = max(beats, default=None)
        return WorkerCensus(
            alive=alive,
            silent=len(beats) - alive,
            heartbeat_age_seconds=None if newest is None else max((now - newest).total_seconds(), 0.0),
        )

    def cutoff(self, dead_after: timedelta) -> datetime:
        return self._clock() - dead_after


def _heartbeat(doc: Document) -> datetime | None:
    try:
        return parse_time(doc["heartbeat_at"])
    except (KeyError, TypeError, ValueError):
        return None  # not a worker's heartbeat as this release writes it: not counted
