"""Resolve the real client address behind a chain of reverse proxies.

Each proxy appends the address it received the connection from to
``X-Forwarded-For``, so the header reads ``client, proxy1, proxy2`` and the
TCP peer is the last proxy. Only entries added by proxies we trust are
believable; everything to their left may have been written by the client.

The rule, applied by :func:`client_ip`:

1. If the TCP peer is not a trusted proxy (or nothing is trusted), the peer
   is the client and ``X-Forwarded-For`` is ignored entirely.
2. Otherwise walk the ``X-Forwarded-For`` entries strictly from right to
   left (several headers are read in order, as if joined with commas):

   * an entry that is a trusted proxy is skipped, and becomes the nearest
     verified hop;
   * the first entry that is not a trusted proxy is the client;
   * an entry that is not a plain IP address (empty, ``unknown``, an RFC 7239
     obfuscated identifier, anything unparseable) stops the walk: nothing to
     its left can be attributed to a trusted proxy, so the nearest verified
     hop (the trusted entry just to its right, or the peer) is the answer;
   * if every entry is trusted, the left-most entry is the answer.

Entries may carry a port (``1.2.3.4:5678``, ``[2001:db8::1]:443``), brackets
around IPv6 and surrounding whitespace. IPv4-mapped IPv6 addresses
(``::ffff:1.2.3.4``) are treated as the IPv4 address they carry, both for
matching and in the result. Zone identifiers (``fe80::1%eth0``) are rejected:
they only make sense on the host that wrote them.

The result is the canonical text form of the address
(``str(ipaddress.ip_address(...))``), or ``None`` when the peer itself is
missing or not an IP address (a Unix socket, a test client name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import TypeAlias

__all__ = ["IPNetwork", "client_ip", "parse_trusted_proxies"]

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network

_WHITESPACE = " \t\r\n\f\v"
# The longest legitimate entry is a bracketed, fully expanded IPv4-mapped
# address with a port (about 53 characters); the cap bounds work per entry.
_MAX_ENTRY_LENGTH = 64
_MAX_PORT = 65535
# ASCII only: str.isdigit would also accept other scripts' digits.
_PORT_RE = re.compile(r"[0-9]{1,5}")
_IPV4_MAPPED_PREFIX_LENGTH = 96


def parse_trusted_proxies(value: str) -> tuple[IPNetwork, ...]:
    """Parse a comma-separated list of trusted proxy addresses or CIDR blocks.

    Blank items are skipped, so ``""`` and a trailing comma are fine. Raises
    ``ValueError`` naming the first entry that is not a valid address or
    network (host bits set in a CIDR count as invalid, since they usually mean
    a typo in the prefix length).
    """
    return tuple(_parse_network(item) for item in value.split(",") if item.strip(_WHITESPACE))


def _parse_network(item: str) -> IPNetwork:
    entry = item.strip(_WHITESPACE)
    if "%" in entry:
        # Forwarded addresses with zones are rejected, so such a network
        # could never match anything; refuse it rather than ignore it.
        raise ValueError(f"invalid trusted proxy entry {entry!r}: zone identifiers are not supported")
    try:
        network = ip_network(entry, strict=True)
    except ValueError as exc:
        raise ValueError(f"invalid trusted proxy entry {entry!r}: {exc}") from exc
    return _unmap_network(network)


def _unmap_network(network: IPNetwork) -> IPNetwork:
    # Addresses are unmapped before matching, so a mapped network must be
    # unmapped too or it would never match.
    if isinstance(network, IPv6Network) and network.prefixlen >= _IPV4_MAPPED_PREFIX_LENGTH:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return IPv4Network((mapped, network.prefixlen - _IPV4_MAPPED_PREFIX_LENGTH))
    return network


def client_ip(
    peer: str | None,
    forwarded_for: Sequence[str],
    trusted: Sequence[IPNetwork],
) -> str | None:
    """Return the client address for a request (see the module docstring).

    ``peer`` is the TCP peer address, ``forwarded_for`` every
    ``X-Forwarded-For`` header value in the order received, and ``trusted``
    the networks of our own reverse proxies. Never raises for any text input.
    """
    peer_address = None if peer is None else _parse_address(peer)
    if peer_address is None:
        return None
    if not _is_trusted(peer_address, trusted):
        return str(peer_address)
    return str(_walk_forwarded_for(peer_address, forwarded_for, trusted))


def _walk_forwarded_for(
    peer_address: IPAddress,
    forwarded_for: Sequence[str],
    trusted: Sequence[IPNetwork],
) -> IPAddress:
    nearest_verified = peer_address
    for entry in _entries_right_to_left(forwarded_for):
        address = _parse_address(entry)
        if address is None:
            # Garbage breaks the chain of custody: whoever wrote it (and
            # anything further left) is not vouched for by a trusted proxy.
            return nearest_verified
        if not _is_trusted(address, trusted):
            return address
        nearest_verified = address
    return nearest_verified


def _entries_right_to_left(forwarded_for: Sequence[str]) -> Iterator[str]:
    for header in reversed(forwarded_for):
        yield from reversed(header.split(","))


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    # Membership across IP versions is simply False, never an error.
    return any(address in network for network in trusted)


def _parse_address(entry: str) -> IPAddress | None:
    """Parse one forwarded entry or peer; ``None`` means garbage."""
    text = entry.strip(_WHITESPACE)
    if not text or len(text) > _MAX_ENTRY_LENGTH or "%" in text:
        return None
    split = _split_host_port(text)
    if split is None:
        return None
    host, port = split
    if port is not None and not _is_valid_port(port):
        return None
    try:
        address = ip_address(host)
    except ValueError:
        return None
    # Brackets are only meaningful around IPv6 ("[1.2.3.4]" is garbage).
    if text.startswith("[") and not isinstance(address, IPv6Address):
        return None
    return _unmap_address(address)


def _split_host_port(text: str) -> tuple[str, str | None] | None:
    if text.startswith("["):
        return _split_bracketed(text)
    # IPv6 has at least two colons, so exactly one means "IPv4:port";
    # unbracketed IPv6 cannot carry a port unambiguously.
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None


def _split_bracketed(text: str) -> tuple[str, str | None] | None:
    close = text.find("]")
    if close == -1:
        return None
    host, rest = text[1:close], text[close + 1 :]
    if not rest:
        return host, None
    if rest.startswith(":"):
        return host, rest[1:]
    return None


def _is_valid_port(port: str) -> bool:
    return _PORT_RE.fullmatch(port) is not None and int(port) <= _MAX_PORT


def _unmap_address(address: IPAddress) -> IPAddress:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
