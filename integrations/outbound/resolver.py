"""Resolve once, check every address, connect only to what was checked (no DNS-rebinding window).

The HTTP client's connector asks `GuardedResolver` for a host's addresses. It looks the name
up once, refuses the host when any answer is not public (unless private targets are
allowed), and hands the connector exactly the addresses it checked: the connection goes to
one of them, while the request keeps the URL's host name for its Host header and TLS SNI.
A second look-up that answers differently (a rebinding attack) is checked again in turn.
IP literals never reach a resolver; the sender checks those itself (`literal_refusal`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult

from integrations.outbound.targets import ForbiddenTarget, UnresolvableTarget, address_class, refusal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str, int], Awaitable[Sequence[str]]]
"""host, port -> the addresses the name resolves to (raises OSError when it does not)."""
Classify = Callable[[IPAddress], str | None]
"""Why an address is off limits ("loopback", "private", ...), or None when it is public."""


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


def literal_refusal(host: str, classify: Classify = address_class) -> str | None:
    """Why an IP-literal host must not be reached, or None (also for a host name)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    kind = classify(address)
    return None if kind is None else refusal(host, address, kind, literal=True)


def _family(address: IPAddress) -> socket.AddressFamily:
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET  # noqa: PLR2004 - IP version
