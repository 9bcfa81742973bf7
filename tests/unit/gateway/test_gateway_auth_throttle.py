"""Failed authentications per client address: past the budget, 429 with Retry-After before any
store look-up; other addresses, verified keys, probes and provider webhooks go on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.auth_throttle import AuthThrottle, credential_digest, throttled_identity
from integrations.redis.failures import MemoryFailureCounter
from integrations.redis.ratelimit import parse_rate_limit
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.seed import assert_error

BUDGET = 3
ATTACKER = "198.51.100.7"
NEIGHBOUR = "198.51.100.8"
WRONG_KEY = "sg_" + "x" * 43  # the shape of a real key: it costs a store look-up to refuse
CONNECTION = {"provider": "stripe", "webhook_secrets": ["whsec_throttle_tests_secret"]}


def counter() -> MemoryFailureCounter:
    return MemoryFailureCounter(parse_rate_limit(f"{BUDGET}/minute"))


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[Gateway]:
    built = make_gateway(tmp_path, auth_failures=counter(), trusted_proxies="10.0.0.0/8")
    yield built
    built.deps.telemetry.shutdown()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def spend_budget(gateway: Gateway, peer: str, **headers: str) -> list[int]:
    async with gateway.client(peer=peer) as client:
        return [
            (await client.get("/v1/connections", headers={**bearer(WRONG_KEY), **headers})).status_code
            for _ in range(BUDGET)
        ]


async def test_past_the_budget_an_address_is_refused_before_any_store_lookup(throttled: Gateway) -> None:
    _, never_verified = await throttled.merchant()
    before = throttled.store.sessions_opened
    failures = await spend_budget(throttled, ATTACKER)
    looked_up = throttled.store.sessions_opened - before
    async with throttled.client(peer=ATTACKER) as client:
        refused = await client.get("/v1/connections", headers=bearer(WRONG_KEY))
        created = await client.post("/v1/connections", json=CONNECTION, headers=bearer(never_verified))
        keyed = await client.post(
            "/v1/connections", json=CONNECTION, headers={**bearer(WRONG_KEY), "Idempotency-Key": "k1"}
        )

    assert failures == [401] * BUDGET
    assert looked_up == BUDGET  # each refusal of a real-looking key read the store
    for answer in (refused, created, keyed):
        assert_error(answer, 429, "rate_limited")
        assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert throttled.store.sessions_opened - before == BUDGET  # the refusals read nothing
    assert throttled.store.documents("connections") == []
    assert throttled.store.documents("idempotency_keys") == []


async def test_other_addresses_and_keys_verified_here_go_on(throttled: Gateway) -> None:
    _, verified_key = await throttled.merchant()
    _, other_key = await throttled.merchant("Other")
    async with throttled.client(peer=ATTACKER) as client:
        before = await client.get("/v1/connections", headers=bearer(verified_key))
    await spend_budget(throttled, ATTACKER)
    async with throttled.client(peer=ATTACKER) as client:
        verified = await client.post("/v1/connections", json=CONNECTION, headers=bearer(verified_key))
    async with throttled.client(peer=NEIGHBOUR) as client:
        neighbour = await client.get("/v1/connections", headers=bearer(other_key))
        neighbour_wrong = await client.get("/v1/connections", headers=bearer(WRONG_KEY))

    assert before.status_code == 200
    assert verified.status_code == 201
    assert neighbour.status_code == 200
    assert_error(neighbour_wrong, 401, "unauthenticated")  # its own budget, untouched
    assert len(throttled.store.documents("connections")) == 1


async def test_requests_without_credentials_are_neither_counted_nor_refused_for_them(
    throttled: Gateway,
) -> None:
    async with throttled.client(peer=ATTACKER) as client:
        keyless = [(await client.get("/v1/connections")).status_code for _ in range(BUDGET * 3)]
        then_wrong = await client.get("/v1/connections", headers=bearer(WRONG_KEY))

    assert keyless == [401] * (BUDGET * 3)
    assert_error(then_wrong, 401, "unauthenticated")


async def test_the_address_is_the_client_behind_a_trusted_proxy_never_a_forged_header(
    throttled: Gateway,
) -> None:
    proxy = "10.1.2.3"
    await spend_budget(throttled, proxy, **{"x-forwarded-for": ATTACKER})
    async with throttled.client(peer=proxy) as client:
        attacker = await client.get(
            "/v1/connections", headers={**bearer(WRONG_KEY), "x-forwarded-for": ATTACKER}
        )
        other = await client.get(
            "/v1/connections", headers={**bearer(WRONG_KEY), "x-forwarded-for": NEIGHBOUR}
        )
    # Not behind a trusted proxy: a header of its own choosing changes nothing.
    async with throttled.client(peer="198.51.100.9") as client:
        forged = [
            (
                await client.get(
                    "/v1/connections", headers={**bearer(WRONG_KEY), "x-forwarded-for": f"192.0.2.{n}"}
                )
            ).status_code
            for n in range(BUDGET + 1)
        ]

    assert_error(attacker, 429, "rate_limited")
    assert_error(other, 401, "unauthenticated")
    assert forged == [401] * BUDGET + [429]


async def test_ipv6_clients_are_counted_per_64_network(throttled: Gateway) -> None:
    for host in range(BUDGET):
        await spend_budget_once(throttled, f"2001:db8:1:2::{host + 1:x}")
    async with throttled.client(peer="2001:db8:1:2:ffff:ffff:ffff:ffff") as client:
        same_network = await client.get("/v1/connections", headers=bearer(WRONG_KEY))
    async with throttled.client(peer="2001:db8:1:3::1") as client:
        next_network = await client.get("/v1/connections", headers=bearer(WRONG_KEY))

    assert_error(same_network, 429, "rate_limited")
    assert_error(next_network, 401, "unauthenticated")


async def spend_budget_once(gateway: Gateway, peer: str) -> None:
    async with gateway.client(peer=peer) as client:
        assert (await client.get("/v1/connections", headers=bearer(WRONG_KEY))).status_code == 401


async def test_probes_and_provider_webhooks_are_never_throttled(throttled: Gateway) -> None:
    await spend_budget(throttled, ATTACKER)
    async with throttled.client(peer=ATTACKER) as client:
        health = await client.get("/healthz", headers=bearer(WRONG_KEY))
        ready = await client.get("/readyz", headers=bearer(WRONG_KEY))
        webhook = await client.post("/webhooks/stripe/conn_missing", json={}, headers=bearer(WRONG_KEY))
        api = await client.get("/v1/connections", headers=bearer(WRONG_KEY))

    assert (health.status_code, ready.status_code, webhook.status_code) == (200, 200, 404)
    assert_error(api, 429, "rate_limited")


async def test_wrong_metrics_tokens_spend_the_same_budget(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, auth_failures=counter(), metrics_token="metrics-token-for-tests")
    try:
        async with gateway.client(peer=ATTACKER) as client:
            wrong = [
                (await client.get("/metrics", headers=bearer("guess"))).status_code for _ in range(BUDGET)
            ]
            refused = await client.get("/metrics", headers=bearer("metrics-token-for-tests"))
        async with gateway.client(peer=NEIGHBOUR) as client:
            scraped = await client.get("/metrics", headers=bearer("metrics-token-for-tests"))
    finally:
        gateway.deps.telemetry.shutdown()

    assert wrong == [401] * BUDGET
    # The right token, never seen to verify here before, is refused like any other guess.
    assert_error(refused, 429, "rate_limited")
    assert scraped.status_code == 200


async def test_without_a_counter_nothing_is_throttled(gateway: Gateway) -> None:
    async with gateway.client(peer=ATTACKER) as client:
        answers = [
            (await client.get("/v1/connections", headers=bearer(WRONG_KEY))).status_code
            for _ in range(BUDGET * 3)
        ]

    assert answers == [401] * (BUDGET * 3)


# --------------------------------------------------------------------------- the throttle alone


class SteppedMonotonic:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


async def test_the_block_ends_as_the_oldest_failure_leaves_the_window_then_one_failure_per_slot() -> None:
    monotonic = SteppedMonotonic()
    failures = MemoryFailureCounter(parse_rate_limit("3/minute"), monotonic=monotonic)
    throttle = AuthThrottle(failures, monotonic=monotonic)
    key = credential_digest("Bearer wrong")
    for second in (0, 10, 20):
        monotonic.now = 5_000.0 + second
        assert throttle.refusal(ATTACKER, key) is None
        await throttle.failed(ATTACKER, key)

    assert throttle.refusal(ATTACKER, key) == pytest.approx(40.0)
    monotonic.now = 5_060.0  # the failure at 0 s has left the window: one slot
    assert throttle.refusal(ATTACKER, key) is None
    await throttle.failed(ATTACKER, key)
    assert throttle.refusal(ATTACKER, key) == pytest.approx(10.0)  # until the one at 10 s leaves


async def test_a_verified_credential_passes_a_block_for_a_quarter_of_an_hour_and_a_failure_ends_that() -> (
    None
):
    monotonic = SteppedMonotonic()
    throttle = AuthThrottle(
        MemoryFailureCounter(parse_rate_limit("1/hour"), monotonic=monotonic), monotonic=monotonic
    )
    good, wrong = credential_digest("Bearer good"), credential_digest("Bearer wrong")
    throttle.verified(good)
    await throttle.failed(ATTACKER, wrong)

    assert throttle.refusal(ATTACKER, wrong) is not None
    assert throttle.refusal(ATTACKER, good) is None
    monotonic.now += 901
    assert throttle.refusal(ATTACKER, good) is not None
    throttle.verified(good)
    await throttle.failed(ATTACKER, good)  # revoked since: it verifies no more
    assert throttle.refusal(ATTACKER, good) is not None


async def test_memory_stays_bounded_while_a_client_rotates_addresses() -> None:
    failures = MemoryFailureCounter(parse_rate_limit("1/hour"), max_identities=100)
    throttle = AuthThrottle(failures, max_tracked=100)
    for n in range(5_000):
        address = throttled_identity(f"2001:db8:{n:x}::1")
        await throttle.failed(address, credential_digest(f"Bearer guess-{n}"))
        throttle.verified(credential_digest(f"Bearer key-{n}"))

    assert len(failures) <= 100
    assert throttle.tracked <= 200
    # The most recent are still known.
    assert throttle.refusal(throttled_identity("2001:db8:1387::1"), None) is not None


@pytest.mark.parametrize(
    ("address", "identity"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64"),
        ("2001:db8:aa:bb::", "2001:db8:aa:bb::/64"),
        ("::1", "::/64"),
    ],
)
def test_identities(address: str, identity: str) -> None:
    assert throttled_identity(address) == identity


def test_the_digest_of_a_credential_is_not_the_credential() -> None:
    digest = credential_digest("Bearer sg_secret")

    assert "sg_secret" not in digest
    assert len(digest) == 64


async def test_a_link_local_peer_with_its_zone_is_counted_like_any_address(throttled: Gateway) -> None:
    for host in range(BUDGET):
        await spend_budget_once(throttled, f"fe80::{host + 1}%eth0")
    async with throttled.client(peer="fe80::99%eth1") as client:
        refused = await client.get("/v1/connections", headers=bearer(WRONG_KEY))

    assert_error(refused, 429, "rate_limited")
