"""Whether the store takes a write now: readiness is more than a server that answers reads.

A store on a full disk (or a read-only volume, or a MongoDB without a primary) still answers
a ping, and reads go on, while every event it is given fails to be stored. The probe writes
one small document (`readiness_probes/write`, its `written_at` and version bumped) in a
transaction of its own, as every write of the service does.

It is cheap on purpose: an answer is reused for `fresh_for` seconds, concurrent callers share
one write, and a write that takes longer than `patience` answers "not writable" without being
abandoned (the next caller waits on the same write), so probes never pile up writes on a
store that is struggling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

import structlog

from domain.shared.clock import Clock
from integrations.stores.codecs import iso
from integrations.stores.documents import DocumentStore, DuplicateDocument

log = structlog.get_logger()

COLLECTION: Final = "readiness_probes"
DOCUMENT_ID: Final = "write"
FRESH_FOR_SECONDS: Final = 1.0
PATIENCE_SECONDS: Final = 2.0


class WriteProbe:
    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        *,
        fresh_for: float = FRESH_FOR_SECONDS,
        patience: float = PATIENCE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._fresh_for = fresh_for
        self._patience = patience
        self._monotonic = monotonic
        self._answer: bool | None = None
        self._answered_at = 0.0
        self._writing: asyncio.Task[bool] | None = None

    async def writable(self) -> bool:
        if self._answer is not None and self._monotonic() - self._answered_at < self._fresh_for:
            return self._answer
        writing = self._writing
        if writing is None:
            writing = self._writing = asyncio.create_task(self._write())
            writing.add_done_callback(self._settle)
        done, _ = await asyncio.wait({writing}, timeout=self._patience)
        return bool(done) and writing.result()

    async def close(self) -> None:
        """Let a write in progress finish (the store is closed after this; its own waits bound it)."""
        if self._writing is not None:
            await asyncio.wait({self._writing})

    def _settle(self, task: asyncio.Task[bool]) -> None:
        self._writing = None
        self._answer = not task.cancelled() and task.result()
        self._answered_at = self._monotonic()

    async def _write(self) -> bool:
        try:
            await self._bump()
        # Whatever stops the write (a driver may raise its own errors), the answer is "not writable".
        except Exception as error:  # noqa: BLE001 - logged once per outage below, not per probe
            if self._answer is not False:
                log.warning("store_not_writable", error=type(error).__name__, detail=str(error))
            return False
        if self._answer is False:
            log.info("store_writable_again")
        return True

    async def _bump(self) -> None:
        written_at = iso(self._clock())
        this_one = {"id": DOCUMENT_ID}
        document = {**this_one, "version": 1, "written_at": written_at}
        # A second round only if another process created the document between our two steps.
        for _ in range(2):
            try:
                async with self._store.session() as session:
                    changed = await session.update_where(COLLECTION, this_one, {"written_at": written_at})
                    if not changed:
                        await session.insert(COLLECTION, document)
            except DuplicateDocument:
                continue
            return
