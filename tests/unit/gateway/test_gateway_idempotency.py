"""Idempotency-Key on REST POSTs, over the in-memory store: one effect per key, the first answer replayed.

`POST /v1/endpoints` is the request under test: it has an effect (an endpoint in the store)
and a one-time secret in its answer, so a replay is told apart from a second run. The
registration check it calls first is replaced by a `CountingCheck`, which counts runs and
can hold a request in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from domain.shared.errors import ValidationFailed
from gateway.app import create_app
from gateway.idempotency import fingerprint
from integrations.stores.documents import Document, StorageError
from integrations.stores.idempotency import LEASE, REPLAY_WINDOW, KeyedRequest, Started
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.seed import assert_error

ENDPOINT = {"url": "https://hooks.example.com/subgate"}
KEY = "order-7-create-endpoint"


class CountingCheck:
    """The endpoint-target check: counts the requests that really ran, and can hold them."""

    def __init__(
        self, *, hold: bool = False, fail_with: list[Exception] | None = None, refusal: str | None = None
    ) -> None:
        self.runs = 0
        self.refusal = refusal
        self.entered = asyncio.Event()
        self.released = asyncio.Event()
        if not hold:
            self.released.set()
        self._failures = list(fail_with or ())

    async def __call__(self, url: str) -> str:
        self.runs += 1
        self.entered.set()
        await self.released.wait()
        if self._failures:
            raise self._failures.pop(0)
        if self.refusal is not None:
            raise ValidationFailed("url", self.refusal)
        return url


@asynccontextmanager
async def client_for(
    gateway: Gateway, api_key: str, check: CountingCheck
) -> AsyncIterator[httpx.AsyncClient]:
    deps = replace(gateway.deps, check_target=check)
    # An unexpected exception is re-raised by the app after its 500; the transport keeps the 500.
    transport = httpx.ASGITransport(app=create_app(deps), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test", headers={"Authorization": f"Bearer {api_key}"}
    ) as client:
        yield client


async def post(client: httpx.AsyncClient, body: Any = ENDPOINT, key: str | None = KEY) -> httpx.Response:
    headers = {"Content-Type": "application/json"} | ({} if key is None else {"Idempotency-Key": key})
    return await client.post("/v1/endpoints", content=orjson.dumps(body), headers=headers)


def records(gateway: Gateway) -> list[Document]:
    return gateway.store.documents("idempotency_keys")


async def test_the_same_key_and_body_replays_the_first_answer_without_running_again(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    check = CountingCheck()
    async with client_for(gateway, api_key, check) as client:
        first = await post(client)
        again = await post(client)

    assert first.status_code == 201, first.text
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert check.runs == 1
    [endpoint] = gateway.store.documents("endpoints")
    assert endpoint["id"] == first.json()["id"]
    [record] = records(gateway)
    assert (record["key"], record["state"], record["response_status"]) == (KEY, "completed", 201)


async def test_the_same_key_with_another_body_is_409_and_changes_nothing(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    check = CountingCheck()
    async with client_for(gateway, api_key, check) as client:
        first = await post(client)
        other_body = await post(client, {"url": "https://other.example.com/subgate"})
        other_path = await client.post(
            "/v1/connections",
            json={"provider": "stripe", "webhook_secrets": ["whsec_x"]},
            headers={"Idempotency-Key": KEY},
        )
        replayed = await post(client)

    assert first.status_code == 201
    assert_error(other_body, 409, "idempotency_key_reused")
    assert_error(other_path, 409, "idempotency_key_reused")
    assert replayed.content == first.content
    assert check.runs == 1
    assert len(gateway.store.documents("endpoints")) == 1
    assert gateway.store.documents("connections") == []


async def test_the_same_key_and_body_on_another_path_is_409_and_changes_nothing(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    async with client_for(gateway, api_key, CountingCheck()) as client:
        first = (await post(client, key=None)).json()
        second = (await post(client, {"url": "https://other.example.com/subgate"}, key=None)).json()
        untouched = next(e for e in gateway.store.documents("endpoints") if e["id"] == second["id"])
        # Two rotations, the same (empty) body, paths that differ only in the endpoint's id.
        rotated = await client.post(
            f"/v1/endpoints/{first['id']}/rotate-secret", headers={"Idempotency-Key": KEY}
        )
        elsewhere = await client.post(
            f"/v1/endpoints/{second['id']}/rotate-secret", headers={"Idempotency-Key": KEY}
        )

    assert rotated.status_code == 200, rotated.text
    assert_error(elsewhere, 409, "idempotency_key_reused")
    assert "idempotent-replayed" not in elsewhere.headers
    assert next(e for e in gateway.store.documents("endpoints") if e["id"] == second["id"]) == untouched
    [record] = records(gateway)
    assert (record["key"], record["state"], record["response_status"]) == (KEY, "completed", 200)


async def test_two_concurrent_requests_with_one_key_have_one_effect(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    check = CountingCheck(hold=True)
    async with client_for(gateway, api_key, check) as client:
        first_task = asyncio.create_task(post(client))
        await asyncio.wait_for(check.entered.wait(), timeout=5)
        concurrent = await post(client)
        check.released.set()
        first = await first_task
        retried = await post(client)

    assert_error(concurrent, 409, "idempotency_key_in_use")
    assert concurrent.headers["retry-after"] == "1"
    assert first.status_code == 201
    assert retried.content == first.content
    assert check.runs == 1
    assert len(gateway.store.documents("endpoints")) == 1


async def test_keys_are_scoped_per_merchant(gateway: Gateway) -> None:
    acme, acme_key = await gateway.merchant("Acme")
    other, other_key = await gateway.merchant("Other")
    check = CountingCheck()
    async with client_for(gateway, acme_key, check) as acme_client:
        acme_answer = await post(acme_client)
    async with client_for(gateway, other_key, check) as other_client:
        other_answer = await post(other_client)

    assert (acme_answer.status_code, other_answer.status_code) == (201, 201)
    assert acme_answer.json()["id"] != other_answer.json()["id"]
    owners = {doc["merchant_id"] for doc in gateway.store.documents("endpoints")}
    assert owners == {acme.id, other.id}
    assert {record["merchant_id"] for record in records(gateway)} == {acme.id, other.id}


async def test_an_answer_is_replayed_for_24_hours_and_not_a_microsecond_longer(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    check = CountingCheck()
    async with client_for(gateway, api_key, check) as client:
        first = await post(client)
        gateway.clock.advance(REPLAY_WINDOW - timedelta(microseconds=1))
        within = await post(client)
        gateway.clock.advance(timedelta(microseconds=1))
        after = await post(client)

    assert within.content == first.content
    assert after.status_code == 201
    assert after.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in after.headers
    assert check.runs == 2
    assert len(gateway.store.documents("endpoints")) == 2
    [record] = records(gateway)  # the expired record was taken over, not duplicated
    assert record["response_body"] is not None


async def test_an_expired_key_may_carry_another_body(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    async with client_for(gateway, api_key, CountingCheck()) as client:
        await post(client)
        gateway.clock.advance(REPLAY_WINDOW)
        other = await post(client, {"url": "https://other.example.com/subgate"})

    assert other.status_code == 201
    assert other.json()["url"] == "https://other.example.com/subgate"


async def test_a_client_error_is_kept_and_replayed(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    # Refused by the target check, so after the request really ran (a malformed body would be
    # refused before anything runs).
    check = CountingCheck(refusal="a private address")
    async with client_for(gateway, api_key, check) as client:
        first = await post(client, {"url": "https://hooks.example.com/x"})
        again = await post(client, {"url": "https://hooks.example.com/x"})

    assert_error(first, 422, "validation_error")
    assert (again.status_code, again.content) == (422, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert check.runs == 1


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        pytest.param(RuntimeError("boom"), 500, id="unexpected-exception"),
        pytest.param(StorageError("store went away"), 503, id="store-unavailable"),
    ],
)
async def test_a_server_error_is_not_kept_so_the_retry_runs(
    gateway: Gateway, failure: Exception, status: int
) -> None:
    _, api_key = await gateway.merchant()
    check = CountingCheck(fail_with=[failure])
    async with client_for(gateway, api_key, check) as client:
        failed = await post(client)
        retried = await post(client)
        replayed = await post(client)

    assert failed.status_code == status
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert replayed.content == retried.content
    assert check.runs == 2
    assert len(gateway.store.documents("endpoints")) == 1


async def test_a_key_held_by_a_dead_request_is_free_once_its_lease_runs_out(gateway: Gateway) -> None:
    merchant, api_key = await gateway.merchant()
    assert gateway.deps.idempotency is not None
    # The same request took the key earlier, in a process that died before answering.
    same_request = fingerprint("POST", "/v1/endpoints", b"", orjson.dumps(ENDPOINT))
    taken = await gateway.deps.idempotency.begin(
        KeyedRequest(merchant_id=merchant.id, key=KEY, fingerprint=same_request)
    )
    assert isinstance(taken, Started)
    check = CountingCheck()
    async with client_for(gateway, api_key, check) as client:
        gateway.clock.advance(LEASE - timedelta(microseconds=1))
        while_held = await post(client)
        gateway.clock.advance(timedelta(microseconds=1))
        after_lease = await post(client)

    assert_error(while_held, 409, "idempotency_key_in_use")
    assert after_lease.status_code == 201
    assert check.runs == 1
    assert len(gateway.store.documents("endpoints")) == 1


@pytest.mark.parametrize("length", [1, 255])
async def test_keys_of_1_to_255_characters_are_accepted(gateway: Gateway, length: int) -> None:
    _, api_key = await gateway.merchant()
    async with client_for(gateway, api_key, CountingCheck()) as client:
        response = await post(client, key="k" * length)

    assert response.status_code == 201
    assert [record["key"] for record in records(gateway)] == ["k" * length]


@pytest.mark.parametrize("key", ["", "k" * 256], ids=["empty", "256-characters"])
async def test_an_empty_or_too_long_key_is_400_and_runs_nothing(gateway: Gateway, key: str) -> None:
    _, api_key = await gateway.merchant()
    check = CountingCheck()
    async with client_for(gateway, api_key, check) as client:
        response = await post(client, key=key)

    assert_error(response, 400, "invalid_request")
    assert "255" in response.json()["error"]["message"]
    assert check.runs == 0
    assert gateway.store.documents("endpoints") == []
    assert records(gateway) == []


async def test_authentication_comes_first_and_a_refused_key_records_nothing(gateway: Gateway) -> None:
    await gateway.merchant()
    async with client_for(gateway, "sg_not_a_real_key", CountingCheck()) as client:
        response = await post(client, key="k" * 300)

    assert_error(response, 401, "unauthenticated")
    assert records(gateway) == []


async def test_without_the_header_every_post_runs(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    check = CountingCheck()
    async with client_for(gateway, api_key, check) as client:
        await post(client, key=None)
        await post(client, key=None)

    assert check.runs == 2
    assert len(gateway.store.documents("endpoints")) == 2
    assert records(gateway) == []


async def test_other_methods_and_the_webhooks_ignore_the_header(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    async with client_for(gateway, api_key, CountingCheck()) as client:
        listed = await client.get("/v1/endpoints", headers={"Idempotency-Key": KEY})
        webhook = await client.post(
            "/webhooks/stripe/conn_missing", json={}, headers={"Idempotency-Key": KEY}
        )

    assert listed.status_code == 200
    assert webhook.status_code != 409
    assert records(gateway) == []


async def test_an_oversized_body_is_413_before_the_key_is_taken(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    limit = gateway.deps.config.max_body_bytes
    async with client_for(gateway, api_key, CountingCheck()) as client:
        response = await post(client, {"url": "https://hooks.example.com/" + "x" * limit})

    assert_error(response, 413, "payload_too_large")
    assert records(gateway) == []


async def test_an_unreachable_store_is_503(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    async with client_for(gateway, api_key, CountingCheck()) as client:
        gateway.store.unavailable = True
        response = await post(client)
        gateway.store.unavailable = False

    assert_error(response, 503, "service_unavailable")
    assert records(gateway) == []
