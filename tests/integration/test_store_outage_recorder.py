"""A worker keeps the outcomes the store refuses for a while (`BatchRecorder(patience=...)`).

Giving up after a handful of quick retries left every item of a store outage longer than
a dozen seconds to its lease: it waited for the lease to run out (a minute), then ran again,
and a delivery went out twice. Within its patience the recorder keeps trying, with backoff.
"""

from __future__ import annotations

import asyncio

import pytest

from integrations.stores.documents import StorageError
from workers.pumps import BatchRecorder

OUTAGE_S = 0.5


class Outage:
    """A flush that fails for the first `OUTAGE_S` seconds after its first call."""

    def __init__(self) -> None:
        self.ends: float | None = None
        self.written: list[str] = []

    async def flush(self, results: list[str]) -> None:
        now = asyncio.get_running_loop().time()
        if self.ends is None:
            self.ends = now + OUTAGE_S
        if now < self.ends:
            raise StorageError("sqlite commit failed: disk I/O error")
        self.written.extend(results)


async def test_outcomes_outlive_an_outage_within_the_recorders_patience() -> None:
    outage = Outage()
    recorder = BatchRecorder[str]("test", outage.flush, attempts=2, patience=5 * OUTAGE_S)

    await asyncio.wait_for(recorder.add("r1"), 10)

    assert outage.written == ["r1"]


async def test_without_patience_the_attempts_decide() -> None:
    outage = Outage()
    recorder = BatchRecorder[str]("test", outage.flush, attempts=2)

    with pytest.raises(StorageError):
        await asyncio.wait_for(recorder.add("r1"), 10)

    assert outage.written == []
