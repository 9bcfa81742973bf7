"""Paddle's `Paddle-Signature`, checked against independent references and hostile headers.

The scheme: HMAC-SHA256 over ``f"{ts}:".encode() + body``, keyed with the UTF-8 bytes of the
secret as Paddle shows it, sent as lower-case hex in ``h1`` (one per secret in a rotation).
Two references decide what is right, never the project's own signer:

- the official SDK's verifier (`paddle_billing.Notifications.Verifier` with `Secret`), on
  generated cases: the same verdict for every secret list, body, timestamp and set of `h1`;
- fixed vectors computed outside the project with OpenSSL and committed as literals, each made
  with ``printf '%s' "<ts>:<body>" | openssl dgst -sha256 -hmac "<secret>" -hex`` (the shell
  passes the secret and the body as UTF-8 bytes).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from paddle_billing.Notifications import Secret, Verifier  # type: ignore[import-untyped]  # the SDK ships no type information

from integrations.providers.interface import MalformedRequest, MissingSignature, SignatureRejected
from integrations.providers.paddle.signature import (
    parse_signature,
    sign_paddle_payload,
    verify_paddle_signature,
)

TOLERANCE = 300
MAX_TIMESTAMP = 253_402_300_799  # the last second a datetime holds


@dataclass(frozen=True, slots=True, kw_only=True)
class Vector:
    secret: str
    timestamp: int
    body: bytes
    h1: str  # the hex digest OpenSSL printed


VECTORS = (
    Vector(
        secret="pdl_ntfset_01jfq2v6m5a7c9x3tz8k4d2w1e_c2VjcmV0LWZvci10ZXN0cy1vbmx5",
        timestamp=1_736_942_400,
        body=b'{"event_id":"evt_01","event_type":"subscription.updated","data":{"id":"sub_1"}}',
        h1="a01d142189e34e5b928455368202f331ef5c0c89128918c0276fbd5352497c36",
    ),
    Vector(
        # Non-ASCII in the secret and the body: both count as their UTF-8 bytes.
        secret="pdl_ntfset_clé-ünïcode-🔑",
        timestamp=1_700_000_000,
        body='{"note":"café ☕"}'.encode(),
        h1="d67f137e7be770bf219c5a389e16513e8d8d25e95b4dca4c8db58cdd781c7730",
    ),
    Vector(
        secret="pdl_ntfset_second_secret_in_rotation",
        timestamp=1,
        body=b"{}",
        h1="423a6875abb426ae4b28e5fe1d5185cd469ee054bcfb6d3fcff6071e939e1060",
    ),
)


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def verify(body: bytes, header: str, secrets: list[str], timestamp: int) -> None:
    verify_paddle_signature(body, {"paddle-signature": header}, secrets, at(timestamp), TOLERANCE)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: str(v.timestamp))
def test_each_fixed_vector_verifies(vector: Vector) -> None:
    verify(vector.body, f"ts={vector.timestamp};h1={vector.h1}", [vector.secret], vector.timestamp)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: str(v.timestamp))
def test_the_sdk_and_the_fixed_vectors_agree(vector: Vector) -> None:
    header = f"ts={vector.timestamp};h1={vector.h1}"

    assert sdk_verdict(vector.body, header, [vector.secret]) is True


def test_a_rotation_header_verifies_with_either_secret() -> None:
    first, second = VECTORS[2], VECTORS[2]
    other = hmac.new(b"pdl_ntfset_the_old_one", b"1:{}", hashlib.sha256).hexdigest()
    header = f"ts=1;h1={other};h1={first.h1}"

    verify(second.body, header, ["pdl_ntfset_not_this_one", second.secret], 1)
    verify(second.body, header, ["pdl_ntfset_the_old_one"], 1)
    with pytest.raises(SignatureRejected, match=r"^no h1 signature matches a configured secret$"):
        verify(second.body, header, ["pdl_ntfset_neither"], 1)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: str(v.timestamp))
def test_the_local_signer_writes_what_the_fixed_vectors_say(vector: Vector) -> None:
    assert sign_paddle_payload(vector.body, [vector.secret], vector.timestamp) == (
        f"ts={vector.timestamp};h1={vector.h1}"
    )


def test_a_changed_byte_of_the_body_or_the_timestamp_is_refused() -> None:
    vector = VECTORS[0]
    with pytest.raises(SignatureRejected):
        verify(vector.body + b" ", f"ts={vector.timestamp};h1={vector.h1}", [vector.secret], vector.timestamp)
    with pytest.raises(SignatureRejected):
        verify(vector.body, f"ts={vector.timestamp + 1};h1={vector.h1}", [vector.secret], vector.timestamp)


@pytest.mark.parametrize("skew", [TOLERANCE, -TOLERANCE], ids=["past", "future"])
def test_the_tolerance_holds_both_ways_to_the_second(skew: int) -> None:
    vector = VECTORS[0]
    header = f"ts={vector.timestamp};h1={vector.h1}"
    verify_paddle_signature(
        vector.body, {"paddle-signature": header}, [vector.secret], at(vector.timestamp + skew), TOLERANCE
    )
    beyond = at(vector.timestamp + skew) + timedelta(seconds=1 if skew > 0 else -1)
    with pytest.raises(SignatureRejected, match=r"^signature timestamp is more than 300s away from now$"):
        verify_paddle_signature(vector.body, {"paddle-signature": header}, [vector.secret], beyond, TOLERANCE)


# --------------------------------------------------------------------------- the SDK's verdict


class _Request:
    """What the SDK's verifier reads of a request: its headers and its raw body."""

    def __init__(self, body: bytes, header: str) -> None:
        self.body = body
        self.headers = {"Paddle-Signature": header}


