"""Polar's `v1` signatures keyed with the UTF-8 bytes of the whole secret, against independent references.

The scheme checked here: HMAC-SHA256 over ``f"{webhook-id}.{webhook-timestamp}.".encode() + body``,
keyed with the UTF-8 bytes of the whole secret string as Polar shows it (prefix included), sent as
``webhook-signature: v1,<base64 digest>``. Nothing here signs with the project's own signer to
decide what is right; two references do:

- the Standard Webhooks library (through svix), called the way Polar's SDK calls it: the
  secret's UTF-8 bytes base64-encoded, which the library decodes straight back into the key;
- fixed vectors computed outside the project with OpenSSL and committed as literals, each made
  with ``printf '%s' "<id>.<timestamp>.<body>" | openssl dgst -sha256 -hmac "<secret>" -binary
  | base64`` (the shell passes the secret and the body as UTF-8 bytes).

Also each Polar (Standard Webhooks) signature refusal says exactly why, at exactly its limit.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings, strategies as st
from svix.webhooks import Webhook

from integrations.providers.interface import MalformedRequest, MissingSignature, SignatureRejected
from integrations.providers.polar.signature import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ParsedSignature,
    parse_signature,
    sign_polar_payload,
    verify_polar_signature,
)

TOLERANCE = 300
# The latest second a datetime can hold, so any generated timestamp can also be "now".
MAX_TIMESTAMP = 253_402_300_799


@dataclass(frozen=True, slots=True, kw_only=True)
class Vector:
    secret: str
    message_id: str
    timestamp: int
    body: bytes
    signature: str  # the base64 digest OpenSSL printed


VECTORS = (
    Vector(
        secret="polar_whs_c2VjcmV0LWJ5dGVzLWZvci10ZXN0cy0xMjM0NTY3ODk=",
        message_id="msg_2x9Lq0Hn4Yv",
        timestamp=1_736_942_400,
        body=b'{"type":"subscription.updated","data":{"id":"sub_1"}}',
        signature="dUrF3r9va/IlQ2DEl7NRhboCTLA7gpFM5PjUh9LBGMY=",
    ),
    Vector(
        # Non-ASCII in the secret and the body: both count as their UTF-8 bytes.
        secret="polar_whs_clé-ünïcode-🔑",
        message_id="msg_2Vq8",
        timestamp=1_700_000_000,
        body='{"note":"café ☕"}'.encode(),
        signature="BXXVIYZzj0iMwYLVxH4JdIVte8BREtS2mcG9gdIbIC4=",
    ),
    Vector(
        # A svix-looking secret is not base64-decoded either; an id made of digits tells the
        # id from the timestamp only by its place in the signed content.
        secret="whsec_MfKQ9r4gKGpM1gLsV8yLZa4DxLvwzFeC",
        message_id="1736942400",
        timestamp=1,
        body=b"{}",
        signature="SKvyY8cXNJ3mDOil82nDEDbxNy9PGWQ+7yDj65ijBxA=",
    ),
)


def keyed_with_the_whole_secret(secret: str) -> Webhook:
    """The Standard Webhooks signer as Polar's SDK builds it: its key is the secret's UTF-8 bytes."""
    return Webhook(base64.b64encode(secret.encode("utf-8")).decode("ascii"))


def reference_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signature = keyed_with_the_whole_secret(secret).sign(
        message_id, datetime.fromtimestamp(timestamp, UTC), body.decode("utf-8")
    )
    return {ID_HEADER: message_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature}


def verify_at_its_time(body: bytes, headers: dict[str, str], secret: str, timestamp: int) -> ParsedSignature:
    now = datetime.fromtimestamp(timestamp, UTC)
    return verify_polar_signature(body, headers, [secret], now, TOLERANCE)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.message_id)
def test_each_fixed_vector_verifies(vector: Vector) -> None:
    headers = {
        ID_HEADER: vector.message_id,
        TIMESTAMP_HEADER: str(vector.timestamp),
        SIGNATURE_HEADER: f"v1,{vector.signature}",
    }

    parsed = verify_at_its_time(vector.body, headers, vector.secret, vector.timestamp)

    assert (parsed.message_id, parsed.timestamp) == (vector.message_id, vector.timestamp)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.message_id)
def test_the_fixed_vectors_and_the_standard_webhooks_library_agree(vector: Vector) -> None:
    # The two references describe one scheme: neither is taken on trust.
    headers = reference_headers(vector.secret, vector.message_id, vector.timestamp, vector.body)

    assert headers[SIGNATURE_HEADER] == f"v1,{vector.signature}"


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.message_id)
def test_the_local_signer_writes_what_the_fixed_vectors_say(vector: Vector) -> None:
    headers = sign_polar_payload(vector.body, vector.secret, vector.message_id, vector.timestamp)

    assert headers[SIGNATURE_HEADER] == f"v1,{vector.signature}"


def test_the_id_and_the_timestamp_are_signed_each_in_its_own_place() -> None:
    # The third vector's id is all digits: presented the other way round (id "1", timestamp
    # 1736942400), the same digest must not pass.
    vector = VECTORS[2]
    headers = {
        ID_HEADER: str(vector.timestamp),
        TIMESTAMP_HEADER: vector.message_id,
        SIGNATURE_HEADER: f"v1,{vector.signature}",
    }

    with pytest.raises(SignatureRejected):
        verify_at_its_time(vector.body, headers, vector.secret, int(vector.message_id))


@settings(deadline=None)  # the shared CI machine is slow; a wall-clock deadline only adds flakiness
@given(
    secret=st.text(st.characters(codec="utf-8"), min_size=1, max_size=80),
    message_id=st.text(min_size=1, max_size=255).filter(str.isprintable),
    timestamp=st.integers(min_value=0, max_value=MAX_TIMESTAMP),
    body=st.text(st.characters(codec="utf-8"), max_size=300).map(str.encode),
)
def test_whatever_the_standard_webhooks_library_signs_this_way_verifies(
    secret: str, message_id: str, timestamp: int, body: bytes
) -> None:
    headers = reference_headers(secret, message_id, timestamp, body)

    assert verify_at_its_time(body, headers, secret, timestamp).message_id == message_id


@settings(deadline=None)
@given(
    secret=st.text(st.characters(codec="utf-8"), min_size=1, max_size=80),
    other=st.text(st.characters(codec="utf-8"), min_size=1, max_size=80),
    timestamp=st.integers(min_value=0, max_value=MAX_TIMESTAMP),
)
def test_what_the_library_signs_with_another_secret_is_refused(
    secret: str, other: str, timestamp: int
) -> None:
    body = b'{"type":"subscription.updated"}'
    assume(other != secret)
    headers = reference_headers(other, "msg_1", timestamp, body)

    with pytest.raises(SignatureRejected):
        verify_at_its_time(body, headers, secret, timestamp)


# --- why a signature is refused, in words ---------------------------------------------------------
SECRET = "polar_whs_reasons_secret"
T0 = 1_736_942_400
NOW = datetime.fromtimestamp(T0, UTC)
BODY = b'{"type":"subscription.created"}'
DIGEST = base64.b64encode(b"\x01" * 32).decode()


def headers(**changes: str) -> dict[str, str]:
    signed = sign_polar_payload(BODY, SECRET, "msg_1", T0)
    return {**signed, **changes}


@pytest.mark.parametrize(
    ("given", "error", "reason"),
    [
        pytest.param(
            {"webhook-id": ""},
            MissingSignature,
            "webhook-id, webhook-timestamp and webhook-signature are required",
            id="no-id",
        ),
        pytest.param(
            {"webhook-id": "m" * 256},
            MalformedRequest,
            "webhook-id is not a printable id of at most 255 characters",
            id="long-id",
        ),
        pytest.param(
            {"webhook-id": "msg\n1"},
            MalformedRequest,
            "webhook-id is not a printable id of at most 255 characters",
            id="unprintable-id",
        ),
        pytest.param(
            {"webhook-timestamp": "soon"}, MalformedRequest, "webhook-timestamp is not unix seconds", id="t"
        ),
        pytest.param(
            {"webhook-signature": "v1," + "A" * 4094},
            MalformedRequest,
            "webhook-signature is longer than 4096 characters",
            id="long-signature",
        ),
        pytest.param(
            {"webhook-signature": f"v1a,{DIGEST}"},
            MalformedRequest,
            "webhook-signature has no v1 signature",
            id="no-v1",
        ),
        pytest.param(
            {"webhook-signature": f"v1,{DIGEST[:10]}$${DIGEST[10:]}"},
            MalformedRequest,
            "a v1 signature is not base64",
            id="stray-characters",
        ),
        pytest.param(
            {"webhook-signature": f"v1,{DIGEST},x"},
            MalformedRequest,
            "a v1 signature is not base64",
            id="a-second-comma",
        ),
        pytest.param(
            {"webhook-signature": "v1," + base64.b64encode(b"\x01" * 31).decode()},
            MalformedRequest,
            "a v1 signature is not 32 bytes",
            id="short-digest",
        ),
    ],
)
def test_a_bad_header_is_refused_saying_what_is_wrong(
    given: dict[str, str], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error) as refused:
        parse_signature(headers(**given))

    assert type(refused.value) is error
    assert str(refused.value) == reason


def test_the_limits_themselves_are_accepted() -> None:
    padding = " ".join(["v1a,x"] * 1000)
    signature = headers()["webhook-signature"]
    at_limit = f"{signature} {padding}"[:4096]
    assert len(at_limit) == 4096

    parsed = parse_signature(headers(**{"webhook-id": "m" * 255, "webhook-signature": at_limit}))

    assert parsed.message_id == "m" * 255
    assert len(parsed.signatures) == 1


@pytest.mark.parametrize(
    "secrets", ["polar_whs_one_string", (), (SECRET, "")], ids=["str", "none", "an-empty-one"]
)
def test_bad_secrets_are_a_caller_bug_said_as_such(secrets: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"^secrets must be a non-empty sequence of non-empty secrets$"):
        verify_polar_signature(BODY, headers(), secrets, NOW, 300)


def test_a_stale_or_unmatched_signature_says_which() -> None:
    with pytest.raises(SignatureRejected, match=r"^signature timestamp is more than 300s away from now$"):
        verify_polar_signature(BODY, headers(), (SECRET,), NOW + timedelta(seconds=301), 300)
    with pytest.raises(SignatureRejected, match=r"^no v1 signature matches a configured secret$"):
        verify_polar_signature(BODY, headers(), ("polar_whs_another",), NOW, 300)

    assert (
        verify_polar_signature(BODY, headers(), (SECRET,), NOW + timedelta(seconds=300), 300).timestamp == T0
    )


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match=r"^secret must not be empty$"):
        sign_polar_payload(BODY, "", "msg_1", T0)
