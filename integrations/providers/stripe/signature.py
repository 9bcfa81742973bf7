"""Stripe webhook signature verification over the raw request body.

Stripe signs ``f"{t}.{body}"`` with HMAC-SHA256 and sends the result in the
``Stripe-Signature`` header as ``t=<unix seconds>,v1=<hex digest>[,v1=...]``.
The official SDK decodes the body to ``str`` before hashing, which crashes on
bodies that are not valid UTF-8. Here the body stays ``bytes`` end to end, so
the exact bytes received are the exact bytes authenticated.

Only the ``v1`` scheme is trusted; ``v0`` (a legacy scheme that Stripe sends
in test mode) and unknown schemes are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "InvalidSignature",
    "MalformedSignatureHeader",
    "ParsedStripeSignature",
    "SignatureMismatch",
    "TimestampOutsideTolerance",
    "parse_signature_header",
    "sign_stripe_payload",
    "verify_stripe_signature",
]

# Real headers are around 200 characters; the cap bounds parsing work for
# hostile input. It must stay below Python's int/str conversion limit (4300
# digits), otherwise int() could raise a plain ValueError on a huge timestamp.
MAX_HEADER_LENGTH = 4096

_SCHEME = "v1"
_TIMESTAMP_KEY = "t"
_DIGEST_HEX_LENGTH = hashlib.sha256().digest_size * 2
# Explicit ASCII classes: ``\d`` and ``int()`` would also accept non-ASCII
# digits, signs and underscores, none of which Stripe ever sends.
_TIMESTAMP_RE = re.compile(r"[0-9]+")
_DIGEST_RE = re.compile(rf"[0-9a-fA-F]{{{_DIGEST_HEX_LENGTH}}}")
_ITEM_WHITESPACE = " \t\r\n\f\v"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MICROSECONDS_PER_SECOND = 1_000_000


class InvalidSignature(Exception):
    """The webhook could not be authenticated."""


class MalformedSignatureHeader(InvalidSignature, ValueError):
    """The ``Stripe-Signature`` header is not in the expected format.

    It is also an :class:`InvalidSignature` so a single ``except`` can turn
    every authentication failure into the same HTTP response.
    """


class TimestampOutsideTolerance(InvalidSignature):
    """The signed timestamp is too far from the current time (either way)."""


class SignatureMismatch(InvalidSignature):
    """No ``v1`` signature matches any configured secret."""


@dataclass(frozen=True, slots=True)
class ParsedStripeSignature:
    """The parts of a ``Stripe-Signature`` header that verification uses."""

    timestamp: int
    signatures: tuple[bytes, ...]


def parse_signature_header(value: str) -> ParsedStripeSignature:
    """Parse a ``Stripe-Signature`` header value.

    Raises :class:`MalformedSignatureHeader` (and nothing else) for any input
    that is not a usable header.
    """
    # Length first, so that nothing below ever scans an oversized value.
    if len(value) > MAX_HEADER_LENGTH:
        raise MalformedSignatureHeader(f"signature header is longer than {MAX_HEADER_LENGTH} characters")
    if not value.strip(_ITEM_WHITESPACE):
        raise MalformedSignatureHeader("signature header is empty")
    timestamps: list[int] = []
    signatures: list[bytes] = []
    for item in value.split(","):
        key, _, raw = item.partition("=")
        key = key.strip(_ITEM_WHITESPACE)
        raw = raw.strip(_ITEM_WHITESPACE)
        if key == _TIMESTAMP_KEY:
            timestamps.append(_parse_timestamp(raw))
        elif key == _SCHEME:
            signatures.append(_parse_digest(raw))
    if len(timestamps) != 1:
        raise MalformedSignatureHeader(
            f"signature header needs exactly one timestamp, found {len(timestamps)}"
        )
    if not signatures:
        raise MalformedSignatureHeader("signature header has no v1 signature")
    return ParsedStripeSignature(timestamp=timestamps[0], signatures=tuple(signatures))


def _parse_timestamp(raw: str) -> int:
    # The regex rejects signs too, so negative timestamps never get here.
    if _TIMESTAMP_RE.fullmatch(raw) is None:
        raise MalformedSignatureHeader("timestamp is not a non-negative integer")
    return int(raw)


def _parse_digest(raw: str) -> bytes:
    # Validate first: bytes.fromhex would silently skip embedded whitespace.
    if _DIGEST_RE.fullmatch(raw) is None:
        raise MalformedSignatureHeader(f"v1 signature is not {_DIGEST_HEX_LENGTH} hexadecimal characters")
    return bytes.fromhex(raw)


def verify_stripe_signature(
    body: bytes,
    header: str,
    secrets: Sequence[str],
    now: datetime,
    tolerance_seconds: int,
) -> None:
    """Authenticate a Stripe webhook; return normally only if it is genuine.

    ``secrets`` holds every currently valid endpoint secret so that a secret
    can be rotated without rejecting in-flight deliveries.

    Raises :class:`MalformedSignatureHeader`, :class:`TimestampOutsideTolerance`
    or :class:`SignatureMismatch` for a rejected request, and ``ValueError`` /
    ``TypeError`` for invalid arguments (a caller bug, not a bad request).
    """
    _check_arguments(secrets, now, tolerance_seconds)
    parsed = parse_signature_header(header)
    _check_timestamp(parsed.timestamp, now, tolerance_seconds)
    signed = _signed_payload(body, parsed.timestamp)
    for secret in secrets:
        expected = _digest(secret, signed)
        # Every candidate goes through compare_digest so timing reveals nothing
        # about how much of a forged signature was right.
        if any(hmac.compare_digest(expected, given) for given in parsed.signatures):
            return
    raise SignatureMismatch("no v1 signature matches a configured secret")


def _check_arguments(secrets: Sequence[str], now: datetime, tolerance_seconds: int) -> None:
    # A bare str is a Sequence[str]; iterating it would turn every character
    # into a one-character secret that anyone could brute-force.
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, not a single str")
    if not secrets:
        raise ValueError("at least one webhook secret is required")
    if any(not secret for secret in secrets):
        # An empty HMAC key is public knowledge: anyone could sign.
        raise ValueError("webhook secrets must not be empty")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if tolerance_seconds < 0:
        raise ValueError("tolerance_seconds must not be negative")


def _check_timestamp(timestamp: int, now: datetime, tolerance_seconds: int) -> None:
    # Integer microseconds keep the comparison exact and avoid the overflow a
    # float or datetime conversion would hit on an absurd (but well-formed)
    # timestamp such as t=99999999999999999999.
    # Datetimes are whole microseconds, so `/` would give the same value: that mutant is equivalent.
    now_us = (now - _EPOCH) // _MICROSECOND  # pragma: no mutate
    skew_us = now_us - timestamp * _MICROSECONDS_PER_SECOND
    # Future timestamps are rejected too: a signature dated ahead of time
    # would otherwise stay replayable for longer than the tolerance.
    if abs(skew_us) > tolerance_seconds * _MICROSECONDS_PER_SECOND:
        raise TimestampOutsideTolerance(
            f"signature timestamp is more than {tolerance_seconds}s away from now"
        )


def _signed_payload(body: bytes, timestamp: int) -> bytes:
    return f"{timestamp}.".encode("ascii") + body  # pragma: no mutate - codec names ignore case


def _digest(secret: str, signed: bytes) -> bytes:
    # Codec names ignore case (mutmut's "UTF-8" is the same codec).
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()  # pragma: no mutate


def sign_stripe_payload(body: bytes, secret: str, timestamp: int) -> str:
    """Build a ``Stripe-Signature`` value for ``body``, as Stripe would.

    Meant for tests, benchmarks and local tooling that need to impersonate
    Stripe.
    """
    if not secret:
        raise ValueError("secret must not be empty")
    if timestamp < 0:
        raise ValueError("timestamp must not be negative")
    digest = _digest(secret, _signed_payload(body, timestamp))
    return f"{_TIMESTAMP_KEY}={timestamp},{_SCHEME}={digest.hex()}"
