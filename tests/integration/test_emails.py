"""Customer emails against a real SMTP server on loopback (aiosmtpd).

Success (with auth, both bodies, the HTML escaped), a server that is down (retries, a dead
letter of kind `email`, a replay once it is back, delivered), and header injection attempts.
The domain services run over the in-memory store with a fake clock; only SMTP is real.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from domain.notifications.internal import DeadLettersInternal, DeliveryOptions, NotificationsInternal
from domain.notifications.model import Channel, DeadLetterKind, DeliveryStatus
from domain.notifications.ports import OutboundEmail
from domain.notifications.retry import RetryPolicy
from domain.shared.events import DomainEvent, EventType
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import PageRequest
from domain.subscriptions.model import Customer
from integrations.delivery.email.mailers import KEPT_NOTE, KeepingMailer, SmtpMailer
from integrations.delivery.email.message import HeaderInjection, build_message
from integrations.delivery.email.render import EmailRenderer, RenderedEmail
from integrations.delivery.email.url import parse_smtp_url
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import Services, build_services
from tests.support.work import deliver_due

MERCHANT = "mer_1"
SENDER = "billing@shop.example"
SCHEDULE = (30.0, 60.0)


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server accepted: envelopes, parsed messages and the logins it saw."""

    envelopes: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    # aiosmtpd calls its hooks with these arguments, used or not.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802, ARG002
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def authenticate(
        self,
        server: SMTP,  # noqa: ARG002
        session: Session,  # noqa: ARG002
        envelope: Envelope,  # noqa: ARG002
        mechanism: str,  # noqa: ARG002
        auth_data: Any,
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")


@asynccontextmanager
async def smtp_server(inbox: Inbox, port: int) -> AsyncIterator[None]:
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,  # loopback only, in a test
    )
    await asyncio.to_thread(controller.start)
    try:
        yield
    finally:
        await asyncio.to_thread(controller.stop)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def services(port: int) -> Services:
    built = build_services(policy=RetryPolicy(schedule=SCHEDULE, jitter=0.0))
    mailer = SmtpMailer(
        parse_smtp_url(f"smtp://shop%40example:s3cret@127.0.0.1:{port}"), SENDER, EmailRenderer(), timeout=5.0
    )
    built.notifications = NotificationsInternal(
        built.txn, built.clock, built.signal, built.sender, built.policy, 5.0, mailer=mailer
    )
    return built


async def add_customer(services: Services, address: str) -> None:
    customer = Customer(
        id="cus_1", merchant_id=MERCHANT, email=address, name=None, created_at=services.clock()
    )

    async def work(unit: StoreUnit) -> None:
        await unit.customers.add(customer)

    await services.txn(work)


async def add_message(
    services: Services,
    event_type: EventType = EventType.SUBSCRIPTION_ACTIVATED,
    plan: str = "Pro <b>monthly</b>",
) -> OutboxMessage:
    subscription = {
        "id": "sub_1",
        "customer_id": "cus_1",
        "plan_name": plan,
        "amount": 4900,
        "currency": "eur",
        "interval": "month",
        "interval_count": 1,
        "current_period_end": "2025-02-01T00:00:00.000000Z",
        "provider_subscription_id": "sub_1QxStripe",
    }
    event = DomainEvent(
        type=event_type,
        merchant_id=MERCHANT,
        subject_id="sub_1",
        occurred_at=services.clock(),
        data={"subscription": subscription},
    )
    message = OutboxMessage.from_event(event, {})

    async def work(unit: StoreUnit) -> None:
        await unit.outbox.append(message)

    await services.txn(work)
    return message


async def email_deliveries(services: Services) -> list[dict[str, Any]]:
    return [d for d in services.store.inserted("deliveries") if d["channel"] == Channel.EMAIL.value]


async def test_an_email_is_sent_with_auth_a_text_and_an_escaped_html_body(
    services: Services, port: int
) -> None:
    inbox = Inbox()
    await add_customer(services, "ada@example.com")
    message = await add_message(services)
    await services.notifications.dispatch_pending()

    async with smtp_server(inbox, port):
        [sent] = await deliver_due(services.notifications, "worker-1")

    assert sent.status == DeliveryStatus.SUCCEEDED, sent.attempts
    assert sent.attempts[0].status_code == 250
    assert inbox.logins == [(b"shop@example", b"s3cret")]
    [(mail_from, rcpt_tos, mail)] = inbox.envelopes
    assert (mail_from, rcpt_tos) == (SENDER, ["ada@example.com"])
    assert mail["To"] == "ada@example.com"
    assert mail["From"] == SENDER
    assert mail["Subject"] == "Your Pro <b>monthly</b> subscription is active"
    assert mail["Message-ID"] == f"<{sent.id}@shop.example>"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Pro <b>monthly</b>" in text.get_content()
    assert "49.00 EUR every month" in text.get_content()
    assert "Pro &lt;b&gt;monthly&lt;/b&gt;" in html.get_content()
    assert "<b>monthly</b>" not in html.get_content()
    assert message.id == sent.message_id


