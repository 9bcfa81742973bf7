"""`subgate purge`: remove old payloads and settled records now, and print how many.

Like the other admin commands it needs only the store, so it runs beside a running `subgate dev`:
each batch is a short transaction of its own, between which the service writes as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta

from domain.shared.clock import public_time, system_clock
from integrations.stores.retention.batches import KINDS, Cutoffs, Tally
from integrations.stores.retention.purge import Purger, StepReport
from subgate.commands.store import opened_store
from subgate.settings import Settings


def purge(args: argparse.Namespace, settings: Settings) -> int:
    cutoffs, tally = asyncio.run(_purge(settings, args))
    counts = {kind: tally.counts[kind] for kind in KINDS}
    if args.json:
        report = {
            "dry_run": args.dry_run,
            "payloads_before": public_time(cutoffs.payloads),
            "records_before": public_time(cutoffs.records),
            "counts": counts,
            "total": tally.total,
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
    return 0


async def _purge(settings: Settings, args: argparse.Namespace) -> tuple[Cutoffs, Tally]:
    async with opened_store(settings, migrate=True) as store:
        purger = Purger(
            store,
            system_clock,
            payloads=timedelta(days=settings.payload_retention_days),
            records=timedelta(days=settings.record_retention_days),
        )
        cutoffs = purger.cutoffs(payloads_before=args.payloads_before, records_before=args.records_before)
        if args.dry_run:
            return cutoffs, await purger.count(cutoffs)
        report = await purger.purge(cutoffs, _progress if sys.stderr.isatty() else None)
        return cutoffs, report.tally


def _progress(report: StepReport) -> None:
    sys.stderr.write(f"\r{report.tally.total} removed in {report.batches} batches")
    sys.stderr.flush()
