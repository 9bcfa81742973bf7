"""Short, honest words for why an attempt failed: they end up on the attempt and in the logs.

The HTTP client's own exception class is not trusted for this: the aiohttp transport reports
every connection failure (a refused connection included) as `httpx.ConnectTimeout`. The cause
chain still holds the original OS error, which is what is read here.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from http import HTTPStatus

MAX_ERROR_LENGTH = 500
REDIRECTION = range(300, 400)

_ERRNO_TEXT = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by peer",
    errno.ECONNABORTED: "connection aborted",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EPIPE: "connection closed while sending",
}
# asyncio joins the errors of every address it tried into one OSError without an errno.
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]")


def status_failure(status_code: int) -> str:
    """`HTTP 503 Service Unavailable`; a redirect also says that it was not followed."""
    try:
        text = f"HTTP {status_code} {HTTPStatus(status_code).phrase}"
    except ValueError:
        text = f"HTTP {status_code}"
    if status_code in REDIRECTION:
        text += " (redirects are not followed)"
    return text


def transport_failure(error: BaseException, timeout: float) -> str:
    """What went wrong below HTTP: refused, reset, unresolvable, TLS, timed out, or the raw cause."""
    chain = _cause_chain(error)
    for link in chain:
        known = _known_os_error(link)
        if known is not None:
            return known
    if any(isinstance(link, TimeoutError) for link in chain):
        return f"timed out after {timeout:g}s"
    root = chain[-1]
    return f"connection failed: {type(root).__name__}: {root}"[:MAX_ERROR_LENGTH]


def _known_os_error(error: BaseException) -> str | None:
    if isinstance(error, ssl.SSLCertVerificationError):
        text = f"TLS certificate rejected: {error.verify_message or error}"
    elif isinstance(error, ssl.SSLError):
        # aiohttp's ClientConnectorSSLError is an SSLError without `reason`.
        text = f"TLS error: {getattr(error, 'reason', None) or error}"
    elif isinstance(error, socket.gaierror):
        text = f"cannot resolve host: {error.strerror or error}"
    elif isinstance(error, OSError):
        return _errno_text(error)
    else:
        return None
    return text[:MAX_ERROR_LENGTH]


def _errno_text(error: OSError) -> str | None:
    if error.errno is not None:
        return _ERRNO_TEXT.get(error.errno)
    # The first address's failure is the one that matters most (usually the IPv4 one).
    found = [int(number) for number in _ERRNO_IN_TEXT.findall(str(error))]
    return next((_ERRNO_TEXT[number] for number in found if number in _ERRNO_TEXT), None)


def _cause_chain(error: BaseException) -> list[BaseException]:
    """`error`, then what caused it, down to the original exception."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
