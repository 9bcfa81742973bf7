"""`subgate events send PROVIDER TYPE --connection ID`: play the provider, without its CLI.

The event is made up by the provider's samples (`integrations.providers.<provider>.samples`),
signed with the connection's first webhook secret (read from the store, as an operator would)
and posted to the running service's inbound webhook URL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from domain.merchants.internal import MerchantsInternal
from domain.merchants.model import Connection
from domain.shared.clock import system_clock
from domain.shared.errors import NotFound
from integrations.providers.samples import EventSpec, Samples
from integrations.stores.txn import StoreTxn
from subgate.cli import SAMPLES
from subgate.commands.store import opened_store
from subgate.settings import Settings

USAGE_EXIT = 2
SEND_TIMEOUT_SECONDS = 30.0


def send(args: argparse.Namespace, settings: Settings) -> int:
    samples = SAMPLES[args.provider]
    refusal = _refusal(args, samples)
    if refusal is not None:
        return _usage(refusal)
    try:
        connection = asyncio.run(_connection(settings, args.connection))
    except NotFound as missing:
        # Often the wrong data directory or database: say which one was read.
        print(f"subgate: {missing} in {_database(settings)}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    if connection.provider.value != args.provider:
        return _usage(f"connection {connection.id} is a {connection.provider.value} connection")
    subscription_id = args.subscription or samples.new_subscription_id()
    spec = EventSpec(
        type=args.type,
        now=datetime.now(UTC),
        subscription_id=subscription_id,
        # One customer per subscription unless told otherwise, so that later events agree.
        customer_id=args.customer or samples.customer_of(subscription_id),
        status=args.status,
        price_id=args.price,
        amount=args.amount,
        currency=args.currency,
        interval=args.interval,
        cancel_at_period_end=args.cancel_at_period_end,
        event_id=args.event_id,
    )
    sample = samples.signed(spec, connection.webhook_secrets[0])
    url = f"{(args.url or settings.base_url).rstrip('/')}/webhooks/{args.provider}/{connection.id}"
    print(  # noqa: T201 - CLI output
        f"{spec.type} {sample.event_id} (subscription {spec.subscription_id}, customer {spec.customer_id})"
        f" -> {url}",
        flush=True,
    )
    return _post(url, sample.body, sample.headers)


def _refusal(args: argparse.Namespace, samples: Samples) -> str | None:
    """Why the arguments make no event of this provider, or None."""
    if args.type not in samples.event_types:
        return f"{args.provider} events are {', '.join(samples.event_types)}"
    if args.status not in samples.statuses:
        return f"{args.provider} statuses are {', '.join(samples.statuses)}"
    if args.type in samples.payments and not args.subscription:
        return f"{args.type} needs --subscription (the subscription it pays for)"
    return None


def _database(settings: Settings) -> str:
    """Where the command looked, for people: the SQLite file, or the MongoDB URL without its password."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import httpx  # noqa: PLC0415 - only this command talks HTTP

    try:
        response = httpx.post(url, content=body, headers=headers, timeout=SEND_TIMEOUT_SECONDS)
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        print(f"subgate: cannot reach {url}: {reason}; is subgate running?", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    print(f"{response.status_code} {response.text}")  # noqa: T201 - CLI output
    return 0 if response.is_success else 1


async def _connection(settings: Settings, connection_id: str) -> Connection:
    async with opened_store(settings) as store:
        return await MerchantsInternal(StoreTxn(store), system_clock).connection(connection_id)


def _usage(message: str) -> int:
    print(f"subgate: {message}", file=sys.stderr)  # noqa: T201 - CLI output
    return USAGE_EXIT
