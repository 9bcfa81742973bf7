"""The `subgate` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from domain.merchants.internal import MerchantsInternal
from domain.notifications.internal import DeadLettersInternal
from domain.notifications.model import DeadLetter, DeadLetterKind
from domain.shared.clock import public_time, system_clock
from domain.shared.errors import DomainError
from domain.shared.pagination import MAX_LIMIT, PageRequest
from integrations.storage.documents import StorageError
from integrations.storage.txn import StoreTxn
from integrations.telemetry import configure_logging
from subgate.bootstrap import migrate, open_store
from subgate.settings import Settings, SettingsError, load_settings

FIRST_START_MARKER = "initialized"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subgate", description="Webhook integration service for subscriptions."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="HTTP server + worker + sweeper on embedded defaults")
    commands.add_parser("serve", help="HTTP server only")
    commands.add_parser("worker", help="arq worker and sweeper")
    commands.add_parser("migrate", help="create collections and indexes (idempotent)")
    merchants = commands.add_parser("merchants", help="manage merchants").add_subparsers(
        dest="action", required=True
    )
    create = merchants.add_parser("create", help="create a merchant and print its API key once")
    create.add_argument("name")
    dlq = commands.add_parser("dlq", help="dead letters").add_subparsers(dest="action", required=True)
    listing = dlq.add_parser("list", help="list dead letters")
    listing.add_argument("--merchant")
    listing.add_argument("--kind", choices=[k.value for k in DeadLetterKind])
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(dev=args.command == "dev")
    except SettingsError as error:
        print(f"subgate: configuration error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    configure_logging(settings.log_format)
    try:
        return _dispatch(args, settings)
    except (DomainError, StorageError) as error:
        print(f"subgate: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command in ("dev", "serve", "worker"):
        return _run(args.command, settings)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("migrated")  # noqa: T201 - CLI output
        return 0
    if args.command == "merchants":
        merchant_id, api_key = asyncio.run(_create_merchant(settings, args.name))
        print(json.dumps({"merchant_id": merchant_id, "api_key": api_key}))  # noqa: T201 - CLI output
        return 0
    return asyncio.run(_dlq_list(settings, args.merchant, args.kind, as_json=args.json))


def _run(command: str, settings: Settings) -> int:
    from subgate.runtime import redis_url_for, run_async, run_service  # noqa: PLC0415 - server imports only here

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    if command == "dev":
        lines.append(f"subgate is running at {settings.base_url}")
        marker = settings.data_dir / FIRST_START_MARKER
        if not marker.exists():
            merchant_id, api_key = asyncio.run(_create_merchant(settings, "Demo merchant"))
            marker.write_text(merchant_id + "\n")
            lines.append(f"demo merchant {merchant_id}; API key (shown once): {api_key}")
    with redis_url_for(settings) as redis_url:
        run_async(
            run_service(
                settings,
                redis_url,
                http=command in ("dev", "serve"),
                worker=command in ("dev", "worker"),
                on_ready=lines,
            )
        )
    return 0


async def _migrate(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.database_url)
    try:
        await migrate(store)
    finally:
        await store.close()


async def _create_merchant(settings: Settings, name: str) -> tuple[str, str]:
    store = open_store(settings.database_url)
    try:
        await migrate(store)
        merchant, api_key = await MerchantsInternal(StoreTxn(store), system_clock).create_merchant(name)
    finally:
        await store.close()
    return merchant.id, api_key


async def _dlq_list(settings: Settings, merchant: str | None, kind: str | None, *, as_json: bool) -> int:
    store = open_store(settings.database_url)
    try:
        admin = DeadLettersInternal(StoreTxn(store))
        rows: list[DeadLetter] = []
        cursor: str | None = None
        while True:
            page = await admin.list(
                merchant,
                DeadLetterKind(kind) if kind else None,
                PageRequest(limit=MAX_LIMIT, starting_after=cursor),
            )
            rows.extend(page.items)
            if not page.has_more or not page.items:
                break
            cursor = page.items[-1].id
    finally:
        await store.close()
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
    if as_json:
        print(json.dumps(records))  # noqa: T201 - CLI output
        return 0
    print(f"{'ID':<32} {'KIND':<8} {'DELIVERY':<32} {'CREATED':<28} REASON")  # noqa: T201 - CLI output
    for r in records:
        print(f"{r['id']:<32} {r['kind']:<8} {r['delivery_id']:<32} {r['created_at']:<28} {r['reason']}")  # noqa: T201
    print(f"{len(records)} dead letter(s)")  # noqa: T201 - CLI output
    return 0
