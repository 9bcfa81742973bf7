"""Black box: `subgate dev` as a user starts it, driven only through HTTP and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from svix.webhooks import Webhook

from integrations.stripe.signature import sign_stripe_payload
from tests.support.cli import run_cli
from tests.support.receiver import running_receiver

STRIPE_SECRET = "whsec_e2e_stripe_secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DevService:
    base_url: str
    api_key: str
    env: dict[str, str]
    process: subprocess.Popen[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}


def _read_banner(process: subprocess.Popen[str], deadline: float) -> tuple[str, str]:
    assert process.stdout is not None
    url = key = None
    while (url is None or key is None) and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if match := re.search(r"running at (\S+)", line):
            url = match.group(1)
        if match := re.search(r"API key \(shown once\): (\S+)", line):
            key = match.group(1)
    assert url, "subgate dev did not print its URL"
    assert key, "subgate dev did not print the demo API key"
    return url, key


@pytest.fixture
def dev_service(tmp_path: Path) -> Iterator[DevService]:
    env = {
        **os.environ,
        "SUBGATE_DATA_DIR": str(tmp_path / "data"),
        "SUBGATE_PORT": str(_free_port()),
        "SUBGATE_ALLOW_PRIVATE_TARGETS": "true",
        "SUBGATE_RETRY_SCHEDULE": "0.2,0.2",
        "SUBGATE_SWEEP_INTERVAL_SECONDS": "1",
        "SUBGATE_LOG_FORMAT": "json",
    }
    env.pop("SUBGATE_REDIS_URL", None)
    env.pop("SUBGATE_DATABASE_URL", None)
    log = (tmp_path / "dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "subgate", "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=tmp_path,
    )
    try:
        url, key = _read_banner(process, time.monotonic() + 60)
        yield DevService(base_url=url, api_key=key, env=env, process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        finally:
            assert process.stdout is not None
            process.stdout.close()
            log.close()
        assert code == 0, (tmp_path / "dev.log").read_text()[-3000:]


@pytest.fixture
async def client(dev_service: DevService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=dev_service.base_url, headers=dev_service.auth, timeout=10) as http:
        async with asyncio.timeout(30):
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)  # polling the server's readiness, bounded by the timeout above
        yield http


def _event(event_id: str, subscription_id: str) -> bytes:
    now = int(time.time())
    return orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "customer.subscription.created",
            "created": now,
            "data": {
                "object": {
                    "id": subscription_id,
                    "object": "subscription",
                    "customer": "cus_e2e",
                    "status": "active",
                    "cancel_at_period_end": False,
                    "canceled_at": None,
                    "trial_end": None,
                    "metadata": {},
                    "items": {
                        "object": "list",
                        "data": [
                            {
                                "id": "si_e2e",
                                "current_period_start": now,
                                "current_period_end": now + 86400 * 30,
                                "price": {
                                    "id": "price_e2e",
                                    "currency": "eur",
                                    "unit_amount": 900,
                                    "recurring": {"interval": "month", "interval_count": 1},
                                },
                            }
                        ],
                    },
                }
            },
        }
    )


async def _setup(client: httpx.AsyncClient, receiver_url: str) -> tuple[str, str]:
    conn = await client.post(
        "/v1/connections", json={"provider": "stripe", "webhook_secrets": [STRIPE_SECRET]}
    )
    endpoint = await client.post("/v1/endpoints", json={"url": receiver_url})
    assert conn.status_code == endpoint.status_code == 201
    return conn.json()["webhook_url"], endpoint.json()["secret"]


async def _post(client: httpx.AsyncClient, webhook_url: str, body: bytes) -> str:
    headers = {
        "content-type": "application/json",
        "stripe-signature": sign_stripe_payload(body, STRIPE_SECRET, int(time.time())),
    }
    response = await client.post(webhook_url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def _wait_for_delivery_status(
    client: httpx.AsyncClient, status: str, count: int
) -> list[dict[str, object]]:
    async with asyncio.timeout(20):
        while True:
            deliveries: list[dict[str, object]] = (await client.get("/v1/deliveries")).json()["data"]
            if len(deliveries) >= count and all(d["status"] == status for d in deliveries):
                return deliveries
            await asyncio.sleep(0.05)  # polling the running service, bounded by the timeout above


async def test_event_to_signed_notification_then_duplicate(client: httpx.AsyncClient) -> None:
    async with running_receiver() as receiver:
        webhook_url, endpoint_secret = await _setup(client, receiver.url)
        body = _event("evt_e2e_1", "sub_e2e_1")
        assert await _post(client, webhook_url, body) == "accepted"
        await receiver.wait_for(1)
        Webhook(endpoint_secret).verify(receiver.received[0].body, receiver.received[0].headers)

        found = await client.get("/v1/subscriptions", params={"provider_subscription_id": "sub_e2e_1"})
        assert [s["status"] for s in found.json()["data"]] == ["active"]

        assert await _post(client, webhook_url, body) == "duplicate"
        await _wait_for_delivery_status(client, "succeeded", 1)
        assert len((await client.get("/v1/inbound-events")).json()["data"]) == 1
        assert len((await client.get("/v1/deliveries")).json()["data"]) == 1
        assert len(receiver.received) == 1


async def test_failing_endpoint_becomes_dead_letter_visible_to_cli(
    client: httpx.AsyncClient, dev_service: DevService
) -> None:
    async with running_receiver(status_for=lambda _n: 500) as receiver:
        webhook_url, _ = await _setup(client, receiver.url)
        assert await _post(client, webhook_url, _event("evt_e2e_2", "sub_e2e_2")) == "accepted"
        await _wait_for_delivery_status(client, "dead", 1)
        assert len(receiver.received) == 3  # len(schedule) + 1

    dead = (await client.get("/v1/dead-letters")).json()["data"]
    assert len(dead) == 1
    listed = await run_cli(
        "dlq", "list", "--json", env=dev_service.env, cwd=Path(dev_service.env["SUBGATE_DATA_DIR"]).parent
    )
    assert [row["id"] for row in json.loads(listed)] == [dead[0]["id"]]
