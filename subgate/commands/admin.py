"""Admin commands (`merchants`, `dlq`): they need only the store.

They work beside a running `subgate dev` on the same data directory: SQLite lets several processes
share the file, and the service reads what they write.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from domain.merchants.internal import MerchantsInternal
from domain.notifications.internal import DeadLettersInternal
from domain.notifications.model import DeadLetter, DeadLetterKind
from domain.shared.clock import public_time, system_clock
from domain.shared.pagination import MAX_LIMIT, PageRequest
from integrations.stores.txn import StoreTxn
from subgate.commands.store import opened_store
from subgate.settings import Settings


def create_merchant(args: argparse.Namespace, settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    merchant_id, api_key = asyncio.run(new_merchant(settings, args.name))
    print(json.dumps({"merchant_id": merchant_id, "api_key": api_key}))  # noqa: T201 - CLI output
    return 0


def rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    merchant_id, api_key = asyncio.run(_rotate_key(settings, args.merchant_id))
    print(json.dumps({"merchant_id": merchant_id, "api_key": api_key}))  # noqa: T201 - CLI output
    return 0


def list_dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    kind = DeadLetterKind(args.kind) if args.kind else None
    rows = asyncio.run(_dead_letters(settings, args.merchant, kind))
    records = [
        {
            "id": d.id,
            "kind": d.kind.value,
            "merchant_id": d.merchant_id,
            "delivery_id": d.delivery_id,
            "reason": d.reason,
            "created_at": public_time(d.created_at),
        }
        for d in rows
    ]
    if args.json:
        print(json.dumps(records))  # noqa: T201 - CLI output
        return 0
    print(f"{'ID':<32} {'KIND':<8} {'DELIVERY':<32} {'CREATED':<28} REASON")  # noqa: T201 - CLI output
    for r in records:
        print(f"{r['id']:<32} {r['kind']:<8} {r['delivery_id']:<32} {r['created_at']:<28} {r['reason']}")  # noqa: T201
    print(f"{len(records)} dead letter(s)")  # noqa: T201 - CLI output
    return 0


async def _migrate(settings: Settings) -> None:
    async with opened_store(settings, create=True):
        pass


async def new_merchant(settings: Settings, name: str) -> tuple[str, str]:
    """Create a merchant (migrating first, so it works on a fresh data dir); its id and API key."""
    async with opened_store(settings, create=True) as store:
        merchant, api_key = await MerchantsInternal(StoreTxn(store), system_clock).create_merchant(name)
    return merchant.id, api_key


async def _rotate_key(settings: Settings, merchant_id: str) -> tuple[str, str]:
    async with opened_store(settings) as store:
        merchant, api_key = await MerchantsInternal(StoreTxn(store), system_clock).rotate_key(merchant_id)
    return merchant.id, api_key


async def _dead_letters(
    settings: Settings, merchant: str | None, kind: DeadLetterKind | None
) -> list[DeadLetter]:
    async with opened_store(settings) as store:
        admin = DeadLettersInternal(StoreTxn(store))
        rows: list[DeadLetter] = []
        cursor: str | None = None
        while True:
            page = await admin.list(merchant, kind, PageRequest(limit=MAX_LIMIT, starting_after=cursor))
            rows.extend(page.items)
            if not page.has_more or not page.items:
                return rows
            cursor = page.items[-1].id
