"""Which addresses webhooks must not reach, and the words a refusal is given in.

Every check of an outbound target ends here: at registration (`integrations.delivery.http.registration`),
in the resolver the HTTP client asks for a name's addresses, and on every socket it opens
(`integrations.delivery.http.resolver`).
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_SETTING = "SUBGATE_ALLOW_PRIVATE_TARGETS"
HINT = (
    "non-public targets (loopback, private, link-local, unspecified, multicast, reserved, CGNAT) "
    f"are refused unless {ALLOW_SETTING}=true (meant for development and tests only)"
)


class ForbiddenTarget(Exception):
    """The target resolves to an address class webhooks must not reach."""


class UnresolvableTarget(ForbiddenTarget):
    """The host name does not resolve (now); nothing can be sent to it."""


class RefusedAddress(ForbiddenTarget, OSError):
    """A socket was about to connect to an address webhooks must not reach.

    An OSError as well: the HTTP client's connection racer collects only OSErrors, and wraps
    them (as their cause) in its own connection error.
    """


_SHARED_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64's well-known prefix: the last 32 bits are the IPv4 address a translator connects to.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_BITS = 0xFFFFFFFF


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), else `address` itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & _IPV4_BITS)
    return address


def address_class(address: IPAddress) -> str | None:
    """The reason `address` is off limits (`"loopback"`, `"private"`, ...), or None when it is public."""
    inner = embedded_ipv4(address)
    if inner is not address:  # the IPv4 host such an address reaches is the one that counts
        return address_class(inner)
    # Most specific first: loopback and link-local addresses also count as `is_private`.
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (CGNAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED_CGNAT),
        ("private", address.is_private),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("reserved", address.is_reserved),
    )
    return next((name for name, hit in checks if hit), None)


def is_loopback_name(host: str) -> bool:
    """`localhost` and every name under it are loopback by definition (RFC 6761), whatever DNS says."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def name_refusal(host: str) -> str | None:
    """Why a host name must not be reached without looking it up, or None."""
    if is_loopback_name(host):
        return f"{host!r} is a loopback name (localhost); {HINT}"
    return None


def refusal(host: str, address: IPAddress, kind: str, *, literal: bool) -> str:
    """`'host' resolves to a loopback address (127.0.0.1); <how to allow it>`."""
    where = f"{host!r} is" if literal else f"{host!r} resolves to"
    article = "an" if kind[0] in "aeiou" else "a"
    # The IPv4 address an IPv6 one stands for is the one judged, and the one shown.
    return f"{where} {article} {kind} address ({embedded_ipv4(address)}); {HINT}"
