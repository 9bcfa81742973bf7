"""Refuse to deliver to addresses inside our own network unless explicitly allowed.

Checked twice: when a merchant registers an endpoint (a clear 422 instead of a delivery
that can never succeed) and at every connection an attempt makes, where the addresses that
were checked are the ones connected to (`integrations.outbound.resolver`): DNS answers
change, and only that check actually guards the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

ALLOW_SETTING = "SUBGATE_ALLOW_PRIVATE_TARGETS"
HINT = (
    "non-public targets (loopback, private, link-local, unspecified, multicast, reserved, CGNAT) "
    f"are refused unless {ALLOW_SETTING}=true (meant for development and tests only)"
)
# Registration does not wait on a slow resolver for long: the delivery-time check remains.
RESOLVE_TIMEOUT_SECONDS = 5.0

TargetCheck = Callable[[str], Awaitable[str | None]]
"""Why a webhook URL must not be registered, or None when it may be."""


class ForbiddenTarget(Exception):
    """The target resolves to an address class webhooks must not reach."""


class UnresolvableTarget(ForbiddenTarget):
    """The host name does not resolve (now); nothing can be sent to it."""


_SHARED_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def address_class(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """The reason `address` is off limits (`"loopback"`, `"private"`, ...), or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # Most specific first: loopback and link-local addresses also count as `is_private`.
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (CGNAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED_CGNAT),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    return next((name for name, hit in checks if hit), None)


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address_class(address) is None


async def check_target(host: str, port: int) -> None:
    """Resolve `host` (without blocking the event loop) and refuse when any address is not public."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:  # gaierror is an OSError; IDNA failures are UnicodeErrors
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            raise UnresolvableTarget(f"cannot resolve host {host!r}: {reason}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        kind = address_class(address)
        if kind is not None:
            raise ForbiddenTarget(refusal(host, address, kind, literal=literal is not None))


def refusal(
    host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, kind: str, *, literal: bool
) -> str:
    """`'host' resolves to a loopback address (127.0.0.1); <how to allow it>`."""
    where = f"{host!r} is" if literal else f"{host!r} resolves to"
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{where} {article} {kind} address ({address}); {HINT}"


def registration_check(
    *, allow_private: bool, resolve_timeout: float = RESOLVE_TIMEOUT_SECONDS
) -> TargetCheck:
    """The check run when an endpoint is created: only a certain refusal refuses.

    A URL that is not even http(s) with a host is left to the URL validation; a name that does
    not resolve (yet) or resolves too slowly is accepted, since its attempts will say why they fail.
    """

    async def check(url: str) -> str | None:
        target = None if allow_private else _host_and_port(url)
        if target is None:
            return None
        try:
            async with asyncio.timeout(resolve_timeout):
                await check_target(*target)
        except (UnresolvableTarget, TimeoutError):
            return None
        except ForbiddenTarget as refused:
            return str(refused)
        return None

    return check


def _host_and_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)  # pragma: no mutate - DNS ignores it
    except ValueError:  # an out-of-range or non-numeric port
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname, port
