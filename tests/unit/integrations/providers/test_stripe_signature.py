"""Tests for Stripe webhook signature parsing, verification and signing.

Also each Stripe signature refusal says exactly why: these words reach logs and the caller's bug reports.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
import stripe
from hypothesis import given, settings, strategies as st

from integrations.providers.stripe.signature import (
    InvalidSignature,
    MalformedSignatureHeader,
    ParsedStripeSignature,
    SignatureMismatch,
    TimestampOutsideTolerance,
    parse_signature_header,
    sign_stripe_payload,
    verify_stripe_signature,
)

SECRET = "whsec_unit_test_secret"
T0 = 1_700_000_000
NOW = datetime.fromtimestamp(T0, UTC)
TOLERANCE = 300
BODY = b'{"id":"evt_1","type":"invoice.paid"}'
HEX_A = "a" * 64
HEX_B = "0123456789abcdef" * 4
# Latest datetime-representable second, so hypothesis timestamps can become `now`.
MAX_TIMESTAMP = 253_402_300_799

# The shared CI machine is slow; wall-clock deadlines would only add flakiness.
PROPERTY = settings(deadline=None)

# The SDK rejects whitespace-only secrets; real ones always start with whsec_.
secrets_st = st.text(st.characters(codec="utf-8")).map(lambda s: f"whsec_{s}")
timestamps_st = st.integers(min_value=0, max_value=MAX_TIMESTAMP)


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def verify(
    body: bytes,
    header: str,
    *,
    secrets: tuple[str, ...] = (SECRET,),
    now: datetime = NOW,
    tolerance: int = TOLERANCE,
) -> None:
    verify_stripe_signature(body, header, secrets, now, tolerance)


# --- parse_signature_header ---------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            f"t=1492774577,v1={HEX_A}",
            ParsedStripeSignature(1492774577, (bytes.fromhex(HEX_A),)),
            id="minimal",
        ),
        pytest.param(
            f"t=1492774577,v1={HEX_A},v1={HEX_B},v0={HEX_B}",
            ParsedStripeSignature(1492774577, (bytes.fromhex(HEX_A), bytes.fromhex(HEX_B))),
            id="several-v1-and-v0",
        ),
        pytest.param(
            f"  t = 5 ,\tv1={HEX_A.upper()} ,",
            ParsedStripeSignature(5, (bytes.fromhex(HEX_A),)),
            id="whitespace-uppercase-trailing-comma",
        ),
        pytest.param(
            f"v1={HEX_A},t=0",
            ParsedStripeSignature(0, (bytes.fromhex(HEX_A),)),
            id="any-order-zero-timestamp",
        ),
        pytest.param(
            f"t=007,v1={HEX_A},v0=not-hex,scheme=x,junk",
            ParsedStripeSignature(7, (bytes.fromhex(HEX_A),)),
            id="other-schemes-ignored",
        ),
    ],
)
def test_parse_valid_headers(header: str, expected: ParsedStripeSignature) -> None:
    assert parse_signature_header(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param(" \t ", id="blank"),
        pytest.param(f"v1={HEX_A}", id="no-t"),
        pytest.param(f"t=1,t=1,v1={HEX_A}", id="several-t"),
        pytest.param(f"t,v1={HEX_A}", id="t-without-value"),
        pytest.param(f"t=,v1={HEX_A}", id="t-empty"),
        pytest.param(f"t=abc,v1={HEX_A}", id="t-not-integer"),
        pytest.param(f"t=-1,v1={HEX_A}", id="t-negative"),
        pytest.param(f"t=+1,v1={HEX_A}", id="t-plus-sign"),
        pytest.param(f"t=1_000,v1={HEX_A}", id="t-underscore"),
        pytest.param(f"t=1.5,v1={HEX_A}", id="t-fraction"),
        pytest.param(f"t=\u0661\u0662,v1={HEX_A}", id="t-non-ascii-digits"),
        pytest.param("t=1", id="no-signature"),
        pytest.param(f"t=1,v0={HEX_A}", id="only-v0"),
        pytest.param(f"t=1,V1={HEX_A}", id="scheme-is-case-sensitive"),
        pytest.param("t=1,v1=", id="v1-empty"),
        pytest.param("t=1,v1=abc", id="v1-short"),
        pytest.param(f"t=1,v1={HEX_A[:-1]}", id="v1-63-chars"),
        pytest.param(f"t=1,v1={HEX_A}a", id="v1-65-chars"),
        pytest.param(f"t=1,v1={'g' * 64}", id="v1-not-hex"),
        pytest.param(f"t=1,v1={HEX_A[:30]} {HEX_A[:33]}", id="v1-inner-space"),
        pytest.param(f"t=1,v1={HEX_A},v1=zz", id="one-bad-v1"),
        pytest.param(f"t=1,v1={HEX_A}" + " " * 4096, id="too-long"),
        pytest.param(f"t={'9' * 5000},v1={HEX_A}", id="huge-t-too-long"),
    ],
)
def test_parse_rejects_malformed_headers(header: str) -> None:
    with pytest.raises(MalformedSignatureHeader):
        parse_signature_header(header)


def test_parse_accepts_header_at_length_limit() -> None:
    header = f"t=1,v1={HEX_A}"
    padded = header + " " * (4096 - len(header))
    assert parse_signature_header(padded).timestamp == 1


def parses_or_is_malformed(header: str) -> None:
    # Any exception other than MalformedSignatureHeader escapes and fails.
    try:
        result = parse_signature_header(header)
    except MalformedSignatureHeader:
        return
    assert isinstance(result.timestamp, int)
    assert result.timestamp >= 0
    assert result.signatures
    assert all(len(signature) == 32 for signature in result.signatures)


@PROPERTY
@given(st.text())
def test_parse_never_raises_anything_else_on_arbitrary_text(header: str) -> None:
    parses_or_is_malformed(header)


_keys = st.sampled_from(["t", "v1", "v0", "V1", "T", " t ", "v1 ", "", "x", "t=t"])
_values = st.one_of(
    st.integers().map(str),
    st.text(alphabet="0123456789", min_size=4000, max_size=5000),
    st.binary(min_size=32, max_size=32).map(bytes.hex),
    st.text(alphabet="0123456789abcdefABCDEF \t", max_size=70),
    st.text(),
)
_items = st.builds(
    lambda key, sep, value: f"{key}{sep}{value}",
    _keys,
    st.sampled_from(["=", " = ", "==", "", "=\t"]),
    _values,
)
near_valid_headers = st.builds(
    lambda items, sep: sep.join(items),
    st.lists(_items, max_size=8),
    st.sampled_from([",", ", ", " ,", ";", ",,"]),
)


@PROPERTY
@given(near_valid_headers)
def test_parse_never_raises_anything_else_on_near_valid_headers(header: str) -> None:
    parses_or_is_malformed(header)


@PROPERTY
@given(
    timestamp=st.integers(min_value=0, max_value=10**100),
    digests=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=5),
    noise=st.lists(st.sampled_from(["v0=abc", "v2=", "foo=bar", ""]), max_size=3),
)
def test_parse_recovers_generated_values(timestamp: int, digests: list[bytes], noise: list[str]) -> None:
    items = [f"t={timestamp}", *(f"v1={d.hex()}" for d in digests), *noise]
    parsed = parse_signature_header(",".join(items))
    assert parsed == ParsedStripeSignature(timestamp, tuple(digests))


# --- sign_stripe_payload ------------------------------------------------------


def test_sign_known_answer() -> None:
    # Fixed vector so an accidental change to the signed-payload layout shows.
    header = sign_stripe_payload(b'{"id":"evt_1"}', "whsec_known_answer", 1492774577)
    assert header == ("t=1492774577,v1=7348d3375247040399cf164fae02406e80cff303f08ba3ac7cee9a033b01c04c")


@PROPERTY
@given(body=st.binary(), secret=secrets_st, timestamp=timestamps_st)
def test_sign_output_format(body: bytes, secret: str, timestamp: int) -> None:
    header = sign_stripe_payload(body, secret, timestamp)
    assert re.fullmatch(rf"t={timestamp},v1=[0-9a-f]{{64}}", header)


@pytest.mark.parametrize(("secret", "timestamp"), [("", 1), (SECRET, -1)])
def test_sign_rejects_bad_arguments(secret: str, timestamp: int) -> None:
    with pytest.raises(ValueError, match=r"secret|timestamp"):
        sign_stripe_payload(BODY, secret, timestamp)


# --- verify_stripe_signature ----------------------------------------------------


@PROPERTY
@given(body=st.binary(), secret=secrets_st, timestamp=timestamps_st)
def test_sign_then_verify_round_trip(body: bytes, secret: str, timestamp: int) -> None:
    header = sign_stripe_payload(body, secret, timestamp)
    verify_stripe_signature(body, header, [secret], at(timestamp), 0)


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(0),
        timedelta(seconds=TOLERANCE),
        timedelta(seconds=-TOLERANCE),
    ],
    ids=["exact", "old-at-limit", "future-at-limit"],
)
def test_timestamp_within_tolerance(offset: timedelta) -> None:
    header = sign_stripe_payload(BODY, SECRET, T0)
    verify(BODY, header, now=NOW + offset)


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(seconds=TOLERANCE + 1),
        timedelta(seconds=-(TOLERANCE + 1)),
        timedelta(seconds=TOLERANCE, microseconds=1),
        -timedelta(seconds=TOLERANCE, microseconds=1),
    ],
    ids=["too-old", "too-far-in-future", "old-by-1us", "future-by-1us"],
)
def test_timestamp_outside_tolerance(offset: timedelta) -> None:
    header = sign_stripe_payload(BODY, SECRET, T0)
    with pytest.raises(TimestampOutsideTolerance):
        verify(BODY, header, now=NOW + offset)


def test_now_in_another_timezone_is_the_same_instant() -> None:
    header = sign_stripe_payload(BODY, SECRET, T0)
    verify(BODY, header, now=NOW.astimezone(timezone(timedelta(hours=-7))))


def test_absurd_timestamp_is_out_of_tolerance_not_an_overflow() -> None:
    header = sign_stripe_payload(BODY, SECRET, 10**300)
    with pytest.raises(TimestampOutsideTolerance):
        verify(BODY, header)


@PROPERTY
@given(
    secrets=st.lists(secrets_st, min_size=1, max_size=4, unique=True),
    data=st.data(),
)
def test_any_rotated_secret_verifies(secrets: list[str], data: st.DataObject) -> None:
    signing_secret = data.draw(st.sampled_from(secrets))
    header = sign_stripe_payload(BODY, signing_secret, T0)
    verify_stripe_signature(BODY, header, secrets, NOW, TOLERANCE)


def test_unknown_secret_is_a_mismatch() -> None:
    header = sign_stripe_payload(BODY, "whsec_other", T0)
    with pytest.raises(SignatureMismatch):
        verify(BODY, header, secrets=(SECRET, "whsec_next"))


def test_one_matching_v1_among_several_is_enough() -> None:
    good = sign_stripe_payload(BODY, SECRET, T0).split(",")[1]
    verify(BODY, f"t={T0},v1={HEX_A},{good},v1={HEX_B}")


def test_matching_v0_signature_is_not_trusted() -> None:
    digest = sign_stripe_payload(BODY, SECRET, T0).split("v1=")[1]
    with pytest.raises(SignatureMismatch):
        verify(BODY, f"t={T0},v0={digest},v1={HEX_A}")


def test_changed_timestamp_is_a_mismatch() -> None:
    header = sign_stripe_payload(BODY, SECRET, T0)
    forged = header.replace(f"t={T0}", f"t={T0 + 1}")
    with pytest.raises(SignatureMismatch):
        verify(BODY, forged)


@PROPERTY
@given(body=st.binary(min_size=1), data=st.data())
def test_any_single_byte_change_fails(body: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    delta = data.draw(st.integers(min_value=1, max_value=255))
    tampered = bytearray(body)
    tampered[index] = (tampered[index] + delta) % 256
    header = sign_stripe_payload(body, SECRET, T0)
    with pytest.raises(SignatureMismatch):
        verify(bytes(tampered), header)


@pytest.mark.parametrize("tampered", [BODY + b" ", BODY[:-1], b""])
def test_appended_or_truncated_body_fails(tampered: bytes) -> None:
    header = sign_stripe_payload(BODY, SECRET, T0)
    with pytest.raises(SignatureMismatch):
        verify(tampered, header)


def test_invalid_utf8_body_verifies_when_signed() -> None:
    body = b'{"note":"\xff\xfe\xc3\x28"}'
    verify(body, sign_stripe_payload(body, SECRET, T0))


def test_malformed_header_propagates() -> None:
    with pytest.raises(MalformedSignatureHeader):
        verify(BODY, "garbage")


@pytest.mark.parametrize(
    ("secrets", "now", "tolerance"),
    [
        pytest.param((), NOW, TOLERANCE, id="no-secrets"),
        pytest.param((SECRET, ""), NOW, TOLERANCE, id="empty-secret"),
        pytest.param((SECRET,), NOW.replace(tzinfo=None), TOLERANCE, id="naive-now"),
        pytest.param((SECRET,), NOW, -1, id="negative-tolerance"),
    ],
)
def test_verify_rejects_bad_arguments(secrets: tuple[str, ...], now: datetime, tolerance: int) -> None:
    header = sign_stripe_payload(BODY, SECRET, T0)
    with pytest.raises(ValueError, match=r".") as excinfo:  # the message varies with the argument at fault
        verify_stripe_signature(BODY, header, secrets, now, tolerance)
    # A caller bug must not look like a rejected (malformed) request.
    assert not isinstance(excinfo.value, InvalidSignature)


def test_single_str_secret_is_refused() -> None:
    # A str is a Sequence[str]; each character would become a weak secret.
    header = sign_stripe_payload(BODY, "w", T0)
    with pytest.raises(TypeError):
        verify_stripe_signature(BODY, header, "whsec", NOW, TOLERANCE)


def test_exception_hierarchy() -> None:
    assert issubclass(MalformedSignatureHeader, ValueError)
    for error in (
        MalformedSignatureHeader,
        TimestampOutsideTolerance,
        SignatureMismatch,
    ):
        assert issubclass(error, InvalidSignature)


# --- compatibility with the official SDK ----------------------------------------


@PROPERTY
@given(body=st.text(), secret=secrets_st, timestamp=timestamps_st)
def test_sdk_accepts_our_signatures(body: str, secret: str, timestamp: int) -> None:
    header = sign_stripe_payload(body.encode(), secret, timestamp)
    assert stripe.WebhookSignature.verify_header(body, header, secret, tolerance=None)


@PROPERTY
@given(body=st.text(), secret=secrets_st, timestamp=timestamps_st)
def test_we_accept_sdk_signatures(body: str, secret: str, timestamp: int) -> None:
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    verify_stripe_signature(body.encode(), header, [secret], at(timestamp), 0)


# --- why a signature is refused, in words ---------------------------------------------------------
REASONS_SECRET = "whsec_reasons_secret"
REASONS_T0 = 1_736_942_400
REASONS_NOW = datetime.fromtimestamp(REASONS_T0, UTC)
REASONS_BODY = b'{"id":"evt_1"}'
REASONS_HEADER = sign_stripe_payload(REASONS_BODY, REASONS_SECRET, REASONS_T0)


@pytest.mark.parametrize(
    ("secrets", "error", "reason"),
    [
        pytest.param(
            "whsec_one_string", TypeError, "secrets must be a sequence of secrets, not a single str"
        ),
        pytest.param((), ValueError, "at least one webhook secret is required"),
        pytest.param((REASONS_SECRET, ""), ValueError, "webhook secrets must not be empty"),
    ],
    ids=["a-single-str", "none", "an-empty-one"],
)
def test_bad_secrets_are_refused_naming_the_mistake(
    secrets: tuple[str, ...], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error) as refused:
        verify_stripe_signature(REASONS_BODY, REASONS_HEADER, secrets, REASONS_NOW, 300)

    assert str(refused.value) == reason


def test_a_timestamp_too_far_from_now_names_the_tolerance() -> None:
    with pytest.raises(TimestampOutsideTolerance) as refused:
        verify_stripe_signature(
            REASONS_BODY, REASONS_HEADER, (REASONS_SECRET,), REASONS_NOW + timedelta(seconds=301), 300
        )

    assert str(refused.value) == "signature timestamp is more than 300s away from now"


def test_a_timestamp_a_microsecond_inside_the_tolerance_passes() -> None:
    verify_stripe_signature(
        REASONS_BODY, REASONS_HEADER, (REASONS_SECRET,), REASONS_NOW + timedelta(seconds=300), 300
    )
    with pytest.raises(TimestampOutsideTolerance):
        verify_stripe_signature(
            REASONS_BODY,
            REASONS_HEADER,
            (REASONS_SECRET,),
            REASONS_NOW + timedelta(seconds=300, microseconds=1),
            300,
        )


def test_no_matching_signature_says_so() -> None:
    with pytest.raises(SignatureMismatch) as refused:
        verify_stripe_signature(REASONS_BODY, REASONS_HEADER, ("whsec_another_secret",), REASONS_NOW, 300)

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
    [("", REASONS_T0, "secret must not be empty"), (REASONS_SECRET, -1, "timestamp must not be negative")],
)
def test_signing_refuses_bad_arguments_by_name(secret: str, timestamp: int, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{reason}$"):
        sign_stripe_payload(REASONS_BODY, secret, timestamp)
