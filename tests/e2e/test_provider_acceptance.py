"""Black box through `subgate dev`: Polar both ways, Paddle, a paid renewal, the first active sight's email.

- a Polar event signed the new way (Standard Webhooks, the `whsec_` secret decoded) and one
  signed the old way (the secret's own bytes) are both 200 and applied, and the connection
  shows the way that last verified;
- a Paddle `subscription.created` then a `subscription.updated` with a scheduled cancel ends
  `active` with `cancel_at_period_end: true`; a bad `h1` is 401 and stores nothing;
- a Stripe `invoice.paid` for the next cycle alone moves `current_period_end`, told once as
  `subscription.renewed`;
- a subscription first seen active, with its customer's email, sends that customer one email
  over SMTP (a real SMTP server on loopback), however many active snapshots follow.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from svix.webhooks import Webhook

from domain.shared.clock import public_time
from integrations.providers.paddle import samples as paddle
from integrations.providers.polar import samples as polar
from integrations.providers.stripe.samples import invoice_paid_event, signed_headers, subscription_event
from tests.e2e.conftest import DevService
from tests.e2e.test_provider_events import connect, processed, subscription_of
from tests.support.cli import dev_env, running_dev, wait_until_healthy
from tests.support.receiver import running_receiver
from tests.support.service_processes import eventually
from tests.support.signatures import paddle_headers_by_hand

POLAR_SECRET = "whsec_ZTJlLXBvbGFyLWJvdGgtd2F5cy1zZWNyZXQ="
PADDLE_SECRET = "pdl_ntfset_01jfq2e2e0paddle0secret_ZTJl"
STRIPE_SECRET = "whsec_e2e_acceptance_stripe"
DAY = 86_400


def polar_headers(body: bytes, message_id: str, *, new_way: bool) -> dict[str, str]:
    key = POLAR_SECRET if new_way else base64.b64encode(POLAR_SECRET.encode()).decode()
    now = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(now),
        "webhook-signature": Webhook(key).sign(message_id, datetime.fromtimestamp(now, UTC), body.decode()),
    }


async def test_a_polar_event_signed_either_way_is_accepted_and_applied(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    connection = await connect(client, "polar", POLAR_SECRET)
    url = f"/webhooks/polar/{connection['id']}"
    base = datetime.now(UTC).replace(microsecond=0)
    steps: list[tuple[str, dict[str, Any], bool, str]] = [
        ("msg_e2e_new_way", {"status": "active", "modified_at": base}, True, "standard_webhooks"),
        (
            "msg_e2e_old_way",
            {"status": "past_due", "modified_at": base + timedelta(seconds=30)},
            False,
            "secret_bytes",
        ),
    ]
    for message_id, fields, new_way, scheme in steps:
        body = polar.subscription_event("subscription.updated", sub_id="polar-both-ways", **fields)
        response = await client.post(
            url, content=body, headers=polar_headers(body, message_id, new_way=new_way)
        )

        assert response.json() == {"status": "accepted"}, response.text
        assert (await processed(client, connection["id"], message_id))["status"] == "applied"
        shown = (await client.get(f"/v1/connections/{connection['id']}")).json()
        assert shown["signing_scheme"] == scheme

    assert (await subscription_of(client, "polar-both-ways"))["status"] == "past_due"


async def test_paddle_created_then_a_scheduled_cancel_ends_active_and_set_to_cancel(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    connection = await connect(client, "paddle", PADDLE_SECRET)
    url = f"/webhooks/paddle/{connection['id']}"
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now, now + timedelta(days=365)
    change = {"action": "cancel", "effective_at": paddle.iso(end), "resume_at": None}
    events: list[tuple[str, str, dict[str, Any]]] = [
        ("evt_e2e_paddle_1", "subscription.created", {"updated_at": now}),
        (
            "evt_e2e_paddle_2",
            "subscription.updated",
            {"updated_at": now + timedelta(seconds=1), "scheduled_change": change},
        ),
    ]
    for event_id, event_type, fields in events:
        body = paddle.subscription_event(
            event_type,
            event_id=event_id,
            sub_id="sub_e2e_paddle",
            period_start=start,
            period_end=end,
            **fields,
        )
        headers = paddle_headers_by_hand(body, [PADDLE_SECRET], int(time.time()))
        response = await client.post(url, content=body, headers=headers)
        assert response.json() == {"status": "accepted"}, response.text
        assert (await processed(client, connection["id"], event_id))["status"] == "applied"

    subscription = await subscription_of(client, "sub_e2e_paddle")
    assert (subscription["provider"], subscription["status"], subscription["cancel_at_period_end"]) == (
        "paddle",
        "active",
        True,
    )
    assert subscription["current_period_end"] == public_time(end)

    body = paddle.subscription_event(
        event_id="evt_e2e_paddle_forged", sub_id="sub_e2e_paddle", status="canceled"
    )
    forged = paddle_headers_by_hand(body, ["pdl_ntfset_not_the_secret"], int(time.time()))
    response = await client.post(url, content=body, headers=forged)
    assert response.status_code == 401
    listed = (await client.get("/v1/inbound-events", params={"connection_id": connection["id"]})).json()[
        "data"
    ]
    assert len(listed) == 2


async def test_an_invoice_paid_for_the_next_cycle_alone_moves_the_period(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    now = int(time.time())
    first, second = (now - 10 * DAY, now + 20 * DAY), (now + 20 * DAY, now + 50 * DAY)
    async with running_receiver() as receiver:
        connection = await connect(client, "stripe", STRIPE_SECRET)
        assert (await client.post("/v1/endpoints", json={"url": receiver.url})).status_code == 201
        url = f"/webhooks/stripe/{connection['id']}"
        created = subscription_event(
            "customer.subscription.created",
            event_id="evt_e2e_renew_created",
            created=now - 100,
            sub_id="sub_e2e_renew",
            period_start=first[0],
            period_end=first[1],
        )
        paid = invoice_paid_event(
            event_id="evt_e2e_renew_paid",
            created=now,
            invoice_id="in_e2e_cycle_2",
            subscription="sub_e2e_renew",
            period_start=second[0],
            period_end=second[1],
            billing_reason="subscription_cycle",
        )
        for event_id, body in (("evt_e2e_renew_created", created), ("evt_e2e_renew_paid", paid)):
            response = await client.post(
                url, content=body, headers=signed_headers(body, STRIPE_SECRET, int(time.time()))
            )
            assert response.json() == {"status": "accepted"}, response.text
            assert (await processed(client, connection["id"], event_id))["status"] == "applied"
        await receiver.wait_for(3, deadline_seconds=30)

        subscription = await subscription_of(client, "sub_e2e_renew")
        assert subscription["current_period_end"] == public_time(datetime.fromtimestamp(second[1], UTC))
        assert subscription["current_period_start"] == public_time(datetime.fromtimestamp(second[0], UTC))
        told = [json.loads(r.body)["type"] for r in receiver.received]
        assert sorted(told) == ["payment.succeeded", "subscription.created", "subscription.renewed"]


# --------------------------------------------------------------------------- email over SMTP


@dataclass
class Inbox:
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802, ARG002 - aiosmtpd's hook
        parsed = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box, port = Inbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def mailing_dev(tmp_path: Path, inbox: tuple[Inbox, int]) -> Iterator[DevService]:
    env = dev_env(
        tmp_path, SUBGATE_SMTP_URL=f"smtp://127.0.0.1:{inbox[1]}", SUBGATE_EMAIL_FROM="billing@shop.example"
    )
    with running_dev(env, tmp_path) as dev:
        assert dev.api_key is not None
        yield DevService(base_url=dev.base_url, api_key=dev.api_key, env=env, cwd=tmp_path, process=dev)


@pytest.fixture
async def mailing_client(mailing_dev: DevService) -> AsyncIterator[httpx.AsyncClient]:
    await wait_until_healthy(mailing_dev.base_url)
    async with httpx.AsyncClient(base_url=mailing_dev.base_url, headers=mailing_dev.auth, timeout=10) as http:
        yield http


async def test_an_active_first_sight_with_an_email_sends_one_email_over_smtp(
    mailing_client: httpx.AsyncClient, inbox: tuple[Inbox, int]
) -> None:
    box, _ = inbox
    client = mailing_client
    connection = await connect(client, "stripe", STRIPE_SECRET)
    url = f"/webhooks/stripe/{connection['id']}"
    now = int(time.time())
    customer = {"id": "cus_e2e_mail", "email": "ada@example.com"}
    bodies = [
        (
            "evt_e2e_mail_created",
            subscription_event(
                "customer.subscription.created",
                event_id="evt_e2e_mail_created",
                created=now - 60,
                sub_id="sub_e2e_mail",
                customer=customer,
                nickname="Pro monthly",
            ),
        ),
        (
            "evt_e2e_mail_again",
            subscription_event(
                event_id="evt_e2e_mail_again",
                created=now - 30,
                sub_id="sub_e2e_mail",
                customer=customer,
                nickname="Pro monthly",
                cancel_at_period_end=True,
            ),
        ),
    ]
    for event_id, body in bodies:
        response = await client.post(
            url, content=body, headers=signed_headers(body, STRIPE_SECRET, int(time.time()))
        )
        assert response.json() == {"status": "accepted"}, response.text
        assert (await processed(client, connection["id"], event_id))["status"] == "applied"

    async def sent() -> bool:
        return len(box.messages) >= 1

    await eventually(sent, "the activation email reaches the SMTP server")

    async def settled() -> bool:
        emails = (await client.get("/v1/deliveries", params={"channel": "email"})).json()["data"]
        return bool(emails) and all(d["status"] != "pending" for d in emails)

    await eventually(settled, "every email delivery is settled")
    [(recipients, message)] = box.messages
    assert recipients == ["ada@example.com"]
    assert message["Subject"] == "Your Pro monthly subscription is active"
    emails = (await client.get("/v1/deliveries", params={"channel": "email"})).json()["data"]
    assert [(d["event_type"], d["status"]) for d in emails] == [("subscription.activated", "succeeded")]
