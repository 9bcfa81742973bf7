"""The two `Mailer`s: SMTP (aiosmtplib), and the one that keeps sent-mail records in the log.

Both render and build the message the same way, so a template or header problem shows up
without a mail server too. Neither raises for a failure: it becomes the attempt's result,
and the delivery is retried on the schedule and dead-lettered like a webhook.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib

from domain.notifications.ports import OutboundEmail, SendResult
from integrations.delivery.email.message import HeaderInjection, build_message, stable_message_id
from integrations.delivery.email.render import EmailRenderer, RenderedEmail, UnknownTemplate
from integrations.delivery.email.url import SmtpTarget
from integrations.delivery.http.failures import MAX_ERROR_LENGTH, transport_failure

SMTP_ACCEPTED = 250
KEPT_NOTE = "kept as a sent-mail record (SUBGATE_SMTP_URL is not set); not sent"
EXCERPT_CHARS = 2048


class Logger(Protocol):
    def info(self, event: str, **fields: Any) -> Any: ...


# An email ready to go: its rendered parts, and the message built from them.
Composed = tuple[RenderedEmail, EmailMessage]


class _Composer:
    def __init__(self, sender: str, renderer: EmailRenderer) -> None:
        self.sender = sender
        self._renderer = renderer

    def compose(self, email: OutboundEmail) -> Composed:
        rendered = self._renderer.render(email.event_type, email.data)
        message = build_message(
            sender=self.sender,
            to=email.to,
            rendered=rendered,
            message_id=stable_message_id(email.delivery_id, self.sender),
            date=email.occurred_at,
        )
        return rendered, message


def _refusal(error: Exception) -> SendResult:
    return SendResult(status_code=None, duration_ms=0, error=f"not sent: {error}"[:MAX_ERROR_LENGTH])


class _ComposingMailer(ABC):
    """Composes each email first: one that cannot be (no template, a header injection) is refused."""

    def __init__(self, sender: str, renderer: EmailRenderer) -> None:
        self._composer = _Composer(sender, renderer)

    async def send(self, email: OutboundEmail) -> SendResult:
        try:
            composed = self._composer.compose(email)
        except (HeaderInjection, UnknownTemplate) as error:
            return _refusal(error)
        return await self._deliver(email, composed)

    @abstractmethod
    async def _deliver(self, email: OutboundEmail, composed: Composed) -> SendResult: ...


class SmtpMailer(_ComposingMailer):
    def __init__(self, target: SmtpTarget, sender: str, renderer: EmailRenderer, timeout: float) -> None:
        super().__init__(sender, renderer)
        self._target = target
        self._timeout = timeout

    async def _deliver(self, _email: OutboundEmail, composed: Composed) -> SendResult:
        message = composed[1]
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        target = self._target
        try:
            _, reply = await aiosmtplib.send(
                message,
                hostname=target.host,
                port=target.port,
                username=target.username,
                password=target.password,
                use_tls=target.tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            first = refused.recipients[0] if refused.recipients else None
            code = first.code if first is not None else None
            text = f"SMTP {code} {first.message}" if first is not None else "every recipient was refused"
            return SendResult(status_code=code, duration_ms=elapsed(), error=text[:MAX_ERROR_LENGTH])
        except aiosmtplib.SMTPResponseException as answer:
            text = f"SMTP {answer.code} {answer.message}"[:MAX_ERROR_LENGTH]
            return SendResult(status_code=answer.code, duration_ms=elapsed(), error=text)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return SendResult(
                status_code=None, duration_ms=elapsed(), error=transport_failure(error, self._timeout)
            )
        return SendResult(
            status_code=SMTP_ACCEPTED, duration_ms=elapsed(), response_excerpt=reply[:EXCERPT_CHARS]
        )


class KeepingMailer(_ComposingMailer):
    """No SMTP server: the email is rendered, built, logged in full and recorded as handled."""

    def __init__(self, sender: str, renderer: EmailRenderer, log: Logger) -> None:
        super().__init__(sender, renderer)
        self._log = log

    async def _deliver(self, email: OutboundEmail, composed: Composed) -> SendResult:
        rendered = composed[0]
        self._log.info(
            "email_kept",
            delivery_id=email.delivery_id,
            message_id=email.message_id,
            to=email.to,
            sender=self._composer.sender,
            subject=rendered.subject,
            text=rendered.text,
            reason="SUBGATE_SMTP_URL is not set",
        )
        excerpt = f"{KEPT_NOTE}\nTo: {email.to}\nSubject: {rendered.subject}\n\n{rendered.text}"
        return SendResult(
            status_code=None, duration_ms=0, kept=True, response_excerpt=excerpt[:EXCERPT_CHARS]
        )
