"""An endpoint URL read once, the HTTP client's way: normalised forms, refusals, and a fixed point.

The client's own readers are the references: yarl parses the URL, and aiohttp's connector
decides from the host alone whether it connects to an IP literal without asking a resolver.
"""

from __future__ import annotations

import ipaddress
import string
import sys
import unicodedata

import pytest
from aiohttp.helpers import is_ip_address
from hypothesis import given, settings, strategies as st
from yarl import URL

from domain.notifications.external import MAX_URL_LENGTH
from integrations.delivery.http.urls import EndpointTarget, InvalidTargetUrl, endpoint_target


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("http://127.0.0.\U0001fbf1:19001/x", "http://127.0.0.1:19001/x"),
        ("http://１２７.０.０.１/hooks", "http://127.0.0.1/hooks"),
        ("http://127\u30020\u30020\u30021/", "http://127.0.0.1/"),
        ("HtTpS://Hooks.Example.COM:443/In?A=1#frag", "https://hooks.example.com/In?A=1"),
        ("http://hooks.example.com:80/", "http://hooks.example.com/"),
        ("http://hooks.example.com:８０８０/", "http://hooks.example.com:8080/"),
        ("https://bücher.example/hooks", "https://xn--bcher-kva.example/hooks"),
        ("http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/"),
        ("http://[0:0:0:0:0:0:0:1]:8080/", "http://[::1]:8080/"),
        ("http://hooks.example.com./", "http://hooks.example.com./"),
        ("http://hooks.example.com/a/../b/%7e", "http://hooks.example.com/b/~"),
    ],
)
def test_the_url_is_stored_as_the_client_reads_it(raw: str, stored: str) -> None:
    assert endpoint_target(raw).text == stored


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("http://１２７.０.０.１/", "127.0.0.1"),
        ("http://\U0001d7cf\U0001d7d0\U0001d7d5.0.0.1/", "127.0.0.1"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe"),
        ("https://93.184.216.34/", "93.184.216.34"),
        ("https://hooks.example.com/", None),
        ("https://xn--bcher-kva.example/", None),
    ],
)
def test_a_host_that_normalises_to_an_ip_literal_is_that_address(raw: str, address: str | None) -> None:
    target = endpoint_target(raw)

    assert target.address == (None if address is None else ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("ftp://hooks.example.com/", "an absolute http(s) URL is required"),
        ("javascript:alert(1)", "an absolute http(s) URL is required"),
        ("file:///etc/passwd", "an absolute http(s) URL is required"),
        ("//hooks.example.com/", "an absolute http(s) URL is required"),
        ("http:hooks.example.com", "an absolute http(s) URL is required"),
        ("http:///hooks", "an absolute http(s) URL is required"),
        ("hooks.example.com/x", "an absolute http(s) URL is required"),
        ("http://user:pass@hooks.example.com/", "credentials in the URL are not allowed"),
        ("http://user@hooks.example.com/", "credentials in the URL are not allowed"),
        ("http://:@hooks.example.com/", "credentials in the URL are not allowed"),
        ("http://127.0.0.1%2f@hooks.example.com/", "credentials in the URL are not allowed"),
        ("http://hooks.example.com:0/", "the port must be between 1 and 65535"),
        ("http://hooks.example.com:65536/", "not a valid URL: Port out of range 0-65535"),
        ("http://hooks.example.com:99999999999999999999/", "not a valid URL"),
        ("http://hooks.example.com:-1/", "not a valid URL"),
        ("http://hooks.example.com:http/", "not a valid URL"),
        ("http://hooks.example.com\\@127.0.0.1/", "backslashes ('\\\\' at position 24)"),
        ("http:\\\\127.0.0.1\\hooks", "backslashes"),
        ("http://hooks.exa\tmple.com/", "control characters or backslashes ('\\t' at position 16)"),
        ("http://hooks.example.com/\n", "control characters"),
        ("http://hooks.example.com/\r\nX-Injected: 1", "control characters"),
        ("http://hooks.example.com/\x00", "control characters"),
        ("http://hooks.example.com/\x7f", "control characters"),
        ("http://hooks.example.com/\x85", "control characters"),
        (" http://hooks.example.com/", "spaces"),
        ("http://hooks.example.com/ ", "spaces"),
        ("http://hooks ex.com/", "spaces"),
        ("http://hooks.example.com/\u00a0", "spaces"),
        ("http://hooks.example.com/\u2028", "spaces"),
        ("http://hooks.example.com/\u3000", "spaces"),
        ("http://[::1/", "not a valid URL"),
        ("http://[v1.fe]/", "brackets in the host are for IPv6 addresses only"),
        ("http://[hooks.example.com]/", "not a valid URL: The IPv6 content between brackets is not valid"),
        ("http://@hooks.example.com/", "credentials in the URL are not allowed"),
        ("http://hooks.example.com:80:80/", "not a valid URL"),
        ("http://" + "a" * 64 + ".example/", "each dot-separated label has 1 to 63 characters"),
        ("http://" + "a." * 127 + "com/", "a host name of at most 253 characters is required"),
        ("http://hooks..example.com/", "each dot-separated label has 1 to 63 characters"),
        ("http://.hooks.example.com/", "each dot-separated label has 1 to 63 characters"),
        ("http://hooks.exam*ple.com/", "is not a valid host name"),
        ("http://hooks.example.com/" + "a" * MAX_URL_LENGTH, "a URL of at most 2048 characters is required"),
        ("http://e\u200bxample.com/", "not a valid URL"),  # a zero-width space vanishes under IDNA
        ("http://xn--zz.example/", "'xn--zz' is not a valid internationalised label"),
    ],
)
def test_a_url_readers_could_disagree_on_is_refused_saying_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidTargetUrl) as refused:
        endpoint_target(raw)

    assert reason in str(refused.value)