def sdk_verdict(body: bytes, header: str, secrets: list[str]) -> bool:
    """The official verifier's answer, without its wall-clock check (tested on its own above)."""
    try:
        verdict: Any = Verifier().verify(_Request(body, header), [Secret(s) for s in secrets], False)
    except ConnectionRefusedError:  # the SDK's way of saying no secret matched
        return False
    return bool(verdict)


def ours(body: bytes, header: str, secrets: list[str], timestamp: int) -> bool:
    try:
        verify(body, header, secrets, timestamp)
    except SignatureRejected:
        return False
    return True


secret_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)


@st.composite
def signed_cases(draw: st.DrawFn) -> tuple[bytes, str, list[str], int]:
    secrets = draw(st.lists(secret_text, min_size=1, max_size=3))
    signers = draw(st.lists(st.one_of(st.sampled_from(secrets), secret_text), min_size=0, max_size=3))
    body = draw(st.text(st.characters(codec="utf-8"), max_size=200)).encode()
    timestamp = draw(st.integers(min_value=0, max_value=MAX_TIMESTAMP))
    signed = f"{timestamp}:".encode() + body
    digests = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in signers]
    digests += draw(st.lists(st.text("0123456789abcdef", min_size=64, max_size=64), max_size=2))
    if not digests:
        digests = ["0" * 64]
    order = draw(st.permutations(digests))
    return body, ";".join([f"ts={timestamp}", *(f"h1={d}" for d in order)]), secrets, timestamp


@settings(deadline=None, max_examples=300)  # the shared machine is slow; a deadline only adds flakiness
@given(case=signed_cases())
def test_every_verdict_is_the_official_sdks(case: tuple[bytes, str, list[str], int]) -> None:
    body, header, secrets, timestamp = case

    assert ours(body, header, secrets, timestamp) == sdk_verdict(body, header, secrets)


@settings(deadline=None)
@given(case=signed_cases())
def test_an_h1_in_upper_case_gets_the_sdks_verdict(case: tuple[bytes, str, list[str], int]) -> None:
    body, header, secrets, timestamp = case
    shouted = header.upper().replace("TS=", "ts=").replace("H1=", "h1=")

    assert ours(body, shouted, secrets, timestamp) == sdk_verdict(body, shouted, secrets)


# --------------------------------------------------------------------------- hostile headers

