"""An endpoint URL read once, the way the HTTP client reads it.

The HTTP client (aiohttp) parses URLs with yarl, which maps Unicode hosts to ASCII the IDNA
(UTS #46) way: fullwidth digits, mathematical or segmented digits and ideographic full stops
become plain ones, so 127.0.0.1 written in fullwidth digits is 127.0.0.1 to it. Any other
reading of the host (`urllib.parse`, the `idna` codec of `socket`) can judge one host and let
the client connect to another. So `endpoint_target` parses with yarl, refuses what different readers could
disagree on, and gives back the URL object itself: registration stores its text, and every
attempt parses that text again (the same result: the form is a fixed point) and hands the very
object to the client.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from yarl import URL

from domain.notifications.external import MAX_URL_LENGTH
from integrations.delivery.http.targets import IPAddress

MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
MAX_PORT = 65535
# What is left of a name once yarl has lowercased it and IDNA-encoded its non-ASCII labels.
_NAME_CHARACTERS = re.compile(r"[a-z0-9_.-]+")
_HEX_NUMBER = re.compile(r"0x[0-9a-f]*")
# The authority as written: after `scheme://`, up to the path, query or fragment.
_AUTHORITY = re.compile(r"[^:/?#]*://([^/?#]*)")
_ERROR_TEXT_LIMIT = 200
# Any white space (Unicode's spaces and line and paragraph separators included), the C0 and C1
# control characters, and the backslash.
_ODD_CHARACTER = re.compile(r"[\s\\\x00-\x1f\x7f-\x9f]")
# Every attempt reads its endpoint's stored URL again; the same few URLs, over and over.
_CACHED_TARGETS = 4096


class InvalidTargetUrl(ValueError):
    """The URL cannot be an endpoint: the message says why, in words a merchant can act on."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointTarget:
    url: URL  # what the HTTP client is given
    host: str  # the client's host: an IP literal (IPv6 without brackets) or an ASCII name
    port: int
    address: IPAddress | None  # the host, when it is an IP literal

    @property
    def text(self) -> str:
        """The normalised URL: what is stored, and what parses back to this very target."""
        return str(self.url)


@functools.lru_cache(maxsize=_CACHED_TARGETS)
def endpoint_target(raw: str) -> EndpointTarget:
    """The URL as the HTTP client will read it, or InvalidTargetUrl naming what is wrong."""
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidTargetUrl(f"a URL of at most {MAX_URL_LENGTH} characters is required")
    _refuse_odd_characters(raw)
    try:
        url = URL(raw)
        port = url.port
    except (ValueError, UnicodeError) as error:  # yarl's words for a malformed URL, port or host
        raise InvalidTargetUrl(f"not a valid URL: {str(error)[:_ERROR_TEXT_LIMIT]}") from None
    host = url.raw_host
    if url.scheme not in ("http", "https") or not url.absolute or not host or port is None:
        raise InvalidTargetUrl("an absolute http(s) URL is required")
    written = _AUTHORITY.match(raw)
    authority = written.group(1) if written else ""
    if url.raw_user is not None or url.raw_password is not None or "@" in authority:
        raise InvalidTargetUrl("credentials in the URL are not allowed")
    if ":" not in host and ("[" in authority or "]" in authority):  # yarl unwraps `[v1.x]` to a name
        raise InvalidTargetUrl("brackets in the host are for IPv6 addresses only")
    if not 1 <= port <= MAX_PORT:
        raise InvalidTargetUrl(f"the port must be between 1 and {MAX_PORT}")
    # A fragment is never sent; without it, what is stored is what is requested.
    url = url.with_fragment(None)
    return EndpointTarget(url=url, host=host, port=port, address=_host_address(host))


def _refuse_odd_characters(raw: str) -> None:
    """Control characters, spaces and backslashes: readers drop, keep or translate them differently."""
    if odd := _ODD_CHARACTER.search(raw):
        raise InvalidTargetUrl(
            "the URL must not contain spaces, control characters or backslashes "
            f"({odd.group()!r} at position {odd.start()})"
        )


def _host_address(host: str) -> IPAddress | None:
    """The IP address the host is, None for a name; InvalidTargetUrl for a host readers disagree on."""
    if ":" in host:
        if "%" in host:
            raise InvalidTargetUrl("an IPv6 zone identifier is not allowed in an endpoint URL")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidTargetUrl(f"{host!r} is not a valid IPv6 address") from None
    labels = [_label_text(label) for label in _checked_labels(host)]
    last_label = labels[-1]
    if _looks_numeric(last_label):
        # A name ending in a number is read as IPv4 by URL parsers and resolvers, each its own
        # way (`127.1`, `0x7f.1`, `2130706433`, digits of other scripts): only the one form
        # every reader agrees on is accepted.
        try:
            return ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidTargetUrl(
                f"{host!r} is a numeric host (it ends in {last_label!r}) "
                "that is not a plain dotted-quad IPv4 address"
            ) from None
    return None


def _checked_labels(host: str) -> list[str]:
    """The labels of a host name (a trailing dot aside), or InvalidTargetUrl."""
    name = host.removesuffix(".")
    if not _NAME_CHARACTERS.fullmatch(name):
        raise InvalidTargetUrl(f"{host[:_ERROR_TEXT_LIMIT]!r} is not a valid host name")
    if len(name) > MAX_HOST_LENGTH:
        raise InvalidTargetUrl(f"a host name of at most {MAX_HOST_LENGTH} characters is required")
    if any(not 1 <= len(label) <= MAX_LABEL_LENGTH for label in name.split(".")):
        raise InvalidTargetUrl(
            f"{host[:_ERROR_TEXT_LIMIT]!r} is not a valid host name "
            f"(each dot-separated label has 1 to {MAX_LABEL_LENGTH} characters)"
        )
    return name.split(".")


def _label_text(label: str) -> str:
    """A label as written before IDNA encoding (`xn--9hb` is ARABIC-INDIC DIGIT ONE): digits show as such."""
    if not label.startswith("xn--"):
        return label
    try:
        return label.removeprefix("xn--").encode("ascii").decode("punycode")
    except UnicodeError:
        raise InvalidTargetUrl(f"{label!r} is not a valid internationalised label") from None


def _looks_numeric(label: str) -> bool:
    return label.isnumeric() or _HEX_NUMBER.fullmatch(label) is not None