def test_every_control_character_and_space_of_unicode_is_refused_anywhere_in_the_url() -> None:
    odd = [
        chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Cc", "Zs", "Zl", "Zp")
    ]
    assert len(odd) > 80

    for character in odd:
        for raw in (f"http://hooks.example.com/{character}", f"http://hooks{character}.example.com/"):
            with pytest.raises(InvalidTargetUrl, match="spaces, control characters or backslashes"):
                endpoint_target(raw)


def test_a_refusal_quotes_at_most_a_bounded_part_of_the_url() -> None:
    with pytest.raises(InvalidTargetUrl) as refused:
        endpoint_target("http://" + "%" * 1500 + ".example/")

    assert len(str(refused.value)) < 300


def test_a_fragment_is_dropped_since_it_is_never_sent() -> None:
    assert endpoint_target("https://hooks.example.com/in#section").url.fragment == ""


# Hosts built from the characters that matter: digits of several scripts, fullwidth and
# ideographic dots, letters, IPv6 pieces, percent signs and brackets.
HOST_ALPHABET = (
    string.ascii_letters
    + string.digits
    + ".-_:%[]x"
    + "０１２７．。"
    + "\U0001fbf0\U0001fbf1\U0001fbf7"
    + "٠١٢٧๐๑"
    + "\U0001d7ce\U0001d7cf"
    + "ßüİ"
)
hosts = st.text(alphabet=HOST_ALPHABET, min_size=1, max_size=40)
# Zeros of digit runs IDNA maps to ASCII (fullwidth, mathematical bold, segmented) and of
# some it does not (Arabic-Indic, Thai); dots it maps to `.`.
DIGIT_ZEROS = ("0", "\uff10", "\U0001d7ce", "\U0001fbf0", "\u0660", "\u0e50")
DOTS = (".", "\u3002", "\uff0e", "\uff61")


@st.composite
def respelled_ipv4(draw: st.DrawFn) -> str:
    """An IPv4 address with each digit and dot drawn from the look-alikes."""
    address = str(draw(st.ip_addresses(v=4)))
    out = []
    for character in address:
        if character == ".":
            out.append(draw(st.sampled_from(DOTS)))
        else:
            out.append(chr(ord(draw(st.sampled_from(DIGIT_ZEROS))) + int(character)))
    return "".join(out)


ipv6_hosts = st.ip_addresses(v=6).map(lambda address: f"[{address.exploded}]")
urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https", "HTTP", "HttpS", "ftp"]),
    st.one_of(hosts, respelled_ipv4(), ipv6_hosts),
    st.one_of(st.just(""), st.integers(min_value=-1, max_value=70000).map(lambda p: f":{p}")),
    st.text(alphabet=string.ascii_letters + "/?#=&%.~ ", max_size=20).map(lambda p: "/" + p),
)


def _same(left: EndpointTarget, right: EndpointTarget) -> bool:
    return (left.text, left.host, left.port, left.address) == (
        right.text,
        right.host,
        right.port,
        right.address,
    )


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(urls, st.text(max_size=80)))
def test_the_stored_form_reads_back_as_the_same_target_and_the_client_connects_where_it_was_judged(
    raw: str,
) -> None:
    try:
        target = endpoint_target(raw)
    except InvalidTargetUrl:
        return
    again = endpoint_target(target.text)
    assert _same(again, target)
    # What aiohttp's connector does with the stored URL: its host, and whether it connects to
    # it as an IP literal (without any resolver).
    client_host = URL(target.text).raw_host
    assert client_host == target.host
    if is_ip_address(client_host):
        assert target.address is not None
        assert target.address == ipaddress.ip_address(client_host)
    else:
        assert target.address is None
