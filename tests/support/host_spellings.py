"""Ways to spell a host inside our own network that a merchant could name in an endpoint URL.

Every one of them must be refused: at registration, at a change of the URL, and at delivery
for endpoints stored before (or while private targets were allowed). The decimal digits of
every script are generated from `unicodedata`, in each octet of a loopback address.
"""

from __future__ import annotations

import sys
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spelling:
    group: str
    host: str  # as written in the URL's authority (an IPv6 address in brackets)
    reason: str  # words the refusal must contain

    @property
    def allowed_by_setting(self) -> bool:
        """Whether SUBGATE_ALLOW_PRIVATE_TARGETS would let it through (so the refusal names it)."""
        return self.reason in ALLOWED_BY_SETTING

    def url(self, port: int = 19001) -> str:
        return f"http://{self.host}:{port}/hooks"


def decimal_digits() -> list[str]:
    """Every code point with a decimal value (general category Nd), all scripts."""
    return [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.decimal(chr(c), None) is not None]


def in_script_of(digit: str, number: str) -> str:
    """`number` (ASCII digits) written with the digits of `digit`'s script.

    Unicode encodes each script's digits as one run from zero to nine.
    """
    zero = ord(digit) - unicodedata.decimal(digit)
    return "".join(chr(zero + int(d)) for d in number)


def digit_spelling(group: str, host: str) -> Spelling:
    """IDNA maps some scripts' digits to ASCII ones (fullwidth, mathematical, segmented): that host
    is a loopback address; the others stay digits of their script, a numeric host readers disagree on.
    """
    ascii_after_mapping = unicodedata.normalize("NFKC", host).isascii()
    return Spelling(group, host, "loopback address" if ascii_after_mapping else "numeric host")


def every_digit_in_each_octet() -> list[Spelling]:
    """127.0.0.1 with each decimal digit of every script in each octet (the first spelled whole)."""
    spellings: list[Spelling] = []
    for digit in decimal_digits():
        hosts = [".".join([in_script_of(digit, "127"), "0", "0", "1"])]
        for position in (1, 2, 3):
            octets = ["127", "0", "0", "1"]
            octets[position] = digit
            hosts.append(".".join(octets))
        spellings.extend(
            digit_spelling(f"digit U+{ord(digit):04X} in octet {n}", host) for n, host in enumerate(hosts, 1)
        )
    return spellings


def every_script_in_each_octet() -> list[Spelling]:
    """127.0.0.1 with one octet written in each script's digits."""
    spellings = []
    for zero in (digit for digit in decimal_digits() if unicodedata.decimal(digit) == 0):
        for position in range(4):
            octets = ["127", "0", "0", "1"]
            octets[position] = in_script_of(zero, octets[position])
            group = f"script of U+{ord(zero):04X} in octet {position + 1}"
            spellings.append(digit_spelling(group, ".".join(octets)))
    return spellings


FULLWIDTH = "１２７.０.０.１"
SEGMENTED = "127.0.0.\U0001fbf1"  # U+1FBF1 SEGMENTED DIGIT ONE

# Class words: the setting would allow the target; the others are refused whatever the setting.
ALLOWED_BY_SETTING = (
    "loopback address",
    "loopback name",
    "private address",
    "link-local address",
    "unspecified address",
    "shared (CGNAT)",
    "multicast address",
    "reserved address",
    "site-local address",
)

