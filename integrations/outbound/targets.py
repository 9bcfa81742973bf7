"""Refuse to deliver to addresses inside our own network unless explicitly allowed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket


class ForbiddenTarget(Exception):
    """The target resolves to an address class webhooks must not reach."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    shared_cgnat = ipaddress.ip_network("100.64.0.0/10")
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in shared_cgnat)
    )


async def check_target(host: str, port: int) -> None:
    """Resolve `host` and refuse when any of its addresses is not public."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise ForbiddenTarget(f"cannot resolve {host!r}: {error}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    blocked = [str(a) for a in addresses if not is_public(a)]
    if blocked:
        raise ForbiddenTarget(f"{host!r} resolves to non-public address {blocked[0]}")
