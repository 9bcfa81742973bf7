"""Idempotency-Key when the process dies between the request's effect and keeping its answer.

The request's units of work mark the key's record `applied` in their own transactions, so a
retry after such a death finds the mark and is refused (409 `idempotency_answer_lost`)
instead of creating the endpoint, or the subscription subgate runs itself, a second time.
The death is a `ProcessDied` raised where the answer would be kept: nothing after it runs.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import orjson

from gateway.app import create_app
from gateway.deps import IdempotencyKeys
from integrations.stores.idempotency import LEASE, Begun, KeyedRequest, SavedResponse, Started
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.seed import assert_error, create

KEY = "order-7"


class ProcessDied(Exception):
    """The process stops here: nothing after it is written (the app answers 500 to a client
    that, in a real death, would see the connection drop)."""


class DyingBeforeTheAnswer:
    """The store's keys, in a process that dies just before it would keep the first answer."""

    def __init__(self, inner: IdempotencyKeys) -> None:
        self.inner = inner
        self.dying = True

    async def begin(self, request: KeyedRequest) -> Begun:
        return await self.inner.begin(request)

    async def complete(self, started: Started, response: SavedResponse) -> bool:
        if self.dying:
            self.dying = False
            raise ProcessDied
        return await self.inner.complete(started, response)

    async def release(self, started: Started) -> bool:
        return await self.inner.release(started)


@asynccontextmanager
async def client_for(
    gateway: Gateway, api_key: str, keys: IdempotencyKeys
) -> AsyncIterator[httpx.AsyncClient]:
    assert gateway.deps.idempotency is not None
    deps = replace(gateway.deps, idempotency=keys)
    transport = httpx.ASGITransport(app=create_app(deps), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test", headers={"Authorization": f"Bearer {api_key}"}
    ) as client:
        yield client


async def post(client: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Idempotency-Key": KEY}
    return await client.post(path, content=orjson.dumps(body), headers=headers)


async def _after_a_death(gateway: Gateway, api_key: str, path: str, body: Any) -> list[httpx.Response]:
    """The first request dies before its answer is kept; the client retries while the key's
    lease holds, and again once it has run out."""
    assert gateway.deps.idempotency is not None
    dying = DyingBeforeTheAnswer(gateway.deps.idempotency)
    async with client_for(gateway, api_key, dying) as client:
        died = await post(client, path, body)
        soon = await post(client, path, body)
        gateway.clock.advance(LEASE)
        later = await post(client, path, body)
    return [died, soon, later]


async def test_an_endpoint_created_before_a_death_is_not_created_again(gateway: Gateway) -> None:
    _, api_key = await gateway.merchant()
    died, soon, later = await _after_a_death(
        gateway, api_key, "/v1/endpoints", {"url": "https://hooks.example.com/a"}
    )

    assert died.status_code == 500  # the client saw no answer from the request that ran
    assert_error(soon, 409, "idempotency_key_in_use")
    assert_error(later, 409, "idempotency_answer_lost")
    assert len(gateway.store.documents("endpoints")) == 1
    [record] = gateway.store.documents("idempotency_keys")
    assert (record["state"], record["response_body"]) == ("applied", None)


async def test_a_subscription_subgate_runs_created_before_a_death_is_not_created_again(
    gateway: Gateway,
) -> None:
    _, api_key = await gateway.merchant()
    async with gateway.client(api_key=api_key) as plain:
        customer = await create(plain, "/v1/customers", {"email": "ada@example.com"})
        plan = await create(
            plain, "/v1/plans", {"name": "Pro", "amount": 900, "currency": "eur", "interval": "month"}
        )
    body = {"customer_id": customer["id"], "plan_id": plan["id"]}

    died, _, later = await _after_a_death(gateway, api_key, "/v1/subscriptions", body)

    assert died.status_code == 500
    assert_error(later, 409, "idempotency_answer_lost")
    assert len(gateway.store.documents("subscriptions")) == 1


async def test_a_request_that_wrote_nothing_before_a_death_runs_again_after_the_lease(
    gateway: Gateway,
) -> None:
    """A refused request (422) wrote nothing: no mark, so the usual rule holds (free after the lease)."""
    _, api_key = await gateway.merchant()
    died, _, later = await _after_a_death(gateway, api_key, "/v1/endpoints", {"url": "not a url"})

    assert died.status_code == 500
    assert_error(later, 422, "validation_error")


async def test_a_request_whose_key_was_taken_over_writes_nothing(gateway: Gateway) -> None:
    """Its lease ran out while it ran, and a retry took the key and created the endpoint: the
    first request's own unit of work is refused (409), so there is still one endpoint."""
    _, api_key = await gateway.merchant()
    assert gateway.deps.idempotency is not None
    checked = asyncio.Event()
    go_on = asyncio.Event()
    calls = 0

    async def slow_first_check(url: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            checked.set()
            await go_on.wait()
        return url

    deps = replace(gateway.deps, check_target=slow_first_check)
    transport = httpx.ASGITransport(app=create_app(deps), raise_app_exceptions=False)
    body = {"url": "https://hooks.example.com/a"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test", headers={"Authorization": f"Bearer {api_key}"}
    ) as client:
        first = asyncio.create_task(post(client, "/v1/endpoints", body))
        await asyncio.wait_for(checked.wait(), 10)
        gateway.clock.advance(LEASE)
        retry = await post(client, "/v1/endpoints", body)
        go_on.set()
        late = await first

    assert retry.status_code == 201, retry.text
    assert_error(late, 409, "conflict")
    assert len(gateway.store.documents("endpoints")) == 1
    [record] = gateway.store.documents("idempotency_keys")
    assert record["state"] == "completed"
    assert orjson.loads(base64.b64decode(record["response_body"]))["id"] == retry.json()["id"]
