"""`subgate dlq replay`: dead letters due again, for a running service to send.

Like the other admin commands it needs only the store, so it works in a second terminal
beside `subgate dev`: the service's workers poll the store and find the replayed deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from domain.notifications.internal import DeadLettersInternal
from domain.notifications.model import DeadLetterKind
from domain.notifications.replay import ReplaySummary
from domain.shared.clock import system_clock
from domain.shared.errors import Conflict, NotFound
from integrations.stores.txn import StoreTxn
from subgate.commands.store import opened_store
from subgate.settings import Settings

USAGE_ERROR = 2
# Refusals printed with their reason alone; any other names its error type first (`payload_expired`).
_PLAIN_REFUSALS = frozenset({"not_found", "conflict"})


def replay(args: argparse.Namespace, settings: Settings) -> int:
    problem = _usage_problem(args)
    if problem is not None:
        print(f"subgate dlq replay: {problem}", file=sys.stderr)  # noqa: T201 - CLI output
        return USAGE_ERROR
    kind = DeadLetterKind(args.kind) if args.kind else None
    summary = asyncio.run(_replay(settings, args.ids, args.all, args.merchant, kind))
    if args.json:
        skipped = [
            {"id": dl_id, "type": summary.refusals.get(dl_id, "conflict"), "reason": reason}
            for dl_id, reason in summary.skipped
        ]
        print(json.dumps({"replayed": list(summary.replayed), "skipped": skipped}))  # noqa: T201 - CLI output
    else:
        for dl_id in summary.replayed:
            print(f"{dl_id} replayed: due now")  # noqa: T201 - CLI output
        for dl_id, reason in summary.skipped:
            refusal = summary.refusals.get(dl_id, "conflict")
            why = reason if refusal in _PLAIN_REFUSALS else f"{refusal}: {reason}"
            print(f"{dl_id} not replayed: {why}")  # noqa: T201 - CLI output
        print(f"{len(summary.replayed)} replayed, {len(summary.skipped)} not")  # noqa: T201 - CLI output
    # Naming a dead letter that cannot be replayed is a failure; --all skipping some is not.
    return 1 if summary.skipped and not args.all else 0


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.all and args.ids:
        return "give dead letter ids or --all, not both"
    if not args.all and not args.ids:
        return "give dead letter ids, or --all"
    if not args.all and (args.merchant or args.kind):
        return "--merchant and --kind go with --all"
    return None


async def _replay(
    settings: Settings, ids: list[str], everything: bool, merchant: str | None, kind: DeadLetterKind | None
) -> ReplaySummary:
    async with opened_store(settings) as store:
        admin = DeadLettersInternal(StoreTxn(store), system_clock)
        if everything:
            return await admin.replay_all(merchant, kind)
        replayed: list[str] = []
        skipped: list[tuple[str, str]] = []
        refusals: dict[str, str] = {}
        for dl_id in dict.fromkeys(ids):
            try:
                await admin.replay(dl_id)
            except (NotFound, Conflict) as refused:
                skipped.append((dl_id, refused.message))
                refusals[dl_id] = refused.kind
            else:
                replayed.append(dl_id)
        return ReplaySummary(replayed=tuple(replayed), skipped=tuple(skipped), refusals=refusals)
