"""The checked resolver and the address classes behind the outbound target guard (no network)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import pytest

from integrations.delivery.http.resolver import AddressGuard, GuardedResolver, connect_refusal, system_lookup
from integrations.delivery.http.targets import (
    ForbiddenTarget,
    RefusedAddress,
    UnresolvableTarget,
    address_class,
)


def answering(*answers: str) -> GuardedResolver:
    async def lookup(host: str, port: int) -> Sequence[str]:
        return list(answers)

    return GuardedResolver(allow_private=True, lookup=lookup)


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        (socket.AF_INET, [("127.0.0.1", socket.AF_INET)]),
        (socket.AF_INET6, [("::1", socket.AF_INET6)]),
        (socket.AF_UNSPEC, [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)]),
    ],
    ids=["ipv4", "ipv6", "either"],
)
async def test_the_connector_gets_the_checked_addresses_of_the_family_it_asks_for(
    family: socket.AddressFamily, expected: list[tuple[str, socket.AddressFamily]]
) -> None:
    results = await answering("127.0.0.1", "::1").resolve("hooks.example.test", 8443, family)

    assert [(r["host"], r["family"]) for r in results] == expected
    for result in results:
        assert (result["hostname"], result["port"], result["proto"]) == ("hooks.example.test", 8443, 0)
        assert result["flags"] == socket.AI_NUMERICHOST


async def test_answers_of_another_family_only_are_still_used() -> None:
    results = await answering("127.0.0.1").resolve("hooks.example.test", 80, socket.AF_INET6)

    assert [(r["host"], r["family"]) for r in results] == [("127.0.0.1", socket.AF_INET)]


async def test_a_zone_identifier_is_dropped_from_an_answer() -> None:
    [result] = await answering("fe80::1%eth0").resolve("hooks.example.test", 80, socket.AF_UNSPEC)

    assert result["host"] == "fe80::1"


async def test_a_private_answer_is_refused_unless_allowed() -> None:
    async def lookup(host: str, port: int) -> Sequence[str]:
        return ["10.1.2.3"]

    with pytest.raises(
        ForbiddenTarget, match=r"'hooks\.example\.test' resolves to a private address \(10\.1\.2\.3\)"
    ):
        await GuardedResolver(allow_private=False, lookup=lookup).resolve("hooks.example.test", 80)


async def test_an_answer_public_at_first_and_private_at_the_next_look_up_is_refused_then() -> None:
    # A rebinding DNS server: the check and the connection each look up, and get different answers.
    answers = [["93.184.216.34"], ["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> Sequence[str]:
        return answers.pop(0)

    resolver = GuardedResolver(allow_private=False, lookup=rebinding)

    [first] = await resolver.resolve("hooks.example.test", 443, socket.AF_UNSPEC)
    assert (first["host"], first["hostname"]) == ("93.184.216.34", "hooks.example.test")
    with pytest.raises(ForbiddenTarget) as refused:
        await resolver.resolve("hooks.example.test", 443, socket.AF_UNSPEC)
    assert str(refused.value).startswith("'hooks.example.test' resolves to a loopback address (127.0.0.1);")
    assert answers == []


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "hooks.localhost"])
async def test_a_localhost_name_is_refused_without_a_look_up_unless_allowed(host: str) -> None:
    asked: list[str] = []

    async def lookup(name: str, port: int) -> Sequence[str]:
        asked.append(name)
        return ["127.0.0.1"]

    with pytest.raises(ForbiddenTarget, match=r"is a loopback name \(localhost\)"):
        await GuardedResolver(allow_private=False, lookup=lookup).resolve(host, 80)
    assert asked == []
    [allowed] = await GuardedResolver(allow_private=True, lookup=lookup).resolve(host, 80)
    assert allowed["host"] == "127.0.0.1"


async def test_no_answer_is_a_name_error_naming_the_host() -> None:
    with pytest.raises(socket.gaierror) as missing:
        await answering().resolve("nothing.example.test", 80)

    assert missing.value.errno == socket.EAI_NONAME
    assert missing.value.strerror == "no address for 'nothing.example.test'"


async def test_a_name_that_cannot_be_encoded_is_unresolvable_naming_it() -> None:
    async def lookup(host: str, port: int) -> Sequence[str]:
        raise UnicodeError("label too long")

    with pytest.raises(UnresolvableTarget) as refused:
        await GuardedResolver(allow_private=False, lookup=lookup).resolve("x" * 70 + ".test", 80)

    assert str(refused.value) == f"cannot resolve host {'x' * 70 + '.test'!r}: label too long"


async def test_the_system_lookup_answers_each_address_once() -> None:
    answers = await system_lookup("localhost", 80)

    assert answers
    assert len(answers) == len(set(answers))
    assert all(ipaddress.ip_address(answer).is_loopback for answer in answers)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("::1", "'::1' is a loopback address (::1)"),
        ("127.0.0.1", "'127.0.0.1' is a loopback address (127.0.0.1)"),
        ("203.0.113.9", "'203.0.113.9' is a private address (203.0.113.9)"),
        ("::ffff:10.0.0.1", "'::ffff:10.0.0.1' is a private address (10.0.0.1)"),
        ("8.8.8.8", None),
    ],
)
def test_a_socket_address_is_judged_without_a_lookup(host: str, reason: str | None) -> None:
    refused = connect_refusal(host, allow_private=False)

    if reason is None:
        assert refused is None
    else:
        assert refused is not None
        assert refused.startswith(reason)
        assert "SUBGATE_ALLOW_PRIVATE_TARGETS" in refused


@pytest.mark.parametrize("allow_private", [True, False])
def test_a_socket_is_never_connected_to_a_name(allow_private: bool) -> None:
    # The event loop would resolve it itself, past every check.
    refused = connect_refusal("hooks.example.test", allow_private=allow_private)

    assert refused == "'hooks.example.test' is not an IP address; only checked addresses are connected to"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to classify, not to bind
        ("127.0.0.2", "loopback"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("192.168.1.1", "private"),
        ("4000::1", "reserved"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:8.8.8.8", None),  # IPv4-mapped: the IPv4 address is the one judged
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:808:808::1", None),  # 6to4 of 8.8.8.8
        ("::7f00:1", "reserved"),  # IPv4-compatible, deprecated
        ("fec0::1", "site-local"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_each_address_class_is_named(address: str, kind: str | None) -> None:
    parsed = ipaddress.ip_address(address)

    assert address_class(parsed) == kind


def test_the_socket_guard_makes_a_socket_for_a_public_address_only() -> None:
    guard = AddressGuard(allow_private=False)
    public = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("93.184.216.34", 443))
    loopback = (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::ffff:7f00:1", 443, 0, 0))

    with guard(public) as made:
        assert (made.family, made.type) == (socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(RefusedAddress) as refused:
        guard(loopback)
    # An OSError, which the connector's connection racer collects and wraps as the cause.
    assert isinstance(refused.value, OSError)
    assert str(refused.value).startswith("'::ffff:7f00:1' is a loopback address (127.0.0.1);")


def test_with_private_targets_allowed_the_socket_guard_still_refuses_a_name() -> None:
    guard = AddressGuard(allow_private=True)

    with guard((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))) as made:
        assert made.family == socket.AF_INET
    with pytest.raises(RefusedAddress, match="'localhost' is not an IP address"):
        guard((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("localhost", 80)))
