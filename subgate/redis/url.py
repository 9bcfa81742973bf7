"""Redis URLs: always with a password, and never shown with it.

`SUBGATE_REDIS_URL` must name a password (`redis://:PASSWORD@host:6379/0`, or `rediss://` for
TLS, optionally with a user before the colon): Redis is never used without authentication.
The embedded Redis gets a generated password, and its URL carries it the same way. Anything
that shows a Redis URL (logs, error messages) shows `redacted(url)` instead.

Standard library only: the settings loader, which admin commands run too, checks the URL here.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

SCHEMES: Final = ("redis", "rediss")
URL_FORM: Final = "redis://:PASSWORD@host:6379/0 (rediss:// for TLS)"
_HIDDEN: Final = "***"


def problem_with(url: str) -> str | None:
    """Why `url` cannot be used as the service's Redis, or None when it can."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # a port that is not a number from 0 to 65535 raises here
    except ValueError:
        return f"not a valid URL; expected {URL_FORM}"
    if parts.scheme.lower() not in SCHEMES:
        return f"expected {URL_FORM}"
    if not parts.hostname:
        return f"a host is required; expected {URL_FORM}"
    if not parts.password:
        return f"Redis is always used with a password; expected {URL_FORM}"
    return None


def url_with_password(host: str, port: int, password: str, database: int = 0) -> str:
    """`redis://:PASSWORD@host:port/db`, the password quoted for the URL."""
    return f"redis://:{quote(password, safe='')}@{host}:{port}/{database}"


def redacted(url: str) -> str:
    """`url` with its password (if any) replaced by `***`; safe to log or print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable Redis URL>"
    if parts.password is None and "password" not in parts.query.lower():
        return url
    if parts.password is not None:
        parts = parts._replace(netloc=_netloc_without_password(parts))
    if "password" in parts.query.lower():
        # redis-py also reads `?password=`; such a URL is refused as a setting, but hidden all the same.
        query = parse_qsl(parts.query, keep_blank_values=True)
        hidden = [(k, _HIDDEN if k.lower() == "password" else v) for k, v in query]
        parts = parts._replace(query=urlencode(hidden, safe="*"))
    return parts.geturl()


def _netloc_without_password(parts: SplitResult) -> str:
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return f"{user}:{_HIDDEN}@{host}"
