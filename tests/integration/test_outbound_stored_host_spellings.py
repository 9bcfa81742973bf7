"""Endpoints stored earlier (while private targets were allowed, or before URLs were normalised)
are refused at delivery once the setting is off, whatever the spelling of their host.

A real loopback receiver listens on the port every URL names: a spelling that slipped past
the guards would reach it. The look-up answers the receiver's address for any name and
records what it was asked (nothing, for this corpus).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from domain.notifications.model import new_signing_secret
from domain.notifications.ports import OutboundWebhook, SendResult
from gateway.app import create_app
from integrations.delivery.http.sender import HttpWebhookSender, OutboundClient
from integrations.providers.stripe.signature import sign_stripe_payload
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import Deps, build, migrate
from subgate.settings import load_settings
from tests.integration.test_pipeline import subscription_created
from tests.support.host_spellings import (
    FULLWIDTH,
    SEGMENTED,
    Spelling,
    every_digit_in_each_octet,
    named_spellings,
)
from tests.support.receiver import Receiver, running_receiver
from tests.support.work import run_until_idle
from workers.pipeline import Pipeline

STRIPE_SECRET = "whsec_stored_spellings"


@dataclass
class ToTheReceiver:
    """A look-up answering the receiver's address (loopback) for every name it is asked."""

    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:  # noqa: ARG002 - the Lookup signature
        self.asked.append(host)
        return ["127.0.0.1"]


@asynccontextmanager
async def sender(*, allow_private: bool, lookup: ToTheReceiver) -> AsyncIterator[HttpWebhookSender]:
    telemetry = Telemetry("subgate-test")
    client: OutboundClient = OutboundClient(allow_private_targets=allow_private, lookup=lookup)
    try:
        yield HttpWebhookSender(client, telemetry, 5.0)
    finally:
        await client.aclose()
        telemetry.shutdown()


def webhook(url: str) -> OutboundWebhook:
    return OutboundWebhook(
        url=url,
        message_id="msg_spellings",
        timestamp=datetime.now(UTC),
        body=b'{"id":"msg_spellings"}',
        secrets=(new_signing_secret(),),
    )


def port_of(receiver: Receiver) -> int:
    return int(receiver.url.split(":")[2].split("/")[0])


def wrong_result(spelling: Spelling, result: SendResult) -> str | None:
    error = result.error or ""
    if (
        result.status_code is not None
        or not error.startswith("refused target: ")
        or spelling.reason not in error
    ):
        return f"{spelling}: {result.status_code} {error}"
    return None


async def test_every_spelling_of_a_host_inside_our_network_is_refused_at_delivery() -> None:
    lookup = ToTheReceiver()
    spellings = [*named_spellings(), *every_digit_in_each_octet()]
    async with running_receiver() as receiver, sender(allow_private=False, lookup=lookup) as refusing:
        port = port_of(receiver)
        results = [(spelling, await refusing.send(webhook(spelling.url(port)))) for spelling in spellings]

    assert receiver.received == []
    assert [problem for spelling, result in results if (problem := wrong_result(spelling, result))] == []
    assert lookup.asked == []


@pytest.mark.parametrize("host", [FULLWIDTH, SEGMENTED, "127\u30020\u30020\u30021", "[::ffff:127.0.0.1]"])
async def test_with_private_targets_allowed_such_a_spelling_does_reach_the_loopback_receiver(
    host: str,
) -> None:
    # What the corpus above would do without the guards: these spellings are the loopback address.
    async with running_receiver() as receiver, sender(allow_private=True, lookup=ToTheReceiver()) as allowing:
        result = await allowing.send(webhook(f"http://{host}:{port_of(receiver)}/hooks"))

    assert result.ok, result.error
    # An IPv4-mapped address reaches the IPv4 listener through a dual-stack socket.
    assert len(receiver.received) == 1


@asynccontextmanager
async def service(
    data_dir: Path, redis_url: str, *, allow_private: str
) -> AsyncIterator[tuple[Deps, httpx.AsyncClient]]:
    settings = load_settings(
        {
            "SUBGATE_DATA_DIR": str(data_dir),
            "SUBGATE_DATABASE_URL": f"sqlite:///{data_dir / 'subgate.db'}",
            "SUBGATE_ALLOW_PRIVATE_TARGETS": allow_private,
            "SUBGATE_RETRY_SCHEDULE": "0",
            "SUBGATE_DELIVERY_TIMEOUT_SECONDS": "5",
        },
        dotenv=None,
    )
    deps = await build(settings, redis_url=redis_url)
    try:
        await migrate(deps.store)
        transport = httpx.ASGITransport(app=create_app(deps.gateway), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://subgate.test") as client:
            yield deps, client
    finally:
        await deps.close()


# Written straight into the store, as endpoints registered before URLs were normalised were kept.
STORED_EARLIER = (FULLWIDTH, SEGMENTED, "127.1", "[::ffff:7f00:1]", "localhost")


async def test_endpoints_stored_earlier_are_refused_after_a_restart_without_the_setting(
    tmp_path: Path, redis_url: str
) -> None:
    async with running_receiver() as receiver:
        port = port_of(receiver)
        async with service(tmp_path, redis_url, allow_private="true") as (deps, client):
            await deps.redis.flushdb()
            _, api_key = await deps.admin.create_merchant("Stored earlier")
            auth = {"authorization": f"Bearer {api_key}"}
            connection = await client.post(
                "/v1/connections",
                headers=auth,
                json={"provider": "stripe", "webhook_secrets": [STRIPE_SECRET]},
            )
            assert connection.status_code == 201, connection.text
            for host in STORED_EARLIER:
                created = await client.post("/v1/endpoints", headers=auth, json={"url": receiver.url})
                assert created.status_code == 201, created.text
                async with deps.store.session() as session:
                    changed = await session.update_where(
                        "endpoints", {"id": created.json()["id"]}, {"url": f"http://{host}:{port}/hooks"}
                    )
                assert changed == 1

        async with service(tmp_path, redis_url, allow_private="false") as (deps, client):
            body = subscription_created()
            signature = sign_stripe_payload(body, STRIPE_SECRET, int(time.time()))
            accepted = await client.post(
                f"/webhooks/stripe/{connection.json()['id']}",
                content=body,
                headers={"content-type": "application/json", "stripe-signature": signature},
            )
            assert accepted.status_code == 200, accepted.text
            await run_until_idle(Pipeline(deps.worker, "after-restart"))
            deliveries = (await client.get("/v1/deliveries", headers=auth)).json()["data"]

    assert receiver.received == []
    assert len(deliveries) == len(STORED_EARLIER)
    errors = [attempt["error"] for delivery in deliveries for attempt in delivery["attempts"]]
    assert len(errors) == 2 * len(STORED_EARLIER)  # the first attempt and its one retry
    assert all(error.startswith("refused target: ") for error in errors), errors
