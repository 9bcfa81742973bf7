"""SUBGATE_ALLOW_PRIVATE_TARGETS, through the composition root, decides if a loopback endpoint registers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from subgate.bootstrap import build, migrate
from subgate.settings import load_settings


@asynccontextmanager
async def service(tmp_path: Path, redis_url: str, allow_private: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        {
            "SUBGATE_DATA_DIR": str(tmp_path),
            "SUBGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'subgate.db'}",
            "SUBGATE_ALLOW_PRIVATE_TARGETS": allow_private,
        },
        dotenv=None,
    )
    deps = await build(settings, redis_url=redis_url)
    try:
        await migrate(deps.store)
        _, api_key = await deps.admin.create_merchant("Targets")
        transport = httpx.ASGITransport(app=create_app(deps.gateway), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://subgate.test",
            headers={"authorization": f"Bearer {api_key}"},
        ) as client:
            yield client
    finally:
        await deps.close()


async def stored_endpoints(client: httpx.AsyncClient) -> list[str]:
    listed = await client.get("/v1/endpoints")
    assert listed.status_code == 200, listed.text
    return [endpoint["url"] for endpoint in listed.json()["data"]]


@pytest.mark.parametrize("setting", ["", "false"])
async def test_with_the_setting_off_a_loopback_endpoint_is_422_and_not_stored(
    tmp_path: Path, redis_url: str, setting: str
) -> None:
    async with service(tmp_path, redis_url, setting) as client:
        response = await client.post("/v1/endpoints", json={"url": "http://localhost:9000/hooks"})

        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert "loopback" in message
        assert "SUBGATE_ALLOW_PRIVATE_TARGETS" in message
        assert await stored_endpoints(client) == []


async def test_with_the_setting_on_a_loopback_endpoint_is_created(tmp_path: Path, redis_url: str) -> None:
    async with service(tmp_path, redis_url, "true") as client:
        response = await client.post("/v1/endpoints", json={"url": "http://localhost:9000/hooks"})

        assert response.status_code == 201, response.text
        assert await stored_endpoints(client) == ["http://localhost:9000/hooks"]
