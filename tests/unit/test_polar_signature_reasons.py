"""Each Polar (Standard Webhooks) signature refusal says exactly why, at exactly its limit."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from integrations.providers.interface import MalformedRequest, MissingSignature, SignatureRejected
from integrations.providers.polar.signature import (
    parse_signature,
    sign_polar_payload,
    verify_polar_signature,
)

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
