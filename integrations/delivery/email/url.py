"""`SUBGATE_SMTP_URL`: `smtp://[user:pass@]host[:port]` (STARTTLS when offered) or `smtps://` (TLS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

SMTP_PORT = 25
SMTPS_PORT = 465


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool  # implicit TLS from the first byte (smtps://)
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpTarget:
    """Raises ValueError naming what is wrong (the settings loader reports it with the variable)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("expected smtp://host:port or smtps://host:port")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("a host is required")
    tls = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=port or (SMTPS_PORT if tls else SMTP_PORT),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
