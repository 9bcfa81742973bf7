"""Each Stripe signature refusal says exactly why: these words reach logs and the caller's bug reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.providers.stripe.signature import (
    MalformedSignatureHeader,
    SignatureMismatch,
    TimestampOutsideTolerance,
    parse_signature_header,
    sign_stripe_payload,
    verify_stripe_signature,
)

SECRET = "whsec_reasons_secret"
T0 = 1_736_942_400
NOW = datetime.fromtimestamp(T0, UTC)
BODY = b'{"id":"evt_1"}'
HEADER = sign_stripe_payload(BODY, SECRET, T0)


@pytest.mark.parametrize(
    ("secrets", "error", "reason"),
    [
        pytest.param(
            "whsec_one_string", TypeError, "secrets must be a sequence of secrets, not a single str"
        ),
        pytest.param((), ValueError, "at least one webhook secret is required"),
        pytest.param((SECRET, ""), ValueError, "webhook secrets must not be empty"),
    ],
    ids=["a-single-str", "none", "an-empty-one"],
)
def test_bad_secrets_are_refused_naming_the_mistake(
    secrets: tuple[str, ...], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error) as refused:
        verify_stripe_signature(BODY, HEADER, secrets, NOW, 300)

    assert str(refused.value) == reason


def test_a_timestamp_too_far_from_now_names_the_tolerance() -> None:
    with pytest.raises(TimestampOutsideTolerance) as refused:
        verify_stripe_signature(BODY, HEADER, (SECRET,), NOW + timedelta(seconds=301), 300)

    assert str(refused.value) == "signature timestamp is more than 300s away from now"


def test_a_timestamp_a_microsecond_inside_the_tolerance_passes() -> None:
    verify_stripe_signature(BODY, HEADER, (SECRET,), NOW + timedelta(seconds=300), 300)
    with pytest.raises(TimestampOutsideTolerance):
        verify_stripe_signature(BODY, HEADER, (SECRET,), NOW + timedelta(seconds=300, microseconds=1), 300)


def test_no_matching_signature_says_so() -> None:
    with pytest.raises(SignatureMismatch) as refused:
        verify_stripe_signature(BODY, HEADER, ("whsec_another_secret",), NOW, 300)

    assert str(refused.value) == "no v1 signature matches a configured secret"


HEX = "ab" * 32


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        pytest.param("x" * 4097, "signature header is longer than 4096 characters", id="too-long"),
        pytest.param(" \t\r\n", "signature header is empty", id="blank"),
        # Only ASCII whitespace is trimmed: other spacing is not Stripe's and stays significant.
        pytest.param("\xa0", "signature header needs exactly one timestamp, found 0", id="nbsp-only"),
        pytest.param(
            f"t=1,t=2,v1={HEX}", "signature header needs exactly one timestamp, found 2", id="two-t"
        ),
        pytest.param("t=1", "signature header has no v1 signature", id="no-v1"),
        pytest.param(f"t=1=2,v1={HEX}", "timestamp is not a non-negative integer", id="t-with-two-equals"),
        pytest.param(f"t=123\xa0,v1={HEX}", "timestamp is not a non-negative integer", id="t-padded-nbsp"),
        pytest.param(
            f"\x1ft=123,v1={HEX}", "signature header needs exactly one timestamp, found 0", id="key-padded"
        ),
        pytest.param("t=123,v1=abc", "v1 signature is not 64 hexadecimal characters", id="short-v1"),
        pytest.param(f"t=123,v1=\xa0{HEX}", "v1 signature is not 64 hexadecimal characters", id="v1-padded"),
    ],
)
def test_a_malformed_header_is_refused_saying_what_is_wrong(header: str, reason: str) -> None:
    with pytest.raises(MalformedSignatureHeader) as refused:
        parse_signature_header(header)

    assert str(refused.value) == reason


def test_ascii_whitespace_around_items_is_trimmed() -> None:
    parsed = parse_signature_header(f" t=123 ,\tv1 = {HEX}\r\n")

    assert parsed.timestamp == 123
    assert parsed.signatures == (bytes.fromhex(HEX),)


@pytest.mark.parametrize(
    ("secret", "timestamp", "reason"),
    [("", T0, "secret must not be empty"), (SECRET, -1, "timestamp must not be negative")],
)
def test_signing_refuses_bad_arguments_by_name(secret: str, timestamp: int, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{reason}$"):
        sign_stripe_payload(BODY, secret, timestamp)