async def test_a_server_that_is_down_leads_to_retries_a_dead_letter_and_a_replay_that_delivers(
    services: Services, port: int
) -> None:
    inbox = Inbox()
    await add_customer(services, "ada@example.com")
    await add_message(services, EventType.SUBSCRIPTION_CANCELED)
    await services.notifications.dispatch_pending()

    # Nobody listens on the port: every attempt is refused, on the retry schedule.
    [first] = await deliver_due(services.notifications, "worker-1")
    assert first.status == DeliveryStatus.FAILED
    assert first.attempts[0].error == "connection refused"
    for delay in SCHEDULE:
        services.clock.advance(delay)
        await deliver_due(services.notifications, "worker-1")
    [dead] = await email_deliveries(services)
    assert dead["status"] == "dead"
    [letter] = (await services.dead_letters.list(MERCHANT, DeadLetterKind.EMAIL, PageRequest())).items
    assert letter.reason == "gave up after 3 attempts; last: connection refused"

    async with smtp_server(inbox, port):
        replayed = await DeadLettersInternal(services.txn, services.clock).replay(letter.id)
        assert replayed.status == DeliveryStatus.PENDING
        [delivered] = await deliver_due(services.notifications, "worker-1")

    assert delivered.status == DeliveryStatus.SUCCEEDED
    assert [rcpt for _, rcpt, _ in inbox.envelopes] == [["ada@example.com"]]
    assert inbox.envelopes[0][2]["Subject"] == "Your Pro <b>monthly</b> subscription was canceled"


async def test_a_line_break_in_a_provider_value_cannot_add_a_header(services: Services, port: int) -> None:
    inbox = Inbox()
    await add_customer(services, "ada@example.com")
    await add_message(services, plan="Pro\r\nBcc: eve@example.com\r\nX-Evil: 1")
    await services.notifications.dispatch_pending()

    async with smtp_server(inbox, port):
        [sent] = await deliver_due(services.notifications, "worker-1")

    assert sent.status == DeliveryStatus.SUCCEEDED
    [(_, rcpt_tos, mail)] = inbox.envelopes
    assert rcpt_tos == ["ada@example.com"]
    assert mail["Bcc"] is None
    assert mail["X-Evil"] is None
    assert mail["Subject"] == "Your Pro Bcc: eve@example.com X-Evil: 1 subscription is active"


async def test_an_address_with_a_line_break_gets_no_email(services: Services, port: int) -> None:
    inbox = Inbox()
    await add_customer(services, "ada@example.com\r\nBcc: eve@example.com")
    await add_message(services)

    async with smtp_server(inbox, port):
        await services.notifications.dispatch_pending()
        assert await deliver_due(services.notifications, "worker-1") == []

    assert inbox.envelopes == []
    assert await email_deliveries(services) == []


@pytest.mark.parametrize(
    ("header", "values"),
    [
        ("To", {"to": "ada@example.com\nBcc: eve@example.com"}),
        ("From", {"sender": "billing@shop.example\r\nBcc: eve@example.com"}),
        ("Subject", {"subject": "Hello\rBcc: eve@example.com"}),
    ],
)
def test_the_message_builder_refuses_line_breaks_in_every_header(header: str, values: dict[str, str]) -> None:
    rendered = RenderedEmail(subject=values.get("subject", "Hello"), text="text", html="<p>html</p>")

    with pytest.raises(HeaderInjection) as refused:
        build_message(
            sender=values.get("sender", SENDER),
            to=values.get("to", "ada@example.com"),
            rendered=rendered,
            message_id="<dlv_1@shop.example>",
            date=build_services().clock(),
        )

    assert refused.value.header == header


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


async def test_without_an_smtp_url_an_email_is_kept_as_a_sent_mail_record_and_logged() -> None:
    services = build_services(policy=RetryPolicy(schedule=SCHEDULE, jitter=0.0))
    log = Lines()
    services.notifications = NotificationsInternal(
        services.txn,
        services.clock,
        services.signal,
        services.sender,
        services.policy,
        5.0,
        mailer=KeepingMailer(SENDER, EmailRenderer(), log),
        options=DeliveryOptions(),
    )
    await add_customer(services, "ada@example.com")
    await add_message(services, EventType.SUBSCRIPTION_RENEWED)
    await services.notifications.dispatch_pending()

    [kept] = await deliver_due(services.notifications, "worker-1")

    assert kept.status == DeliveryStatus.SUCCEEDED
    excerpt = kept.attempts[0].response_excerpt or ""
    assert excerpt.startswith(KEPT_NOTE)
    assert "Subject: Your Pro <b>monthly</b> subscription was renewed" in excerpt
    [(event, fields)] = log.lines
    assert event == "email_kept"
    assert fields["to"] == "ada@example.com"
    assert "It now runs until 2025-02-01." in fields["text"]


def test_smtp_urls_carry_tls_and_credentials() -> None:
    plain = parse_smtp_url("smtp://mail.example.com")
    tls = parse_smtp_url("smtps://user%40x:p%3Ass@mail.example.com:2465")

    assert (plain.host, plain.port, plain.tls, plain.username) == ("mail.example.com", 25, False, None)
    assert (tls.port, tls.tls, tls.username, tls.password) == (2465, True, "user@x", "p:ss")
    for bad in ("http://mail.example.com", "smtp://", "smtp://host:99999"):
        with pytest.raises(ValueError, match=r".+"):
            parse_smtp_url(bad)


async def test_an_unknown_notification_type_is_refused_not_sent(port: int) -> None:
    mailer = SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{port}"), SENDER, EmailRenderer(), timeout=1.0)
    result = await mailer.send(
        OutboundEmail(
            to="ada@example.com",
            delivery_id="dlv_1",
            message_id="msg_1",
            event_type="subscription.updated",
            occurred_at=build_services().clock() + timedelta(0),
            data={},
        )
    )

    assert not result.ok
    assert result.error == "not sent: no email template for 'subscription.updated'"
