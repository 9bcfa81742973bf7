"""Paddle Billing webhook signatures: ``Paddle-Signature: ts=<unix seconds>;h1=<hex>``.

Paddle signs ``f"{ts}:".encode() + body`` with HMAC-SHA256 keyed with the UTF-8 bytes of the
notification destination's secret (``pdl_ntfset_...``, used exactly as shown) and sends the
lower-case hex digest as ``h1``; during a secret rotation the header carries one ``h1`` per
secret. Every ``h1`` is compared, in constant time, with the digest under every secret of
the connection.

Read strictly, since the header is the caller's text: at most `MAX_HEADER_LENGTH`
characters; ``;``-separated ``key=value`` items (spaces around them allowed, empty items
skipped, keys other than ``ts`` and ``h1`` left for schemes that are not ours); exactly one
``ts`` of 1 to 12 ASCII digits (another script's digits are no timestamp); at least one
``h1``, each 64 hexadecimal characters. Anything else is `MalformedRequest` (400); a
timestamp outside the tolerance, either way, or no matching ``h1`` is `SignatureRejected`
(401). An ``h1`` in upper case is well formed but never Paddle's, so it matches nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from integrations.providers.interface import MalformedRequest, MissingSignature, SignatureRejected

__all__ = [
    "MAX_HEADER_LENGTH",
    "SIGNATURE_HEADER",
    "ParsedPaddleSignature",
    "parse_signature",
    "sign_paddle_payload",
    "verify_paddle_signature",
]

SIGNATURE_HEADER: Final = "paddle-signature"
MAX_HEADER_LENGTH: Final = 4096
_TIMESTAMP_KEY: Final = "ts"
_SCHEME: Final = "h1"
_TIMESTAMP_RE: Final = re.compile(r"[0-9]{1,12}")  # twelve digits reach the year 33658
_DIGEST_RE: Final = re.compile(r"[0-9a-fA-F]{64}")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_MICROSECONDS_PER_SECOND: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class ParsedPaddleSignature:
    timestamp: int
    signatures: tuple[str, ...]  # the h1 values as sent


def parse_signature(value: str) -> ParsedPaddleSignature:
    """Read a `Paddle-Signature` value; MalformedRequest (and nothing else) for an unusable one."""
    if len(value) > MAX_HEADER_LENGTH:
        raise MalformedRequest(f"Paddle-Signature is longer than {MAX_HEADER_LENGTH} characters")
    timestamps: list[int] = []
    digests: list[str] = []
    for item in value.split(";"):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        if not sep:
            raise MalformedRequest("Paddle-Signature has an item that is not key=value")
        key, raw = key.strip(), raw.strip()
        if key == _TIMESTAMP_KEY:
            if _TIMESTAMP_RE.fullmatch(raw) is None:
                raise MalformedRequest("Paddle-Signature ts is not unix seconds")
            timestamps.append(int(raw))
        elif key == _SCHEME:
            if _DIGEST_RE.fullmatch(raw) is None:
                raise MalformedRequest("Paddle-Signature h1 is not 64 hexadecimal characters")
            digests.append(raw)
    if len(timestamps) != 1:
        raise MalformedRequest(f"Paddle-Signature needs exactly one ts, found {len(timestamps)}")
    if not digests:
        raise MalformedRequest("Paddle-Signature has no h1 signature")
    return ParsedPaddleSignature(timestamp=timestamps[0], signatures=tuple(digests))


def verify_paddle_signature(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    now: datetime,
    tolerance_seconds: int,
) -> ParsedPaddleSignature:
    """The parsed header when some secret signed `body`; MissingSignature, MalformedRequest or
    SignatureRejected otherwise (ValueError for a caller's bad arguments)."""
    if isinstance(secrets, str) or not secrets or any(not secret for secret in secrets):
        raise ValueError("secrets must be a non-empty sequence of non-empty secrets")
    header = headers.get(SIGNATURE_HEADER)
    if not header:
        raise MissingSignature("Paddle-Signature header is required")
    parsed = parse_signature(header)
    # Integer microseconds: exact, and no overflow for any twelve-digit timestamp.
    skew_us = (now - _EPOCH) // _MICROSECOND - parsed.timestamp * _MICROSECONDS_PER_SECOND
    if abs(skew_us) > tolerance_seconds * _MICROSECONDS_PER_SECOND:
        # Future timestamps too: a signature dated ahead would stay replayable for longer.
        raise SignatureRejected(f"signature timestamp is more than {tolerance_seconds}s away from now")
    signed = _signed_content(parsed.timestamp, body)
    given = [digest.encode("ascii") for digest in parsed.signatures]
    for secret in secrets:
        expected = _hex_digest(secret, signed)
        # Every candidate goes through compare_digest: timing reveals nothing about a forgery.
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return parsed
    raise SignatureRejected("no h1 signature matches a configured secret")


def _signed_content(timestamp: int, body: bytes) -> bytes:
    return f"{timestamp}:".encode("ascii") + body


def _hex_digest(secret: str, signed: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest().encode("ascii")


def sign_paddle_payload(body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """The `Paddle-Signature` value Paddle would send with `body`, one `h1` per secret: for
    local tooling (`subgate events send paddle`)."""
    if isinstance(secrets, str) or not secrets or any(not secret for secret in secrets):
        raise ValueError("secrets must be a non-empty sequence of non-empty secrets")
    if timestamp < 0:
        raise ValueError("timestamp must not be negative")
    signed = _signed_content(timestamp, body)
    h1 = ";".join(f"{_SCHEME}={_hex_digest(secret, signed).decode()}" for secret in secrets)
    return f"{_TIMESTAMP_KEY}={timestamp};{h1}"