# group -> (host, the words its refusal must contain), each reason worked out by hand.
NAMED_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "fullwidth": (
        (FULLWIDTH, "loopback address"),
        ("１２７．０．０．１", "loopback address"),
        ("127.0.0.１", "loopback address"),
        ("ｌｏｃａｌｈｏｓｔ", "loopback name"),
    ),
    "segmented and mathematical": (
        (SEGMENTED, "loopback address"),
        ("\U0001fbf1\U0001fbf2\U0001fbf7.\U0001fbf0.\U0001fbf0.\U0001fbf1", "loopback address"),
        ("\U0001d7cf\U0001d7d0\U0001d7d5.0.0.\U0001d7cf", "loopback address"),  # MATHEMATICAL BOLD
    ),
    "mixed scripts": (
        ("١٢٧.０.๐.\U0001d7cf", "numeric host"),
        ("127.０.0.\U0001fbf1", "loopback address"),
        ("१२७.0.0.1", "numeric host"),
        ("127.0.0.١", "numeric host"),
    ),
    "trailing dots": (
        ("127.0.0.1.", "numeric host"),
        ("127.0.0.1..", "not a valid host name"),
        ("localhost.", "loopback name"),
        ("localhost..", "not a valid host name"),
        ("１２７.０.０.１.", "numeric host"),
    ),
    "IDNA forms": (
        ("127\u30020\u30020\u30021", "loopback address"),  # IDEOGRAPHIC FULL STOPs
        ("127\uff0e0\uff0e0\uff0e1", "loopback address"),  # FULLWIDTH FULL STOPs
        ("127\uff610\uff610\uff611", "loopback address"),  # HALFWIDTH IDEOGRAPHIC FULL STOPs
        ("xn--9hbcp.xn--8hb.xn--8hb.xn--9hb", "numeric host"),  # ١٢٧.٠.٠.١, encoded already
        ("127.0.0.xn--9hb", "numeric host"),
        ("LOCALHOST", "loopback name"),
    ),
    "percent-encoding": (
        ("%31%32%37.0.0.1", "not a valid host name"),
        ("127.0.0.%31", "not a valid host name"),
        ("loc%61lhost", "not a valid host name"),
        ("127%2e0%2e0%2e1", "not a valid host name"),
    ),
    "IPv4-mapped IPv6": (
        ("[::ffff:127.0.0.1]", "loopback address"),
        ("[::ffff:7f00:1]", "loopback address"),
        ("[0:0:0:0:0:ffff:7f00:1]", "loopback address"),
        ("[::ffff:169.254.169.254]", "link-local address"),
        ("[::ffff:10.0.0.1]", "private address"),
    ),
    "IPv6 embedding IPv4": (
        ("[::127.0.0.1]", "reserved address"),  # IPv4-compatible, deprecated
        ("[64:ff9b::a9fe:a9fe]", "link-local address"),  # NAT64
        ("[2002:a9fe:a9fe::]", "link-local address"),  # 6to4
        ("[2002:7f00:1::]", "loopback address"),
    ),
    "IPv6 loopback and unspecified": (
        ("[::1]", "loopback address"),
        ("[0:0:0:0:0:0:0:1]", "loopback address"),
        ("[::]", "unspecified address"),
    ),
    "zone ids": (
        ("[fe80::1%25eth0]", "zone identifier"),
        ("[::1%25lo]", "zone identifier"),
        ("[fe80::1%eth0]", "zone identifier"),
        ("[::ffff:127.0.0.1%25lo]", "zone identifier"),
    ),
    "numeric IPv4 forms": tuple(
        (host, "numeric host")
        for host in (
            "2130706433",
            "017700000001",
            "0x7f000001",
            "0x7f.1",
            "0x7f.0x0.0x0.0x1",
            "0177.0.0.1",
            "0177.0.0.01",
            "127.1",
            "127.0.1",
            "127.000.000.001",
            "0",
            "0x0",
            "1.2.3.4.5",
        )
    ),
    "unspecified": (("0.0.0.0", "unspecified address"),),  # noqa: S104 - a host to refuse, not a bind
    "localhost names": (
        ("localhost", "loopback name"),
        ("LocalHost", "loopback name"),
        ("hooks.localhost", "loopback name"),
        ("localhost.localhost", "loopback name"),
        ("ＬＯＣＡＬＨＯＳＴ", "loopback name"),
    ),
    "private ranges": (
        ("10.0.0.1", "private address"),
        ("172.16.0.1", "private address"),
        ("172.31.255.254", "private address"),
        ("192.168.1.1", "private address"),
        ("[fd00::1]", "private address"),
        ("[fc00::1]", "private address"),
    ),
    "link-local": (
        ("169.254.169.254", "link-local address"),
        ("169.254.0.1", "link-local address"),
        ("[fe80::1]", "link-local address"),
        ("[fe80::a9fe:a9fe]", "link-local address"),
    ),
    "CGNAT": (("100.64.0.1", "shared (CGNAT)"), ("100.127.255.254", "shared (CGNAT)")),
    "other non-public": (
        ("224.0.0.1", "multicast address"),
        ("255.255.255.255", "private address"),
        ("240.0.0.1", "private address"),
        ("[ff02::1]", "multicast address"),
        ("[fec0::1]", "site-local address"),
        ("198.18.0.1", "private address"),
    ),
}


def named_spellings() -> list[Spelling]:
    return [Spelling(group, host, reason) for group, hosts in NAMED_GROUPS.items() for host, reason in hosts]
