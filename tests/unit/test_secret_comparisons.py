"""Secrets and digests are compared in constant time, each check through `hmac.compare_digest`.

A plain `==` gives the same answers, so no test of answers alone can tell the two apart; here
`hmac.compare_digest` is wrapped by a spy that records each comparison (and still decides it),
and each check must show, for a genuine and for a forged credential, that the pair it decided
on went through it. The digests the spy must see are computed here, independently.

API keys are not compared at all: a key carries 256 random bits, so only its SHA-256 digest is
stored and looked up, and the key itself never reaches the store. That is what is pinned for them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.merchants.external import MerchantsExternal
from domain.merchants.internal import MerchantsInternal
from domain.shared.errors import Unauthenticated
from integrations.providers.interface import SignatureRejected
from integrations.providers.paddle.signature import verify_paddle_signature
from integrations.providers.polar.signature import verify_polar_signature
from integrations.providers.stripe.signature import SignatureMismatch, verify_stripe_signature
from integrations.stores.txn import StoreTxn
from tests.support.fakes import FakeClock, InMemoryStore
from tests.unit.gateway.fakes import Gateway, make_gateway

SECRET = "whsec_compared_in_constant_time"
T0 = 1_736_942_400
NOW = datetime.fromtimestamp(T0, UTC)
BODY = b'{"id":"evt_1","type":"invoice.paid"}'
FORGED = bytes(32)
METRICS_TOKEN = "scrape-token-4f1c"

_real_compare_digest = hmac.compare_digest


class Comparisons:
    """Stands in for `hmac.compare_digest`: records each pair, answers as the real one does."""

    def __init__(self) -> None:
        self.pairs: list[tuple[object, object]] = []

    def __call__(self, a: bytes | str, b: bytes | str) -> bool:
        self.pairs.append((a, b))
        return _real_compare_digest(a, b)  # type: ignore[arg-type] # both of one kind, as the caller gave


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Comparisons:
    spy = Comparisons()
    monkeypatch.setattr(hmac, "compare_digest", spy)
    return spy


def hmac_sha256(secret: str, signed: bytes) -> bytes:
    return hmac.new(secret.encode(), signed, hashlib.sha256).digest()


# --------------------------------------------------------------------------- Stripe


def stripe_expected() -> bytes:
    return hmac_sha256(SECRET, f"{T0}.".encode() + BODY)


def test_a_genuine_stripe_signature_is_compared_in_constant_time(compared: Comparisons) -> None:
    expected = stripe_expected()

    verify_stripe_signature(BODY, f"t={T0},v1={expected.hex()}", [SECRET], NOW, 300)

    assert (expected, expected) in compared.pairs


def test_a_forged_stripe_signature_is_compared_in_constant_time(compared: Comparisons) -> None:
    with pytest.raises(SignatureMismatch):
        verify_stripe_signature(BODY, f"t={T0},v1={FORGED.hex()}", [SECRET], NOW, 300)

    assert (stripe_expected(), FORGED) in compared.pairs


# --------------------------------------------------------------------------- Polar


def polar_headers(digest: bytes) -> dict[str, str]:
    signature = f"v1,{base64.b64encode(digest).decode()}"
    return {"webhook-id": "msg_1", "webhook-timestamp": str(T0), "webhook-signature": signature}


def polar_expected() -> bytes:
    return hmac_sha256(SECRET, f"msg_1.{T0}.".encode() + BODY)


def test_a_genuine_polar_signature_is_compared_in_constant_time(compared: Comparisons) -> None:
    expected = polar_expected()

    verify_polar_signature(BODY, polar_headers(expected), [SECRET], NOW, 300)

    assert (expected, expected) in compared.pairs


def test_a_forged_polar_signature_is_compared_in_constant_time(compared: Comparisons) -> None:
    with pytest.raises(SignatureRejected):
        verify_polar_signature(BODY, polar_headers(FORGED), [SECRET], NOW, 300)

    assert (polar_expected(), FORGED) in compared.pairs


def test_a_polar_signature_made_the_standard_webhooks_way_is_compared_in_constant_time(
    compared: Comparisons,
) -> None:
    secret = "whsec_" + base64.b64encode(b"standard-webhooks-key").decode()
    expected = hmac.new(b"standard-webhooks-key", f"msg_1.{T0}.".encode() + BODY, hashlib.sha256).digest()

    verify_polar_signature(BODY, polar_headers(expected), [secret], NOW, 300)

    assert (expected, expected) in compared.pairs


# --------------------------------------------------------------------------- Paddle


def paddle_expected() -> bytes:
    return hmac.new(SECRET.encode(), f"{T0}:".encode() + BODY, hashlib.sha256).hexdigest().encode()


def test_a_genuine_paddle_signature_is_compared_in_constant_time(compared: Comparisons) -> None:
    expected = paddle_expected()

    verify_paddle_signature(BODY, {"paddle-signature": f"ts={T0};h1={expected.decode()}"}, [SECRET], NOW, 300)

    assert (expected, expected) in compared.pairs


def test_a_forged_paddle_signature_is_compared_in_constant_time(compared: Comparisons) -> None:
    with pytest.raises(SignatureRejected):
        verify_paddle_signature(BODY, {"paddle-signature": f"ts={T0};h1={FORGED.hex()}"}, [SECRET], NOW, 300)

    assert (paddle_expected(), FORGED.hex().encode()) in compared.pairs


# --------------------------------------------------------------------------- the /metrics token


@pytest.fixture
def with_metrics_token(tmp_path: Path) -> Iterator[Gateway]:
    built = make_gateway(tmp_path, metrics_token=METRICS_TOKEN)
    yield built
    built.deps.telemetry.shutdown()


@pytest.mark.parametrize(
    ("presented", "status"), [(METRICS_TOKEN, 200), ("scrape-token-0000", 401)], ids=["right", "wrong"]
)
async def test_the_metrics_token_is_compared_in_constant_time(
    with_metrics_token: Gateway, compared: Comparisons, presented: str, status: int
) -> None:
    async with with_metrics_token.client() as client:
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {presented}"})

    assert response.status_code == status
    assert (presented.encode(), METRICS_TOKEN.encode()) in compared.pairs


# --------------------------------------------------------------------------- API keys


async def test_only_the_sha256_digest_of_an_api_key_is_stored_and_looked_up() -> None:
    store = InMemoryStore()
    txn = StoreTxn(store)
    clock = FakeClock(NOW)
    merchant, api_key = await MerchantsInternal(txn, clock).create_merchant("Acme")

    [stored] = store.documents("merchants")
    assert stored["api_key_hash"] == hashlib.sha256(api_key.encode()).hexdigest()
    assert api_key not in repr(stored)
    merchants = MerchantsExternal(txn, clock)
    assert (await merchants.authenticate(api_key)).id == merchant.id
    with pytest.raises(Unauthenticated):  # the digest is no key
        await merchants.authenticate(stored["api_key_hash"])
