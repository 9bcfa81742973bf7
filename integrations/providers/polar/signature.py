"""Polar webhook signatures: Standard Webhooks, keyed either of the two ways Polar signs.

Polar signs ``f"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256 and sends
``webhook-signature: v1,<base64 digest>`` (several space-separated entries during a
rotation). The key is one of two, and the secret cannot tell which:

* the UTF-8 bytes of the whole secret string, prefix and all (`SigningScheme.SECRET_BYTES`):
  endpoints created before 2026-09-08, and secrets merchants chose themselves. Polar's SDK
  base64-encodes the secret before handing it to the Standard Webhooks library, which
  decodes it straight back;
* the base64-decoded part after ``whsec_`` (`SigningScheme.STANDARD_WEBHOOKS`), as svix
  and every Standard Webhooks library read a ``whsec_`` secret: endpoints created since.

So every ``v1`` signature is compared, in constant time, with the digest under both keys of
every secret (the second only for a ``whsec_`` secret whose rest decodes), and the verdict
names the way that verified. Nothing else is ever decoded or trimmed.

The body stays ``bytes``: the exact bytes received are the exact bytes authenticated. Refusals
are the provider interface's own: `MissingSignature`, `MalformedRequest` (400) and
`SignatureRejected` (401).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from integrations.providers.interface import MalformedRequest, MissingSignature, SignatureRejected

__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ParsedSignature",
    "SigningScheme",
    "VerifiedSignature",
    "parse_signature",
    "sign_polar_payload",
    "verify_polar_signature",
]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

MAX_HEADER_LENGTH = 4096
MAX_ID_LENGTH = 255
_VERSION = "v1"
_DIGEST_SIZE = hashlib.sha256().digest_size
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")  # twelve digits reach the year 33658
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MICROSECONDS_PER_SECOND = 1_000_000


STANDARD_PREFIX = "whsec_"


class SigningScheme(enum.StrEnum):
    """The two ways Polar keys its signatures (see the module docstring); a connection shows the
    one that last verified."""

    SECRET_BYTES = "secret_bytes"  # noqa: S105 - the name of a way of signing, not a secret
    STANDARD_WEBHOOKS = "standard_webhooks"


@dataclass(frozen=True, slots=True)
class ParsedSignature:
    message_id: str
    timestamp: int
    signatures: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class VerifiedSignature(ParsedSignature):
    scheme: SigningScheme


def parse_signature(headers: Mapping[str, str]) -> ParsedSignature:
    """Read the three headers (lower-case names); raises MissingSignature or MalformedRequest."""
    message_id = headers.get(ID_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not message_id or not timestamp or not signature:
        raise MissingSignature(f"{ID_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
    if len(message_id) > MAX_ID_LENGTH or not message_id.isprintable():
        raise MalformedRequest(f"{ID_HEADER} is not a printable id of at most {MAX_ID_LENGTH} characters")
    if _TIMESTAMP_RE.fullmatch(timestamp.strip()) is None:
        raise MalformedRequest(f"{TIMESTAMP_HEADER} is not unix seconds")
    if len(signature) > MAX_HEADER_LENGTH:
        raise MalformedRequest(f"{SIGNATURE_HEADER} is longer than {MAX_HEADER_LENGTH} characters")
    digests = tuple(_v1_digests(signature))
    if not digests:
        raise MalformedRequest(f"{SIGNATURE_HEADER} has no {_VERSION} signature")
    return ParsedSignature(message_id=message_id, timestamp=int(timestamp.strip()), signatures=digests)


def _v1_digests(header: str) -> list[bytes]:
    digests = []
    for entry in header.split():
        version, _, value = entry.partition(",")
        if version != _VERSION:
            continue  # other schemes (v1a, ...) are not ours to check
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRequest(f"a {_VERSION} signature is not base64") from None
        if len(digest) != _DIGEST_SIZE:
            raise MalformedRequest(f"a {_VERSION} signature is not {_DIGEST_SIZE} bytes")
        digests.append(digest)
    return digests


def verify_polar_signature(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    now: datetime,
    tolerance_seconds: int,
) -> VerifiedSignature:
    """Return the parsed headers and the way they were signed if some secret signed `body`.

    Raises MissingSignature / MalformedRequest (a bad request) or SignatureRejected.
    """
    if isinstance(secrets, str) or not secrets or any(not secret for secret in secrets):
        raise ValueError("secrets must be a non-empty sequence of non-empty secrets")
    parsed = parse_signature(headers)
    skew_us = (now - _EPOCH) // _MICROSECOND - parsed.timestamp * _MICROSECONDS_PER_SECOND
    if abs(skew_us) > tolerance_seconds * _MICROSECONDS_PER_SECOND:
        # Future timestamps too: a signature dated ahead would stay replayable for longer.
        raise SignatureRejected(f"signature timestamp is more than {tolerance_seconds}s away from now")
    signed = _signed_content(parsed.message_id, parsed.timestamp, body)
    for secret in secrets:
        for scheme, key in signing_keys(secret):
            expected = hmac.new(key, signed, hashlib.sha256).digest()
            # Every candidate goes through compare_digest: timing reveals nothing about a forgery.
            if any(hmac.compare_digest(expected, given) for given in parsed.signatures):
                return VerifiedSignature(*_fields(parsed), scheme=scheme)
    raise SignatureRejected("no v1 signature matches a configured secret")


def _fields(parsed: ParsedSignature) -> tuple[str, int, tuple[bytes, ...]]:
    return parsed.message_id, parsed.timestamp, parsed.signatures


def signing_keys(secret: str) -> list[tuple[SigningScheme, bytes]]:
    """The HMAC keys a secret stands for: its UTF-8 bytes, and for a ``whsec_`` secret whose
    rest is base64 of at least one byte, those bytes."""
    keys = [(SigningScheme.SECRET_BYTES, secret.encode("utf-8"))]
    if secret.startswith(STANDARD_PREFIX):
        try:
            decoded = base64.b64decode(secret.removeprefix(STANDARD_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if decoded:  # an empty key would be everyone's
            keys.append((SigningScheme.STANDARD_WEBHOOKS, decoded))
    return keys


def _signed_content(message_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{message_id}.{timestamp}.".encode() + body


def sign_polar_payload(
    body: bytes,
    secret: str,
    message_id: str,
    timestamp: int,
    scheme: SigningScheme = SigningScheme.SECRET_BYTES,
) -> dict[str, str]:
    """The three headers Polar would send with `body`, signed `scheme`'s way: for local tooling."""
    if not secret:
        raise ValueError("secret must not be empty")
    keys = dict(signing_keys(secret))
    if scheme not in keys:
        raise ValueError(f"secret is not {STANDARD_PREFIX}<base64>, so it cannot sign the {scheme} way")
    digest = hmac.new(keys[scheme], _signed_content(message_id, timestamp, body), hashlib.sha256).digest()
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{_VERSION},{base64.b64encode(digest).decode()}",
    }
