"""The store's schema version: read it, and bring a store up to this release's.

The version is the number of the last migration step a store ran (`steps.STEPS`), kept in
one document (`store_schema/schema`). Three kinds of store:

* **empty** (no version recorded and no document in any collection: new, or created by an
  earlier `subgate migrate` and never used): creating the current schema from nothing is not
  an upgrade. `migrate`, `dev`, `serve`, `worker` and the admin commands all do it: the
  declared collections and indexes, then the latest version recorded, no step run (there is
  nothing to rewrite).
* **older** (a lower version; or documents but no version, which is what releases before
  versions wrote: version 0): only `subgate migrate` (and `dev`) upgrade it, running each
  pending step in order and recording the version after each. `serve` and `worker` refuse to
  start on it, naming `subgate migrate`.
* **newer** (a version this release does not know): everything refuses it.

Two migrations at once (two `subgate migrate`, or processes starting together): the steps run
under a lock kept in the version's document, taken and renewed by compare-and-set with a
lease, so one process runs them while the others wait and then find nothing pending. A
process that dies holding it leaves it to the next one once the lease is over; its step, cut
short, runs again from the start (steps are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from domain.shared.clock import Clock
from domain.shared.ids import new_id
from integrations.stores.codecs import iso, parse_time
from integrations.stores.documents import Document, DocumentStore, DuplicateDocument, IndexSpec, StorageError
from integrations.stores.migrations.state import SchemaMismatch, SchemaState
from integrations.stores.migrations.step import Step
from integrations.stores.migrations.steps import STEPS
from integrations.stores.schema import COLLECTIONS, SCHEMA_COLLECTION
from integrations.stores.unreadable import event_line

# The standard library's logger: admin commands open stores without loading structlog.
log = logging.getLogger(__name__)

RECORD_ID: Final = "schema"
LEASE: Final = timedelta(seconds=60)
# How often a waiting process looks at the lock again.
_WAIT_SECONDS: Final = 0.2


@dataclass(frozen=True, slots=True)
class Upgrade:
    before: SchemaState
    after: int
    applied: tuple[Step, ...]


class Migrator:
    """Reads and brings up to date one store's schema (see the module docstring)."""

    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        *,
        steps: Sequence[Step] = STEPS,
        collections: Mapping[str, Sequence[IndexSpec]] = COLLECTIONS,
        lease: timedelta = LEASE,
    ) -> None:
        self._store = store
        self._clock = clock
        self._steps = tuple(steps)
        self._collections = collections
        self._lease = lease
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{new_id('mig')}"

    async def state(self) -> SchemaState:
        existing = await self._store.collections()
        record = await self._record() if SCHEMA_COLLECTION in existing else None
        version = None if record is None else record.get("schema_version")
        if version is None and not await self._empty(existing):
            version = 0  # documents without a version: a release from before versions
        return SchemaState(None if version is None else int(version), self._steps)

    async def prepare(self, *, upgrade: bool) -> Upgrade:
        """Make the store one this release runs on: created when empty, upgraded when `upgrade`
        (else SchemaMismatch for an older one); SchemaMismatch for a newer one either way."""
        before = await self.state()
        if before.newer or (before.pending and not upgrade):
            raise SchemaMismatch(before)
        if before.current:
            return Upgrade(before, before.latest, ())
        await self._store.migrate(self._collections)
        await self._ensure_record()
        applied: tuple[Step, ...] = ()
        while True:
            state = await self.state()
            if state.newer or (state.pending and not upgrade):
                raise SchemaMismatch(state)
            if state.current:
                return Upgrade(before, state.latest, applied)
            if state.empty:
                if not await self._record_from_nothing():
                    await asyncio.sleep(_WAIT_SECONDS)  # a migration holds the lock: wait for it
                continue
            async with self._locked() as held:
                if held:
                    applied += await self._run_pending()
                    continue
            await asyncio.sleep(_WAIT_SECONDS)

    # -- the record and its lock

    async def _record(self) -> Document | None:
        async with self._store.session() as session:
            return await session.get(SCHEMA_COLLECTION, RECORD_ID)

    async def _empty(self, existing: frozenset[str]) -> bool:
        holding = sorted(existing & (self._collections.keys() - {SCHEMA_COLLECTION}))
        if not holding:
            return True
        async with self._store.session() as session:
            for collection in holding:
                if await session.find(collection, {}, limit=1):
                    return False
        return True

    async def _ensure_record(self) -> None:
        record = {"id": RECORD_ID, "version": 0, "schema_version": None}
        record |= {"lock_owner": None, "locked_until": None}
        with contextlib.suppress(DuplicateDocument):
            async with self._store.session() as session:
                await session.insert(SCHEMA_COLLECTION, record)

    async def _set(self, where: Mapping[str, Any], assign: Mapping[str, Any]) -> bool:
        async with self._store.session() as session:
            return await session.update_where(SCHEMA_COLLECTION, {"id": RECORD_ID, **where}, assign) == 1

    async def _record_from_nothing(self) -> bool:
        """An empty store gets the latest version at once; False when another process holds the
        lock (or recorded a version meanwhile)."""
        latest = self._steps[-1].number if self._steps else 0
        return await self._set(
            {"schema_version": None, "lock_owner": None},
            {"schema_version": latest, "updated_at": iso(self._clock())},
        )

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[bool]:
        """Hold the migration lock for the block (True), or not at all when another process
        holds it (False); renewed while the block runs, handed back when it ends."""
        if not await self._take_lock():
            yield False
            return
        renewal = asyncio.create_task(self._renew())
        try:
            yield True
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            with contextlib.suppress(StorageError):
                await self._set({"lock_owner": self._owner}, {"lock_owner": None, "locked_until": None})

    async def _take_lock(self) -> bool:
        record = await self._record()
        if record is None:
            return False
        now = self._clock()
        taken = {"lock_owner": self._owner, "locked_until": iso(now + self._lease)}
        holder, until = record.get("lock_owner"), record.get("locked_until")
        if holder is None:
            return await self._set({"lock_owner": None}, taken)
        if until is not None and parse_time(until) <= now:
            log.warning(
                event_line("store_migration_lock_taken_over", previous_owner=holder, lease_ended=until)
            )
            return await self._set({"lock_owner": holder, "locked_until": until}, taken)
        return False

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            until = iso(self._clock() + self._lease)
            with contextlib.suppress(StorageError):
                await self._set({"lock_owner": self._owner}, {"locked_until": until})

    # -- the steps

    async def _run_pending(self) -> tuple[Step, ...]:
        """Under the lock: every step after the recorded version, each recorded once it ran."""
        state = await self.state()  # another process may have run some while this one waited
        for step in state.pending:
            changed = 0 if step.rewrite is None else await step.rewrite(self._store, self._clock())
            recorded = await self._set(
                {"lock_owner": self._owner},
                {"schema_version": step.number, "updated_at": iso(self._clock())},
            )
            if not recorded:
                raise StorageError(
                    f"schema migration step {step.title} ran but another process took the migration "
                    "over meanwhile (this one was too slow to renew its lock); run `subgate migrate` again"
                )
            log.info(event_line("store_schema_step_applied", step=step.title, documents_changed=changed))
        return state.pending
