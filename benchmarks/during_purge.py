"""End to end while retention purges: the pipeline's latency does not move.

`python -m benchmarks --only purge` seeds two SQLite stores with the same history of finished
inbound events and delivered notifications spread over the last 90 days (`benchmarks.history`),
then runs the end-to-end measurement (`benchmarks.end_to_end`) on each, in alternating order: on
one with retention set so that the worker purges while the load runs (payloads kept 30 days:
two thirds of the history's bodies to empty; records kept 60 days: a third of it to remove), on
the other with the default retention (nothing to purge). Reported: p99 on both and their ratio,
what the worker purged during the run, and how long its slowest batch held the store (from the
worker's `store_purged` log lines: each step logs its slowest batch).
"""

from __future__ import annotations

import json
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from benchmarks.end_to_end import EndToEnd, measure_end_to_end
from benchmarks.history import seed_history
from benchmarks.results import Measurement, Target
from benchmarks.stats import median, percentile

DEFAULT_PURGE_HISTORY: Final = 100_000
PURGING: Final = {"payload_retention_days": "30", "record_retention_days": "60"}
P99_RATIO_TARGET: Final = 1.25
_DATABASE: Final = "subgate.db"


@dataclass(frozen=True, slots=True)
class Purged:
    items: int
    steps: int
    slowest_batch_ms: float
    median_step_slowest_ms: float


def purged(worker_log: str) -> Purged:
    """What the worker's retention steps removed, from its JSON log lines."""
    items, slowest = 0, []
    for line in worker_log.splitlines():
        with suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == "store_purged":
                items += sum(v for k, v in entry.items() if isinstance(v, int) and k not in ("batches",))
                slowest.append(float(entry["slowest_batch_ms"]))
    return Purged(
        items=items,
        steps=len(slowest),
        slowest_batch_ms=max(slowest, default=0.0),
        median_step_slowest_ms=median(slowest) if slowest else 0.0,
    )


def run_during_purge(history: int, rate: float, seconds: float, run: str) -> list[Measurement]:
    purging_first = int(run) % 2 == 1 if run.isdigit() else True
    with tempfile.TemporaryDirectory(prefix="subgate-bench-purge-") as scratch:
        root = Path(scratch)
        results: dict[str, EndToEnd] = {}
        for kind in ("purging", "steady") if purging_first else ("steady", "purging"):
            data = root / kind / "data"
            data.mkdir(parents=True)
            seed_history(data / _DATABASE, history)
            settings = PURGING if kind == "purging" else {}
            results[kind] = measure_end_to_end(
                root / kind, rate, seconds, f"{run}{kind}", data_dir=data, settings=settings
            )
    steady = percentile(results["steady"].latencies, 99) * 1000
    purging = percentile(results["purging"].latencies, 99) * 1000
    done = purged(results["purging"].worker_log)
    size = f"{history:,}"
    return [
        Measurement(
            "purge.e2e.p99.steady",
            f"End to end p99, {size} finished events stored, nothing to purge (ms)",
            "ms",
            steady,
            note="reference",
        ),
        Measurement(
            "purge.e2e.p99.purging",
            f"End to end p99, {size} finished events stored, the worker purging (ms)",
            "ms",
            purging,
        ),
        Measurement(
            "purge.e2e.p99.ratio",
            "End to end p99 ratio, purging / nothing to purge",
            "x",
            purging / steady,
            Target("<=", P99_RATIO_TARGET, f"≤ {P99_RATIO_TARGET}x"),
        ),
        Measurement(
            "purge.items",
            "Purged during the run (payloads and records, per second)",
            "/s",
            done.items / seconds,
        ),
        Measurement("purge.batch.max", "Purge, slowest batch of the run (ms)", "ms", done.slowest_batch_ms),
        Measurement(
            "purge.batch.median",
            "Purge, median of each step's slowest batch (ms)",
            "ms",
            done.median_step_slowest_ms,
        ),
    ]
