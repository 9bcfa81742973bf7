"""The MIME message of a customer email, built so that no value can add a header.

Every header value is checked for line breaks first (a refusal, not a repair), and the
standard library's `EmailMessage` refuses them too: two locks on the same door.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from domain.notifications.emails import has_line_break
from integrations.delivery.email.render import RenderedEmail


class HeaderInjection(ValueError):
    """A header value carried a line break."""

    def __init__(self, header: str) -> None:
        super().__init__(f"the {header} header must not contain line breaks")
        self.header = header


def build_message(
    *, sender: str, to: str, rendered: RenderedEmail, message_id: str, date: datetime
) -> EmailMessage:
    headers = {"From": sender, "To": to, "Subject": rendered.subject, "Message-ID": message_id}
    for name, value in headers.items():
        if has_line_break(value):
            raise HeaderInjection(name)
    message = EmailMessage()
    for name, value in headers.items():
        message[name] = value
    message["Date"] = format_datetime(date)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def stable_message_id(delivery_id: str, sender: str) -> str:
    """The same Message-ID on every attempt of one email, so a receiving server can spot repeats."""
    domain = sender.rpartition("@")[2] or "subgate"
    return f"<{delivery_id}@{domain}>"
