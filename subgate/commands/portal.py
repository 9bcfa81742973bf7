"""`subgate portal MERCHANT_ID`: a one-time link into that merchant's portal, as the REST API makes."""

from __future__ import annotations

import argparse
import asyncio
import sys

from domain.merchants.portal import PortalSessions
from domain.shared.clock import public_time, system_clock
from gateway.portal.links import portal_link
from integrations.stores.txn import StoreTxn
from subgate.commands.store import opened_store
from subgate.settings import Settings


def portal(args: argparse.Namespace, settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    link, expires_at = asyncio.run(
        issue_link(settings, args.merchant_id, args.expires_in, read_only=args.read_only)
    )
    print(link)  # noqa: T201 - CLI output
    print(f"opens once, until {expires_at}", file=sys.stderr)  # noqa: T201 - CLI output
    return 0


async def issue_link(
    settings: Settings, merchant_id: str, expires_in: int | None = None, *, read_only: bool = False
) -> tuple[str, str]:
    """The link and when it expires; NotFound for an unknown merchant, SchemaMismatch for a store
    that `subgate migrate` must bring up to date first."""
    async with opened_store(settings, create=True) as store:
        issued = await PortalSessions(StoreTxn(store), system_clock).issue(
            merchant_id, expires_in=expires_in, read_only=read_only
        )
    return portal_link(settings.base_url, issued.token), public_time(issued.session.expires_at) or ""
