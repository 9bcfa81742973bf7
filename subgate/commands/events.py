"""`subgate events send stripe|paddle TYPE --connection ID`: play the provider, without its CLI.

The event is signed with the connection's first webhook secret (read from the store, as an
operator would) and posted to the running service's inbound webhook URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

from domain.merchants.internal import MerchantsInternal
from domain.merchants.model import Connection
from domain.shared.clock import system_clock
from integrations.providers.paddle.signature import sign_paddle_payload
from integrations.providers.stripe.signature import sign_stripe_payload
from integrations.stores.txn import StoreTxn
from subgate.commands import paddle_events
from subgate.commands.store import opened_store
from subgate.commands.stripe_events import (
    EVENT_TYPES as STRIPE_TYPES,
    INVOICE_PAID,
    EventSpec,
    build_event,
    stripe_id,
)
from subgate.settings import Settings

USAGE_EXIT = 2
SEND_TIMEOUT_SECONDS = 30.0


# Each provider's event types, and the one that pays for a subscription (it needs its id).
EVENT_TYPES = {"stripe": STRIPE_TYPES, "paddle": paddle_events.EVENT_TYPES}
_PAYMENTS = {"stripe": INVOICE_PAID, "paddle": paddle_events.TRANSACTION_COMPLETED}


def send(args: argparse.Namespace, settings: Settings) -> int:
    if args.type not in EVENT_TYPES[args.provider]:
        return _usage(
            f"{args.provider} sends none of {args.type}; one of {', '.join(EVENT_TYPES[args.provider])}"
        )
    if args.type == _PAYMENTS[args.provider] and not args.subscription:
        return _usage(f"{args.type} needs --subscription sub_... (the subscription it pays for)")
    connection = asyncio.run(_connection(settings, args.connection))
    if connection.provider.value != args.provider:
        return _usage(f"connection {connection.id} is a {connection.provider.value} connection")
    subscription_id = args.subscription or stripe_id("sub")
    spec = EventSpec(
        type=args.type,
        now=datetime.now(UTC),
        subscription_id=subscription_id,
        # One customer per subscription unless told otherwise, so that later events agree.
        customer_id=args.customer or "cus_" + subscription_id.removeprefix("sub_"),
        status=args.status,
        price_id=args.price,
        amount=args.amount,
        currency=args.currency,
        interval=args.interval,
        cancel_at_period_end=args.cancel_at_period_end,
        event_id=args.event_id,
    )
    url = f"{(args.url or settings.base_url).rstrip('/')}/webhooks/{args.provider}/{connection.id}"
    secret = connection.webhook_secrets[0]
    if args.provider == "paddle":
        try:
            event = paddle_events.build_event(spec)
        except ValueError as error:
            return _usage(str(error))
        event_id = event["event_id"]
        body = json.dumps(event, separators=(",", ":")).encode()
        signature = {"paddle-signature": sign_paddle_payload(body, [secret], int(spec.now.timestamp()))}
    else:
        event = build_event(spec)
        event_id = event["id"]
        body = json.dumps(event, separators=(",", ":")).encode()
        signature = {"stripe-signature": sign_stripe_payload(body, secret, event["created"])}
    print(  # noqa: T201 - CLI output
        f"{spec.type} {event_id} (subscription {spec.subscription_id}, customer {spec.customer_id}) -> {url}",
        flush=True,
    )
    return _post(url, body, {"content-type": "application/json; charset=utf-8", **signature})


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
