"""`subgate secrets new-key | status | reencrypt`: the keys that seal stored secrets.

Rotation: put a new key first in `SUBGATE_SECRET_KEY` and keep the old ones after it; restart
the processes; the worker re-seals with the new key over time (`reencrypt` does it at once);
once `status` shows nothing sealed with an older key, the old keys can go.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from domain.shared.clock import system_clock
from integrations.stores.sealing.keys import new_key as random_key
from integrations.stores.sealing.resealing import Census, Resealer
from subgate.commands.store import opened_store
from subgate.settings import Settings


def new_key(_args: argparse.Namespace, _settings: Settings) -> int:
    print(random_key())  # noqa: T201 - CLI output
    return 0


def status(_args: argparse.Namespace, settings: Settings) -> int:
    key, counts = asyncio.run(_census(settings))
    collections = {
        c.collection: {"current": c.current, "older": c.older, "clear": c.clear, "unreadable": c.unreadable}
        for c in counts
    }
    report = {"key": key, "collections": collections}
    print(json.dumps(report))  # noqa: T201 - CLI output
    return 0


def reencrypt(_args: argparse.Namespace, settings: Settings) -> int:
    if not settings.secret_keys:
        print("subgate: SUBGATE_SECRET_KEY is unset and there is no key file: nothing seals", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    resealed = asyncio.run(_reseal_all(settings))
    print(json.dumps({"resealed": resealed}))  # noqa: T201 - CLI output
    return 0


async def _census(settings: Settings) -> tuple[str | None, list[Census]]:
    async with opened_store(settings, create=True) as store:
        return store.keyring.current, await Resealer(store, system_clock).census()


async def _reseal_all(settings: Settings) -> int:
    async with opened_store(settings, create=True) as store:
        resealer = Resealer(store, system_clock)
        await resealer.check()
        return await resealer.reseal_all()
