"""`subgate status`: whether workers run, from their heartbeats in the store.

`/readyz` answers for one server (can it take traffic?); this answers for the service as a
whole: a `serve` that is ready while no worker runs accepts events that nothing processes.
Exit status 0 when at least one worker is alive, 1 when none is (or the store cannot be read).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta

from domain.shared.clock import system_clock
from integrations.stores.leases import DEAD_AFTER_SECONDS, WorkerCensus, WorkerRegistry
from subgate.commands.store import opened_store
from subgate.settings import Settings

NO_WORKER = 1


def status(args: argparse.Namespace, settings: Settings) -> int:
    census = asyncio.run(_census(settings))
    if args.json:
        record = {
            "workers": {
                "alive": census.alive,
                "silent": census.silent,
                "heartbeat_age_seconds": census.heartbeat_age_seconds,
            }
        }
        print(json.dumps(record))  # noqa: T201 - CLI output
    else:
        print(_summary(census))  # noqa: T201 - CLI output
    return 0 if census.alive else NO_WORKER


def _summary(census: WorkerCensus) -> str:
    age = census.heartbeat_age_seconds
    newest = "no heartbeat" if age is None else f"newest heartbeat {age:.1f} s ago"
    verdict = "" if census.alive else " - no worker is processing events"
    return f"workers: {census.alive} alive, {census.silent} silent ({newest}){verdict}"


async def _census(settings: Settings) -> WorkerCensus:
    async with opened_store(settings) as store:
        return await WorkerRegistry(store, system_clock).census(timedelta(seconds=DEAD_AFTER_SECONDS))
