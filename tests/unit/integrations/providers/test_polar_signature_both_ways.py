"""Polar signs two ways; a connection's secret verifies both, and says which way verified.

Endpoints created before 2026-09-08 (and secrets merchants chose) are keyed with the UTF-8
bytes of the whole secret; newer ones the Standard Webhooks way, with the base64-decoded part
after `whsec_`. The secret cannot tell which. References, never the project's own signer:

- the old way as Polar's SDK signs: the Standard Webhooks library (svix) given the base64 of
  the secret's UTF-8 bytes;
- the new way as any Standard Webhooks sender: svix given the `whsec_` secret itself;
- fixed vectors computed outside the project with OpenSSL, committed as literals. The new
  way's were made with ``printf '%s' "<part after whsec_>" | base64 -d | xxd -p`` for the key,
  then ``printf '%s' "<id>.<timestamp>.<body>" | openssl dgst -sha256 -mac HMAC -macopt
  hexkey:<key> -binary | base64``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings, strategies as st
from svix.webhooks import Webhook

from integrations.providers.interface import SignatureRejected
from integrations.providers.polar.signature import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SigningScheme,
    VerifiedSignature,
    signing_keys,
    verify_polar_signature,
)

TOLERANCE = 300
MAX_TIMESTAMP = 253_402_300_799
OLD = SigningScheme.SECRET_BYTES
NEW = SigningScheme.STANDARD_WEBHOOKS

# (secret, message id, timestamp, body, base64 digest OpenSSL printed), signed the new way.
NEW_WAY_VECTORS = (
    (
        "whsec_MfKQ9r4gKGpM1gLsV8yLZa4DxLvwzFeC",
        "msg_2Vq8",
        1_700_000_000,
        b'{"type":"subscription.active"}',
        "QbE89WS0lyP6zYItmD1mZkApALxep1dyc3bUTcok90M=",
    ),
    (
        "whsec_c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWI=",
        "msg_p0lar_n3w",
        1_736_942_400,
        '{"type":"subscription.updated","data":{"id":"sub_1","note":"café"}}'.encode(),
        "vKTuRnwLEcsoBsm/CseF5vxT8trxcYT0MAupAIci1m8=",
    ),
)
# Signed the old way (the key is the secret's own bytes), from test_polar_signature's vectors.
OLD_WAY_WHSEC = (
    "whsec_MfKQ9r4gKGpM1gLsV8yLZa4DxLvwzFeC",
    "1736942400",
    1,
    b"{}",
    "SKvyY8cXNJ3mDOil82nDEDbxNy9PGWQ+7yDj65ijBxA=",
)


def headers(message_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {ID_HEADER: message_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature}


def verify(body: bytes, given: dict[str, str], secrets: list[str], timestamp: int) -> VerifiedSignature:
    return verify_polar_signature(body, given, secrets, datetime.fromtimestamp(timestamp, UTC), TOLERANCE)


def old_way(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """As Polar's SDK signs: the library keyed with the base64 of the secret's UTF-8 bytes."""
    signer = Webhook(base64.b64encode(secret.encode("utf-8")).decode("ascii"))
    return signer.sign(message_id, datetime.fromtimestamp(timestamp, UTC), body.decode("utf-8"))


def new_way(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """As any Standard Webhooks sender signs with a `whsec_` secret."""
    return Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body.decode("utf-8"))


@pytest.mark.parametrize("vector", NEW_WAY_VECTORS, ids=lambda v: v[1])
def test_each_new_way_vector_verifies_and_says_so(vector: tuple[str, str, int, bytes, str]) -> None:
    secret, message_id, timestamp, body, digest = vector

    verified = verify(body, headers(message_id, timestamp, f"v1,{digest}"), [secret], timestamp)

    assert verified.scheme == NEW
    assert (verified.message_id, verified.timestamp) == (message_id, timestamp)


@pytest.mark.parametrize("vector", NEW_WAY_VECTORS, ids=lambda v: v[1])
def test_svix_and_the_new_way_vectors_agree(vector: tuple[str, str, int, bytes, str]) -> None:
    secret, message_id, timestamp, body, digest = vector

    assert new_way(secret, message_id, timestamp, body) == f"v1,{digest}"


def test_a_whsec_secret_signed_the_old_way_still_verifies_the_old_way() -> None:
    secret, message_id, timestamp, body, digest = OLD_WAY_WHSEC

    verified = verify(body, headers(message_id, timestamp, f"v1,{digest}"), [secret], timestamp)

    assert verified.scheme == OLD


def test_a_rotation_mixes_the_ways_and_names_the_one_that_verified() -> None:
    new_secret, message_id, timestamp, body, digest = NEW_WAY_VECTORS[0]
    old_secret = "polar_whs_the_previous_one"
    both = f"{old_way(old_secret, message_id, timestamp, body)} v1,{digest}"

    assert verify(body, headers(message_id, timestamp, both), [old_secret], timestamp).scheme == OLD
    assert verify(body, headers(message_id, timestamp, both), [new_secret], timestamp).scheme == NEW
    with pytest.raises(SignatureRejected):
        verify(body, headers(message_id, timestamp, both), ["whsec_AAAAAAAAAAAAAAAAAAAAAAAA"], timestamp)


@pytest.mark.parametrize(
    ("secret", "keys"),
    [
        pytest.param("polar_whs_YWJj", [OLD], id="another-prefix"),
        pytest.param("whsec_not base64!", [OLD], id="not-base64"),
        pytest.param("whsec_YWJ", [OLD], id="bad-padding"),
        pytest.param("whsec_====", [OLD], id="decodes-to-nothing"),
        pytest.param("WHSEC_YWJj", [OLD], id="prefix-in-capitals"),
        pytest.param("whsec_YWJj", [OLD, NEW], id="decodes"),
    ],
)
def test_only_a_whsec_secret_whose_rest_decodes_has_a_second_key(
    secret: str, keys: list[SigningScheme]
) -> None:
    assert [scheme for scheme, _ in signing_keys(secret)] == keys
    assert signing_keys(secret)[0][1] == secret.encode("utf-8")


secret_bytes = st.binary(min_size=1, max_size=64)
message_ids = st.text(min_size=1, max_size=80).filter(str.isprintable)
timestamps = st.integers(min_value=0, max_value=MAX_TIMESTAMP)
bodies = st.text(st.characters(codec="utf-8"), max_size=300).map(str.encode)


@settings(deadline=None)  # the shared machine is slow; a wall-clock deadline only adds flakiness
@given(key=secret_bytes, message_id=message_ids, timestamp=timestamps, body=bodies)
def test_whatever_svix_signs_with_a_whsec_secret_verifies_the_new_way(
    key: bytes, message_id: str, timestamp: int, body: bytes
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    signature = new_way(secret, message_id, timestamp, body)

    assert verify(body, headers(message_id, timestamp, signature), [secret], timestamp).scheme == NEW


@settings(deadline=None)
@given(key=secret_bytes, message_id=message_ids, timestamp=timestamps, body=bodies)
def test_whatever_polars_sdk_signs_with_a_whsec_secret_verifies_the_old_way(
    key: bytes, message_id: str, timestamp: int, body: bytes
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    signature = old_way(secret, message_id, timestamp, body)

    assert verify(body, headers(message_id, timestamp, signature), [secret], timestamp).scheme == OLD


@settings(deadline=None)
@given(key=secret_bytes, other=secret_bytes, timestamp=timestamps)
def test_what_another_secret_signs_either_way_is_refused(key: bytes, other: bytes, timestamp: int) -> None:
    body = b'{"type":"subscription.updated"}'
    secret, stranger = ("whsec_" + base64.b64encode(k).decode() for k in (key, other))
    if key == other:
        return
    for sign in (old_way, new_way):
        with pytest.raises(SignatureRejected):
            verify(
                body,
                headers("msg_1", timestamp, sign(stranger, "msg_1", timestamp, body)),
                [secret],
                timestamp,
            )
