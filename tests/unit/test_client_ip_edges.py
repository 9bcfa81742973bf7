"""Client address edge cases: only ASCII whitespace is padding, and mapped networks at /96 exactly."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

import pytest

from gateway.client_ip import client_ip, parse_trusted_proxies

PROXY = "10.0.0.5"
TRUSTED = parse_trusted_proxies("10.0.0.0/8")


@pytest.mark.parametrize("padding", ["\xa0", "\u2003", "\x1c"], ids=["nbsp", "em-space", "file-separator"])
def test_an_entry_padded_with_other_spacing_is_garbage_that_stops_the_walk(padding: str) -> None:
    # A proxy would never write it; a client could, hoping it reads as 198.51.100.7.
    forwarded = [f"{padding}198.51.100.7, 10.0.0.9"]

    assert client_ip(PROXY, forwarded, TRUSTED) == "10.0.0.9"
    assert client_ip(PROXY, [" \t198.51.100.7\r\n, 10.0.0.9"], TRUSTED) == "198.51.100.7"


@pytest.mark.parametrize("padding", ["\xa0", "\u2003"])
def test_a_trusted_proxy_entry_padded_with_other_spacing_is_refused(padding: str) -> None:
    with pytest.raises(ValueError, match="invalid trusted proxy entry"):
        parse_trusted_proxies(f"10.0.0.0/8,{padding}")
    with pytest.raises(ValueError, match="invalid trusted proxy entry"):
        parse_trusted_proxies(f"{padding}192.0.2.1")

    assert parse_trusted_proxies(" 192.0.2.1\t, ,") == (IPv4Network("192.0.2.1/32"),)


def test_the_whole_mapped_range_is_every_ipv4_address() -> None:
    [network] = parse_trusted_proxies("::ffff:0:0/96")

    assert network == IPv4Network("0.0.0.0/0")
    assert client_ip("203.0.113.9", ["198.51.100.7"], (network,)) == "198.51.100.7"


def test_a_network_wider_than_the_mapped_range_stays_ipv6() -> None:
    assert parse_trusted_proxies("::/95") == (IPv6Network("::/95"),)


def test_a_cidr_with_host_bits_is_a_typo_and_refused() -> None:
    with pytest.raises(ValueError, match=r"invalid trusted proxy entry '10\.0\.0\.5/8'"):
        parse_trusted_proxies("10.0.0.5/8")
