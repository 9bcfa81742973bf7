"""History does not cost: the ingest and delivery figures again, on a store with a long past.

`python -m benchmarks --history [N]` (N = 1,000,000 unless given) first writes N finished
inbound events and N succeeded deliveries straight into a SQLite store (`benchmarks.history`),
once per invocation, and reports how long that took. Each repeat then measures, side by side and
in alternating order (so that a slow spell of a shared machine does not always hit the same
side), the ingest figure (`subgate serve` + `subgate worker`, as in `benchmarks.ingest`) and the
delivery figure (one `subgate worker`, 20 endpoints, as in `benchmarks.delivery`) on a fresh empty
store and on the store with the history. The ratio of the two, per repeat, must stay within 10%.

Every measurement on the history store adds its own merchants and work to it (some tens of
thousands of documents over a run): a few percent more history by the last repeat.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from benchmarks.delivery import SPREAD_ENDPOINTS, delivery_rate
from benchmarks.history import Seeded, seed_history
from benchmarks.ingest import ingest_rate
from benchmarks.results import Measurement, Target

DEFAULT_HISTORY: Final = 1_000_000
RATIO_TARGET: Final = 0.9
SEED_TARGET_S: Final = 120.0
_DATABASE: Final = "subgate.db"  # the file name the settings give a data dir's store


@dataclass
class HistoryStore:
    """The data dir whose store holds the history; made on first use, removed by `close`."""

    size: int
    _scratch: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)
    _seeded: Seeded | None = field(default=None, init=False)
    _reported: bool = field(default=False, init=False)

    def data_dir(self, progress: Callable[[str], None]) -> Path:
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="subgate-bench-history-")
            directory = Path(self._scratch.name)
            progress(f"history: writing {self.size:,} inbound events and {self.size:,} deliveries")
            self._seeded = seed_history(directory / _DATABASE, self.size)
            progress(
                f"history: {self._seeded.megabytes:,.0f} MB written in {self._seeded.seconds:.1f} s "
                f"to {directory / _DATABASE}"
            )
        return Path(self._scratch.name)

    def seeding(self) -> list[Measurement]:
        """How long writing the history took: reported once (it is done once)."""
        if self._seeded is None or self._reported:
            return []
        self._reported = True
        size = f"{self.size:,}"
        return [
            Measurement(
                "history.seed",
                f"History: {size} inbound events and {size} deliveries written into the store",
                "s",
                self._seeded.seconds,
                Target("<=", SEED_TARGET_S, f"≤ {SEED_TARGET_S:.0f} s"),
            )
        ]

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


def run_history(
    store: HistoryStore,
    events: int,
    concurrency: int,
    deliveries: int,
    run: str,
    progress: Callable[[str], None],
) -> list[Measurement]:
    """One repeat: ingest and delivery, each on an empty store and on the history store."""
    data_dir = store.data_dir(progress)
    history_first = int(run) % 2 == 0 if run.isdigit() else False
    with tempfile.TemporaryDirectory(prefix="subgate-bench-with-history-") as scratch:
        root = Path(scratch)

        def ingest(kind: str) -> float:
            on = data_dir if kind == "full" else None
            return ingest_rate(root / f"ingest-{kind}", events, concurrency, f"{run}h{kind}", on)

        def deliver(kind: str) -> float:
            on = data_dir if kind == "full" else None
            return delivery_rate(root / f"delivery-{kind}", deliveries, f"history-{kind}-{run}", on)

        order = ("full", "empty") if history_first else ("empty", "full")
        ingested = {kind: ingest(kind) for kind in order}
        delivered = {kind: deliver(kind) for kind in order}
    size = f"{store.size:,}"
    within = Target(">=", RATIO_TARGET, f"≥ {RATIO_TARGET}x empty (within 10%)")
    ingest_what = "`subgate serve` + `subgate worker`"
    delivery_what = f"one `subgate worker`, {SPREAD_ENDPOINTS} endpoints"
    return [
        *store.seeding(),
        Measurement(
            "history.ingest.empty",
            f"Ingest, {ingest_what}, empty store, beside the history run (events/s)",
            "/s",
            ingested["empty"],
            note="reference",
        ),
        Measurement(
            "history.ingest.full",
            f"Ingest, {ingest_what}, {size} events and deliveries stored (events/s)",
            "/s",
            ingested["full"],
        ),
        Measurement(
            "history.ingest.ratio",
            f"Ingest ratio, {size} stored / empty store",
            "x",
            ingested["full"] / ingested["empty"],
            within,
        ),
        Measurement(
            "history.delivery.empty",
            f"Delivery, {delivery_what}, empty store, beside the history run (notifications/s)",
            "/s",
            delivered["empty"],
            note="reference",
        ),
        Measurement(
            "history.delivery.full",
            f"Delivery, {delivery_what}, {size} events and deliveries stored (notifications/s)",
            "/s",
            delivered["full"],
        ),
        Measurement(
            "history.delivery.ratio",
            f"Delivery ratio, {size} stored / empty store",
            "x",
            delivered["full"] / delivered["empty"],
            within,
        ),
    ]
