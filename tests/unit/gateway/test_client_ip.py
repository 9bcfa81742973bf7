"""Tests for trusted-proxy parsing and X-Forwarded-For client resolution.

Also client address edge cases: only ASCII whitespace is padding, and mapped networks at /96 exactly.
"""

from __future__ import annotations

import re
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

import pytest
from hypothesis import given, settings, strategies as st

from gateway.client_ip import IPNetwork, client_ip, parse_trusted_proxies

IPAddress = IPv4Address | IPv6Address

TRUSTED = parse_trusted_proxies("10.0.0.0/8, 2001:db8:ffff::/48")
PROXY = "10.0.0.1"
CLIENT = "198.51.100.1"
STRANGER = "203.0.113.7"

# The shared CI machine is slow; wall-clock deadlines would only add flakiness.
PROPERTY = settings(deadline=None)


# --- parse_trusted_proxies ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("", (), id="empty"),
        pytest.param(" , ,", (), id="blank-items"),
        pytest.param("10.0.0.1", (IPv4Network("10.0.0.1/32"),), id="single-ip"),
        pytest.param(
            " 10.0.0.0/8 ,2001:db8::/32,\t192.168.1.1 ,",
            (
                IPv4Network("10.0.0.0/8"),
                IPv6Network("2001:db8::/32"),
                IPv4Network("192.168.1.1/32"),
            ),
            id="mixed-with-whitespace",
        ),
        pytest.param("::1", (IPv6Network("::1/128"),), id="ipv6-single"),
        pytest.param("::ffff:10.0.0.0/104", (IPv4Network("10.0.0.0/8"),), id="mapped-network"),
        pytest.param("::ffff:1.2.3.4", (IPv4Network("1.2.3.4/32"),), id="mapped-address"),
    ],
)
def test_parse_trusted_proxies(value: str, expected: tuple[IPNetwork, ...]) -> None:
    assert parse_trusted_proxies(value) == expected


@pytest.mark.parametrize(
    ("value", "bad_entry"),
    [
        ("nope", "nope"),
        ("10.0.0.1, bogus ,10.0.0.2", "bogus"),
        ("10.0.0.1/8", "10.0.0.1/8"),
        ("10.0.0.0/33", "10.0.0.0/33"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("[::1]", "[::1]"),
        ("10.0.0.1:80", "10.0.0.1:80"),
    ],
)
def test_parse_trusted_proxies_names_the_bad_entry(value: str, bad_entry: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad_entry))):
        parse_trusted_proxies(value)


@PROPERTY
@given(st.text())
def test_parse_trusted_proxies_only_raises_value_error(value: str) -> None:
    try:
        networks = parse_trusted_proxies(value)
    except ValueError:
        return
    assert all(isinstance(n, IPv4Network | IPv6Network) for n in networks)


