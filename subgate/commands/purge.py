"""`subgate purge`: remove old payloads and settled records now, and print how many.

Like the other admin commands it needs only the store, so it runs beside a running `subgate dev`:
each batch is a short transaction of its own, between which the service writes as usual. On a
SQLite store made with incremental auto_vacuum (every store this release creates), the pages the
purge freed are then given back to the file system, a few thousand per transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from domain.shared.clock import public_time, system_clock
from integrations.stores.documents import DocumentStore
from integrations.stores.retention.batches import KINDS, Cutoffs, Tally
from integrations.stores.retention.purge import StepReport
from integrations.stores.sqlite.store import SqliteStore
from subgate.commands.store import opened_store, retention
from subgate.settings import Settings

# Between two steps of giving pages back, the service's writes get the file.
_RECLAIM_PAUSE_SECONDS = 0.005


def purge(args: argparse.Namespace, settings: Settings) -> int:
    cutoffs, tally, reclaimed = asyncio.run(_purge(settings, args))
    counts = {kind: tally.counts[kind] for kind in KINDS}
    if args.json:
        report = {
            "dry_run": args.dry_run,
            "payloads_before": public_time(cutoffs.payloads),
            "records_before": public_time(cutoffs.records),
            "counts": counts,
            "total": tally.total,
            "reclaimed_bytes": reclaimed,
        }
        print(json.dumps(report))  # noqa: T201 - CLI output
        return 0
    verb = "would remove" if args.dry_run else "removed"
    print(  # noqa: T201 - CLI output
        f"payloads older than {public_time(cutoffs.payloads)}, "
        f"settled records older than {public_time(cutoffs.records)}: {verb}"
    )
    width = max(map(len, KINDS))
    for kind, count in counts.items():
        print(f"  {kind:<{width}}  {count}")  # noqa: T201 - CLI output
    print(f"  {'total':<{width}}  {tally.total}")  # noqa: T201 - CLI output
    if reclaimed:
        print(f"{reclaimed / 1_048_576:.1f} MiB of freed pages given back to the file system")  # noqa: T201
    return 0


async def _purge(settings: Settings, args: argparse.Namespace) -> tuple[Cutoffs, Tally, int]:
    async with opened_store(settings, create=True) as store:
        purger = retention(store, system_clock, settings)
        cutoffs = purger.cutoffs(payloads_before=args.payloads_before, records_before=args.records_before)
        if args.dry_run:
            return cutoffs, await purger.count(cutoffs), 0
        report = await purger.purge(cutoffs, _progress if sys.stderr.isatty() else None)
        return cutoffs, report.tally, await _reclaim(store.inner)


async def _reclaim(backend: DocumentStore) -> int:
    """Bytes of free pages given back (a SQLite store made with incremental auto_vacuum only)."""
    if not isinstance(backend, SqliteStore):
        return 0
    page_size, _, _ = await backend.page_counts()
    pages = 0
    while step := await backend.reclaim():
        pages += step
        await asyncio.sleep(_RECLAIM_PAUSE_SECONDS)
    return pages * page_size


def _progress(report: StepReport) -> None:
    sys.stderr.write(f"\r{report.tally.total} removed in {report.batches} batches")
    sys.stderr.flush()
