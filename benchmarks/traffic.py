"""What the benchmarks send and how they set a service up for it, through its public interfaces.

Events are distinct `customer.subscription.created` events shaped like Stripe's and signed with
the connection's secret; bodies and signatures are all made before any timing starts. A
merchant is made with `subgate merchants create`, its connection and endpoint with the REST API
of the running service, as an operator and a merchant would.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.processes import HOST, BenchmarkError, run_subgate_cli
from integrations.providers.stripe.signature import sign_stripe_payload

WEBHOOK_SECRET = "whsec_benchmark_0123456789abcdef"  # noqa: S105 - signs generated traffic only


@dataclass(frozen=True, slots=True)
class SignedRequest:
    body: bytes
    signature: str
    subscription: str  # the provider subscription id, which the notification carries too


def subscription_id(run: str, number: int) -> str:
    return f"sub_bench_{run}_{number}"


def subscription_created(number: int, run: str, created: int) -> bytes:
    """A `customer.subscription.created` event, unique per (run, number), shaped like Stripe's."""
    event: dict[str, Any] = {
        "id": f"evt_bench_{run}_{number}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": "customer.subscription.created",
        "created": created,
        "livemode": False,
        "data": {
            "object": {
                "id": subscription_id(run, number),
                "object": "subscription",
                "customer": f"cus_bench_{run}_{number}",
                "status": "active",
                "cancel_at_period_end": False,
                "canceled_at": None,
                "trial_end": None,
                "metadata": {"benchmark": run},
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": f"si_bench_{run}_{number}",
                            "current_period_start": created,
                            "current_period_end": created + 30 * 86_400,
                            "price": {
                                "id": "price_bench",
                                "currency": "usd",
                                "unit_amount": 2000,
                                "recurring": {"interval": "month", "interval_count": 1},
                            },
                        }
                    ],
                },
            }
        },
    }
    return orjson.dumps(event)


def signed_events(count: int, run: str) -> list[SignedRequest]:
    now = int(time.time())
    requests = []
    for number in range(count):
        body = subscription_created(number, run, now)
        requests.append(
            SignedRequest(
                body=body,
                signature=sign_stripe_payload(body, WEBHOOK_SECRET, now),
                subscription=subscription_id(run, number),
            )
        )
    return requests


def create_merchant(env: dict[str, str], cwd: Path) -> str:
    """`subgate merchants create` on the data dir of `env`; returns the merchant's API key."""
    created = json.loads(run_subgate_cli(["merchants", "create", "Benchmark merchant"], env, cwd))
    return str(created["api_key"])


@dataclass(frozen=True, slots=True)
class Merchant:
    """A merchant of a running service, with one Stripe connection and maybe one endpoint."""

    base_url: str
    api_key: str
    webhook_url: str

    async def get_json(self, path: str) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(headers=self._auth()) as session,
            session.get(f"{self.base_url}{path}") as response,
        ):
            text = await response.text()
            if response.status != 200:
                raise BenchmarkError(f"GET {path} answered {response.status}: {text}")
        document: dict[str, Any] = json.loads(text)
        return document

    def _auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}


async def set_up_merchant(port: int, api_key: str, endpoint_url: str | None) -> Merchant:
    """A Stripe connection (and an endpoint at `endpoint_url`) for the merchant of `api_key`."""
    base = f"http://{HOST}:{port}"
    async with aiohttp.ClientSession(headers={"authorization": f"Bearer {api_key}"}) as session:
        connection = await _post(
            session, f"{base}/v1/connections", {"provider": "stripe", "webhook_secrets": [WEBHOOK_SECRET]}
        )
        if endpoint_url is not None:
            await _post(session, f"{base}/v1/endpoints", {"url": endpoint_url})
    url = f"{base}/webhooks/stripe/{connection['id']}"
    if connection.get("webhook_url") != url:
        raise BenchmarkError(f"unexpected webhook_url {connection.get('webhook_url')!r}; expected {url!r}")
    return Merchant(base_url=base, api_key=api_key, webhook_url=url)


async def _post(session: aiohttp.ClientSession, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    async with session.post(url, json=payload) as response:
        text = await response.text()
        if response.status != 201:
            raise BenchmarkError(f"POST {url} answered {response.status}: {text}")
    document: dict[str, Any] = json.loads(text)
    return document