# --- client_ip: table -----------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # Untrusted or unusable peers.
        pytest.param(STRANGER, [CLIENT], STRANGER, id="untrusted-peer-ignores-xff"),
        pytest.param("::ffff:203.0.113.7", [], STRANGER, id="untrusted-mapped-peer"),
        pytest.param(None, [CLIENT], None, id="no-peer"),
        pytest.param("testclient", [CLIENT], None, id="peer-not-an-ip"),
        # Plain walks.
        pytest.param(PROXY, [], PROXY, id="trusted-peer-no-xff"),
        pytest.param(PROXY, [CLIENT], CLIENT, id="one-hop"),
        pytest.param("::ffff:10.0.0.1", [CLIENT], CLIENT, id="mapped-trusted-peer"),
        pytest.param("2001:db8:ffff::1", [CLIENT], CLIENT, id="ipv6-trusted-peer"),
        pytest.param(PROXY, [f"6.6.6.6, {CLIENT}, 10.0.0.2"], CLIENT, id="spoofed-prefix"),
        pytest.param(PROXY, ["6.6.6.6", f"{CLIENT}, 10.0.0.2"], CLIENT, id="several-headers"),
        pytest.param(PROXY, [CLIENT, "10.0.0.2"], CLIENT, id="one-entry-per-header"),
        pytest.param(PROXY, ["10.0.0.5, 10.0.0.6"], "10.0.0.5", id="all-trusted"),
        # Entry formats.
        pytest.param(PROXY, [f"  {CLIENT}\t"], CLIENT, id="whitespace"),
        pytest.param(PROXY, [f"{CLIENT}:5678"], CLIENT, id="ipv4-port"),
        pytest.param(PROXY, ["2001:db8::1"], "2001:db8::1", id="ipv6"),
        pytest.param(PROXY, ["[2001:db8::1]"], "2001:db8::1", id="ipv6-brackets"),
        pytest.param(PROXY, ["[2001:DB8::1]:443"], "2001:db8::1", id="ipv6-port"),
        pytest.param(PROXY, ["2001:0db8:0000:0000:0000:0000:0000:0001"], "2001:db8::1", id="long"),
        pytest.param(PROXY, [f"::ffff:{CLIENT}"], CLIENT, id="mapped-client"),
        pytest.param(PROXY, [f"[::ffff:{CLIENT}]:1"], CLIENT, id="mapped-brackets"),
        pytest.param(PROXY, [f"{CLIENT}, ::ffff:10.0.0.3"], CLIENT, id="mapped-trusted-hop"),
        # Garbage stops the walk at the nearest verified hop.
        pytest.param(PROXY, ["unknown"], PROXY, id="garbage-first"),
        pytest.param(PROXY, [f"{CLIENT}, unknown, 10.0.0.2"], "10.0.0.2", id="garbage-mid"),
        pytest.param(PROXY, [f"{CLIENT}, 10.0.0.9, _hidden"], PROXY, id="obfuscated-identifier"),
        pytest.param(PROXY, [f"{CLIENT},,10.0.0.2"], "10.0.0.2", id="empty-entry"),
        pytest.param(PROXY, [f"{CLIENT}", ""], PROXY, id="empty-header"),
        pytest.param(PROXY, ["1.2.3.4:99999"], PROXY, id="port-out-of-range"),
        pytest.param(PROXY, ["1.2.3.4:"], PROXY, id="empty-port"),
        pytest.param(PROXY, ["[1.2.3.4]"], PROXY, id="ipv4-in-brackets"),
        pytest.param(PROXY, ["[2001:db8::1"], PROXY, id="unclosed-bracket"),
        pytest.param(PROXY, ["[2001:db8::1]x"], PROXY, id="junk-after-bracket"),
        pytest.param(PROXY, ["fe80::1%eth0"], PROXY, id="zone-id"),
        pytest.param(PROXY, ["01.2.3.4"], PROXY, id="leading-zero"),
        pytest.param(PROXY, ["300.1.1.1"], PROXY, id="octet-out-of-range"),
    ],
)
def test_client_ip(peer: str | None, forwarded_for: list[str], expected: str) -> None:
    assert client_ip(peer, forwarded_for, TRUSTED) == expected


def test_nothing_trusted_means_the_peer() -> None:
    assert client_ip(PROXY, [CLIENT], ()) == PROXY


# --- client_ip: properties ------------------------------------------------------


def canonical(address: IPAddress) -> str:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def is_trusted(address: IPAddress) -> bool:
    plain = ip_address(canonical(address))
    return any(plain in network for network in TRUSTED)


trusted_addresses = st.one_of(
    st.ip_addresses(network="10.0.0.0/8"),
    st.ip_addresses(network="2001:db8:ffff::/48"),
)
untrusted_addresses = st.ip_addresses().filter(lambda a: not is_trusted(a))
ports = st.integers(min_value=0, max_value=65535)
padding = st.sampled_from(["", " ", "\t", "  "])


@st.composite
def rendered(draw: st.DrawFn, addresses: st.SearchStrategy[IPAddress]) -> str:
    """Write an address in any of the forms proxies are known to use."""
    address = draw(addresses)
    port = draw(ports)
    if isinstance(address, IPv4Address):
        forms = [str(address), f"{address}:{port}", f"::ffff:{address}"]
        forms.append(f"[::ffff:{address}]:{port}")
    else:
        forms = [str(address), address.exploded, address.exploded.upper()]
        forms += [f"[{address}]", f"[{address}]:{port}"]
    text = draw(st.sampled_from(forms))
    return draw(padding) + text + draw(padding)


garbage = st.one_of(
    st.sampled_from(["unknown", "_hidden", "", " ", "1.2.3.4:99999", "[1.2.3.4]"]),
    # Letters alone can never spell an IP address.
    st.text(alphabet="abcxyz_-", min_size=1),
)
arbitrary_networks = st.ip_addresses().flatmap(
    lambda a: st.integers(0, a.max_prefixlen).map(lambda p: ip_network((a, p), strict=False))
)


@st.composite
def as_headers(draw: st.DrawFn, entries: list[str]) -> list[str]:
    """Spread comma-separated entries over one or more header lines, in order."""
    if not entries:
        return []
    headers = [entries[0]]
    for entry in entries[1:]:
        if draw(st.booleans()):
            headers.append(entry)
        else:
            headers[-1] += f",{entry}"
    return headers


@PROPERTY
@given(
    peer=st.one_of(st.none(), st.text(), rendered(st.ip_addresses())),
    forwarded_for=st.lists(st.text()),
    trusted=st.lists(arbitrary_networks, max_size=4),
)
def test_never_raises_and_output_is_canonical(
    peer: str | None, forwarded_for: list[str], trusted: list[IPNetwork]
) -> None:
    result = client_ip(peer, forwarded_for, trusted)
    if result is not None:
        assert result == canonical(ip_address(result))


