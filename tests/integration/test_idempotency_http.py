"""Idempotency-Key through the app the composition root builds, on SQLite and MongoDB."""

from __future__ import annotations

import asyncio

import httpx

from integrations.stores.documents import Document
from tests.integration.conftest import Service

ENDPOINT = {"url": "http://127.0.0.1:9/hooks"}


async def documents(service: Service, collection: str) -> list[Document]:
    async with service.deps.store.session() as session:
        return await session.find(collection, {}, limit=100)


async def post(service: Service, key: str, body: dict[str, str] = ENDPOINT) -> httpx.Response:
    return await service.client.post(
        "/v1/endpoints", json=body, headers={**service.auth, "Idempotency-Key": key}
    )


async def test_a_retry_gets_the_first_answer_and_the_store_holds_one_endpoint(service: Service) -> None:
    first = await post(service, "retry-1")
    again = await post(service, "retry-1")
    other = await post(service, "retry-1", {"url": "http://127.0.0.1:9/other"})

    assert first.status_code == 201
    assert (again.status_code, again.content, again.headers["idempotent-replayed"]) == (
        201,
        first.content,
        "true",
    )
    assert other.status_code == 409
    assert [doc["id"] for doc in await documents(service, "endpoints")] == [first.json()["id"]]
    [record] = await documents(service, "idempotency_keys")
    assert (record["key"], record["state"], record["response_status"]) == ("retry-1", "completed", 201)


async def test_concurrent_requests_with_one_key_create_one_endpoint(service: Service) -> None:
    answers = await asyncio.gather(*(post(service, "burst-1") for _ in range(6)))

    created = [a for a in answers if a.status_code == 201]
    assert {a.status_code for a in answers} <= {201, 409}
    assert len({a.content for a in created}) == 1  # every 201 is the one answer, replayed
    assert all(a.json()["error"]["type"] == "idempotency_key_in_use" for a in answers if a.status_code == 409)
    assert len(await documents(service, "endpoints")) == 1