DIGEST = "ab" * 32


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        pytest.param("", "Paddle-Signature needs exactly one ts, found 0", id="empty"),
        pytest.param(f"h1={DIGEST}", "Paddle-Signature needs exactly one ts, found 0", id="no-ts"),
        pytest.param("ts=1", "Paddle-Signature has no h1 signature", id="no-h1"),
        pytest.param(f"ts=1;ts=2;h1={DIGEST}", "Paddle-Signature needs exactly one ts, found 2", id="two-ts"),
        pytest.param(
            f"ts=1;h1={DIGEST};ts=1", "Paddle-Signature needs exactly one ts, found 2", id="ts-again"
        ),
        pytest.param(
            f"ts=1234567890123;h1={DIGEST}", "Paddle-Signature ts is not unix seconds", id="huge-ts"
        ),
        pytest.param(
            f"ts={'9' * 5000};h1={DIGEST}", "Paddle-Signature is longer than 4096 characters", id="giant"
        ),
        pytest.param(
            f"ts=١٧٣٦٩٤٢٤٠٠;h1={DIGEST}", "Paddle-Signature ts is not unix seconds", id="arabic-digits"
        ),
        pytest.param(
            f"ts=\uff11\uff12\uff13;h1={DIGEST}", "Paddle-Signature ts is not unix seconds", id="wide-digits"
        ),
        pytest.param(f"ts=-1;h1={DIGEST}", "Paddle-Signature ts is not unix seconds", id="negative"),
        pytest.param(f"ts=+1;h1={DIGEST}", "Paddle-Signature ts is not unix seconds", id="plus"),
        pytest.param(f"ts=1_000;h1={DIGEST}", "Paddle-Signature ts is not unix seconds", id="underscore"),
        pytest.param("ts=1;h1=abc", "Paddle-Signature h1 is not 64 hexadecimal characters", id="short-h1"),
        pytest.param(
            f"ts=1;h1={DIGEST}0", "Paddle-Signature h1 is not 64 hexadecimal characters", id="long-h1"
        ),
        pytest.param(
            f"ts=1;h1={DIGEST[:-1]}g", "Paddle-Signature h1 is not 64 hexadecimal characters", id="not-hex"
        ),
        pytest.param(
            f"ts=1;h1={DIGEST[:-1]}٣", "Paddle-Signature h1 is not 64 hexadecimal characters", id="arabic-hex"
        ),
        pytest.param(
            f"ts=1;h1={DIGEST};junk", "Paddle-Signature has an item that is not key=value", id="no-equals"
        ),
        pytest.param(f"ts=1,h1={DIGEST}", "Paddle-Signature ts is not unix seconds", id="stripe-commas"),
    ],
)
def test_a_hostile_header_is_malformed_saying_why(header: str, reason: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        parse_signature(header)

    assert str(refused.value) == reason


def test_the_longest_header_and_many_h1_are_read_in_full() -> None:
    vector = VECTORS[0]
    noise = ";".join(["h1=" + "0" * 64] * 59)
    header = f"ts={vector.timestamp};{noise};h1={vector.h1}"
    assert len(header) <= 4096

    verify(vector.body, header, [vector.secret], vector.timestamp)
    assert len(parse_signature(header).signatures) == 60


def test_spaces_empty_items_and_other_schemes_are_tolerated() -> None:
    vector = VECTORS[0]
    header = f" ts = {vector.timestamp} ;; h2=anything; h1={vector.h1} ;"

    verify(vector.body, header, [vector.secret], vector.timestamp)


def test_a_missing_header_and_bad_secrets_say_so() -> None:
    with pytest.raises(MissingSignature, match=r"^Paddle-Signature header is required$"):
        verify_paddle_signature(b"{}", {}, ["pdl_ntfset_x"], at(1), TOLERANCE)
    for secrets in ("pdl_ntfset_one_string", [], ["pdl_ntfset_x", ""]):
        with pytest.raises(ValueError, match=r"^secrets must be a non-empty sequence of non-empty secrets$"):
            verify_paddle_signature(
                b"{}", {"paddle-signature": "ts=1;h1=" + DIGEST}, secrets, at(1), TOLERANCE
            )


@settings(deadline=None)
@given(header=st.text(max_size=300))
def test_any_header_is_read_or_refused_as_malformed(header: str) -> None:
    try:
        parsed = parse_signature(header)
    except MalformedRequest:
        return
    assert 0 <= parsed.timestamp < 10**12
    assert parsed.signatures