@PROPERTY
@given(
    peer=untrusted_addresses,
    forwarded_for=st.lists(st.text()),
    trusted=st.lists(arbitrary_networks, max_size=4),
)
def test_untrusted_peer_wins_regardless_of_xff(
    peer: IPAddress, forwarded_for: list[str], trusted: list[IPNetwork]
) -> None:
    assert client_ip(str(peer), forwarded_for, TRUSTED) == canonical(peer)
    # Same for any trust list that does not cover the peer.
    others = [n for n in trusted if ip_address(canonical(peer)) not in n]
    assert client_ip(str(peer), forwarded_for, others) == canonical(peer)


@PROPERTY
@given(peer=rendered(st.ip_addresses()), forwarded_for=st.lists(st.text()))
def test_nothing_trusted_means_peer_regardless_of_xff(peer: str, forwarded_for: list[str]) -> None:
    assert client_ip(peer, forwarded_for, []) == canonical(ip_address(_bare(peer)))


def _bare(rendered_address: str) -> str:
    # Undo the decorations `rendered` adds: padding, brackets, port.
    text = rendered_address.strip()
    if text.startswith("["):
        return text[1 : text.index("]")]
    if text.count(":") == 1:
        return text.split(":")[0]
    return text


@PROPERTY
@given(
    peer=rendered(trusted_addresses),
    client=rendered(untrusted_addresses),
    chain=st.lists(rendered(trusted_addresses), max_size=4),
    attacker=st.lists(st.text(), max_size=6),
    data=st.data(),
)
def test_attacker_left_of_trusted_chain_cannot_choose_the_result(
    peer: str, client: str, chain: list[str], attacker: list[str], data: st.DataObject
) -> None:
    # Proxies append honestly; everything left of the first untrusted hop is
    # attacker-written text, possibly including commas and fake proxy IPs.
    headers = data.draw(as_headers([*attacker, client, *chain]))
    result = client_ip(peer, headers, TRUSTED)
    assert result == canonical(ip_address(_bare(client)))
    assert not is_trusted(ip_address(result))


@PROPERTY
@given(
    peer=rendered(trusted_addresses),
    chain=st.lists(rendered(trusted_addresses), max_size=5),
    data=st.data(),
)
def test_all_trusted_gives_the_left_most_entry(peer: str, chain: list[str], data: st.DataObject) -> None:
    headers = data.draw(as_headers(chain))
    expected = chain[0] if chain else peer
    assert client_ip(peer, headers, TRUSTED) == canonical(ip_address(_bare(expected)))


@PROPERTY
@given(
    peer=rendered(trusted_addresses),
    junk=garbage,
    chain=st.lists(rendered(trusted_addresses), max_size=4),
    left=st.lists(st.one_of(rendered(st.ip_addresses()), st.text()), max_size=4),
    data=st.data(),
)
def test_garbage_stops_at_the_nearest_verified_hop(
    peer: str,
    junk: str,
    chain: list[str],
    left: list[str],
    data: st.DataObject,
) -> None:
    headers = data.draw(as_headers([*left, junk, *chain]))
    nearest = chain[0] if chain else peer
    assert client_ip(peer, headers, TRUSTED) == canonical(ip_address(_bare(nearest)))


@PROPERTY
@given(
    peer=st.one_of(rendered(trusted_addresses), rendered(untrusted_addresses)),
    entries=st.lists(
        st.one_of(rendered(trusted_addresses), rendered(untrusted_addresses), garbage),
        max_size=8,
    ),
    data=st.data(),
)
def test_result_is_the_peer_or_a_forwarded_entry(peer: str, entries: list[str], data: st.DataObject) -> None:
    headers = data.draw(as_headers(entries))
    candidates = {canonical(ip_address(_bare(peer)))}
    for entry in entries:
        try:
            candidates.add(canonical(ip_address(_bare(entry))))
        except ValueError:
            continue  # garbage entry
    assert client_ip(peer, headers, TRUSTED) in candidates


# --- only ASCII whitespace pads, mapped networks at /96 -------------------------------------------
EDGE_PROXY = "10.0.0.5"
EDGE_TRUSTED = parse_trusted_proxies("10.0.0.0/8")


@pytest.mark.parametrize("padding", ["\xa0", "\u2003", "\x1c"], ids=["nbsp", "em-space", "file-separator"])
def test_an_entry_padded_with_other_spacing_is_garbage_that_stops_the_walk(padding: str) -> None:
    # A proxy would never write it; a client could, hoping it reads as 198.51.100.7.
    forwarded = [f"{padding}198.51.100.7, 10.0.0.9"]

    assert client_ip(EDGE_PROXY, forwarded, EDGE_TRUSTED) == "10.0.0.9"
    assert client_ip(EDGE_PROXY, [" \t198.51.100.7\r\n, 10.0.0.9"], EDGE_TRUSTED) == "198.51.100.7"


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
