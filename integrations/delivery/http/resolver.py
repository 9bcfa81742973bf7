"""Resolve once, check every address, connect only to what was checked (no DNS-rebinding window).

Two guards sit in the HTTP client's connector. `GuardedResolver` answers the connector's
look-ups: it looks a name up once, refuses the host when any answer is not public (unless
private targets are allowed), and hands the connector exactly the addresses it checked; the
request keeps the URL's host name for its Host header and TLS SNI. `AddressGuard` makes every
socket the connector opens, and checks the address that socket is about to connect to: IP
literals never reach a resolver, so this is the check no connection skips.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

from integrations.delivery.http.targets import (
    ForbiddenTarget,
    IPAddress,
    RefusedAddress,
    UnresolvableTarget,
    address_class,
    name_refusal,
    refusal,
)

Lookup = Callable[[str, int], Awaitable[Sequence[str]]]
"""host, port -> the addresses the name resolves to (raises OSError when it does not)."""
Classify = Callable[[IPAddress], str | None]
"""Why an address is off limits ("loopback", "private", ...), or None when it is public."""
AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
"""What the connector hands its socket factory: family, type, protocol, canonical name, address."""


async def system_lookup(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedResolver(AbstractResolver):
    def __init__(
        self, *, allow_private: bool, lookup: Lookup = system_lookup, classify: Classify = address_class
    ) -> None:
        self._allow_private = allow_private
        self._lookup = lookup
        self._classify = classify

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        named = None if self._allow_private else name_refusal(host)
        if named is not None:
            raise ForbiddenTarget(named)
        try:
            answers = await self._lookup(host, port)
        except UnicodeError as error:  # an IDNA failure: not a name that can be looked up
            raise UnresolvableTarget(f"cannot resolve host {host!r}: {error}") from None
        addresses = [ipaddress.ip_address(answer.split("%", 1)[0]) for answer in answers]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"no address for {host!r}")
        if not self._allow_private:
            for address in addresses:
                kind = self._classify(address)
                if kind is not None:
                    raise ForbiddenTarget(refusal(host, address, kind, literal=False))
        wanted = [a for a in addresses if family in (socket.AF_UNSPEC, _family(a))] or addresses
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=_family(address),
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in wanted
        ]

    async def close(self) -> None:
        return None


class AddressGuard:
    """The connector's socket factory: no socket is made for an address that must not be reached.

    Only IP addresses are connected to: a name here would be resolved by the event loop itself,
    past every check, so it is refused whatever the setting.
    """

    def __init__(self, *, allow_private: bool, classify: Classify = address_class) -> None:
        self._allow_private = allow_private
        self._classify = classify

    def __call__(self, addr_info: AddrInfo) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        refused = connect_refusal(
            str(sockaddr[0]), allow_private=self._allow_private, classify=self._classify
        )
        if refused is not None:
            raise RefusedAddress(refused)
        return socket.socket(family=family, type=kind, proto=proto)


def connect_refusal(host: str, *, allow_private: bool, classify: Classify = address_class) -> str | None:
    """Why a socket must not connect to `host` (an address, as the connector gives it), or None."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"{host!r} is not an IP address; only checked addresses are connected to"
    if allow_private:
        return None
    kind = classify(address)
    return None if kind is None else refusal(host, address, kind, literal=True)


def _family(address: IPAddress) -> socket.AddressFamily:
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET  # noqa: PLR2004 - IP version
