"""The REST API's budget per API key, with a scripted limiter: 429 + Retry-After, and who is counted."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.ratelimit import retry_after
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.seed import assert_error

CONNECTION = {"provider": "stripe", "webhook_secrets": ["whsec_rate_limit_tests_secret"]}


class ScriptedLimiter:
    """A `RateLimiter` that records who was counted and refuses whoever the test says."""

    def __init__(self) -> None:
        self.counted: list[str] = []
        self.refuse: dict[str, float] = {}

    async def hit(self, identity: str) -> float | None:
        self.counted.append(identity)
        return self.refuse.get(identity)


def identity_of(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@pytest.fixture
def limiter() -> ScriptedLimiter:
    return ScriptedLimiter()


@pytest.fixture
def limited(tmp_path: Path, limiter: ScriptedLimiter) -> Iterator[Gateway]:
    built = make_gateway(tmp_path, rate_limiter=limiter)
    yield built
    built.deps.telemetry.shutdown()


async def test_a_key_over_its_budget_gets_429_with_retry_after_and_nothing_runs(
    limited: Gateway, limiter: ScriptedLimiter
) -> None:
    _, api_key = await limited.merchant()
    limiter.refuse[identity_of(api_key)] = 2.2
    async with limited.client(api_key=api_key) as client:
        response = await client.post("/v1/connections", json=CONNECTION)

    assert_error(response, 429, "rate_limited")
    assert response.headers["retry-after"] == "3"
    assert limited.store.documents("connections") == []


async def test_within_budget_the_request_runs_and_only_a_digest_of_the_key_is_counted(
    limited: Gateway, limiter: ScriptedLimiter
) -> None:
    _, api_key = await limited.merchant()
    _, other_key = await limited.merchant("Other")
    limiter.refuse[identity_of(other_key)] = 1
    async with limited.client(api_key=api_key) as client:
        response = await client.post("/v1/connections", json=CONNECTION)
        listed = await client.get("/v1/connections")

    assert response.status_code == 201
    assert listed.status_code == 200
    assert len(limited.store.documents("connections")) == 1
    assert limiter.counted == [identity_of(api_key)] * 2
    assert api_key not in limiter.counted


async def test_webhooks_probes_and_keyless_requests_are_not_counted(
    limited: Gateway, limiter: ScriptedLimiter
) -> None:
    _, api_key = await limited.merchant()
    # Even with a bearer key on them: only `/v1` is the API.
    async with limited.client(api_key=api_key) as client:
        webhook = await client.post("/webhooks/stripe/conn_missing", json={})
        health = await client.get("/healthz")
    async with limited.client() as client:
        keyless = await client.get("/v1/connections")

    assert webhook.status_code == 404
    assert health.status_code == 200
    assert_error(keyless, 401, "unauthenticated")
    assert limiter.counted == []


async def test_a_refused_request_never_takes_its_idempotency_key(
    limited: Gateway, limiter: ScriptedLimiter
) -> None:
    _, api_key = await limited.merchant()
    limiter.refuse[identity_of(api_key)] = 0.5
    async with limited.client(api_key=api_key) as client:
        refused = await client.post(
            "/v1/connections",
            json=CONNECTION,
            headers={"Idempotency-Key": "k1"},
        )
        del limiter.refuse[identity_of(api_key)]
        accepted = await client.post(
            "/v1/connections",
            json=CONNECTION,
            headers={"Idempotency-Key": "k1"},
        )

    assert refused.status_code == 429
    assert accepted.status_code == 201
    assert len(limited.store.documents("connections")) == 1


@pytest.mark.parametrize(
    ("wait", "header"),
    [(0.0, "1"), (0.001, "1"), (1.0, "1"), (1.0001, "2"), (59.5, "60")],
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(wait: float, header: str) -> None:
    assert retry_after(wait) == header
