"""`POST /v1/endpoints` refuses targets inside our own network, saying why and which setting allows them.

The check is the one the composition root injects (`registration_check`); host names are
resolved for real, which for `localhost` needs nothing but the hosts file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest

from gateway.app import create_app
from integrations.delivery.http.registration import registration_check
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.seed import assert_error


@asynccontextmanager
async def client_for(gateway: Gateway, *, allow_private: bool) -> AsyncIterator[httpx.AsyncClient]:
    """The test gateway, with the registration check built as the composition root builds it."""
    _, key = await gateway.merchant()
    deps = replace(gateway.deps, check_target=registration_check(allow_private=allow_private))
    transport = httpx.ASGITransport(app=create_app(deps), client=("203.0.113.10", 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param("http://localhost:9000/hooks", "'localhost' is a loopback name", id="localhost"),
        pytest.param("http://127.0.0.1:9000/hooks", "'127.0.0.1' is a loopback address", id="ipv4-loopback"),
        pytest.param("http://[::1]:9000/hooks", "'::1' is a loopback address", id="ipv6-loopback"),
        pytest.param("https://10.1.2.3/hooks", "'10.1.2.3' is a private address", id="private-10"),
        pytest.param("https://192.168.0.20/hooks", "is a private address", id="private-192"),
        pytest.param("http://169.254.169.254/latest", "is a link-local address", id="metadata-link-local"),
        pytest.param("http://[fe80::1]/hooks", "is a link-local address", id="ipv6-link-local"),
        pytest.param("http://0.0.0.0:8080/hooks", "'0.0.0.0' is an unspecified address", id="unspecified"),
        pytest.param("http://[::ffff:127.0.0.1]/hooks", "is a loopback address", id="ipv4-mapped"),
    ],
)
async def test_a_non_public_target_is_422_naming_the_reason_and_the_setting(
    gateway: Gateway, url: str, reason: str
) -> None:
    async with client_for(gateway, allow_private=False) as client:
        response = await client.post("/v1/endpoints", json={"url": url})

    assert_error(response, 422, "validation_error")
    message = response.json()["error"]["message"]
    assert message.startswith("url: ")
    assert reason in message
    assert "SUBGATE_ALLOW_PRIVATE_TARGETS" in message
    assert gateway.store.documents("endpoints") == []


async def test_a_private_target_is_created_when_the_setting_allows_it(gateway: Gateway) -> None:
    async with client_for(gateway, allow_private=True) as client:
        response = await client.post("/v1/endpoints", json={"url": "http://localhost:9000/hooks"})

    assert response.status_code == 201, response.text
    assert [doc["url"] for doc in gateway.store.documents("endpoints")] == ["http://localhost:9000/hooks"]


async def test_a_public_address_is_created(gateway: Gateway) -> None:
    async with client_for(gateway, allow_private=False) as client:
        response = await client.post("/v1/endpoints", json={"url": "https://1.1.1.1/hooks"})

    assert response.status_code == 201, response.text
    assert gateway.store.count("endpoints") == 1


async def test_a_name_that_does_not_resolve_yet_is_accepted(gateway: Gateway) -> None:
    # Only a certain refusal refuses; its attempts will say "cannot resolve host".
    async with client_for(gateway, allow_private=False) as client:
        response = await client.post("/v1/endpoints", json={"url": "https://hooks.subgate-test.invalid/"})

    assert response.status_code == 201, response.text


async def test_a_malformed_url_is_reported_as_such_before_any_lookup(gateway: Gateway) -> None:
    async with client_for(gateway, allow_private=False) as client:
        response = await client.post("/v1/endpoints", json={"url": "ftp://localhost/hooks"})

    assert_error(response, 422, "validation_error")
    assert response.json()["error"]["message"] == "url: an absolute http(s) URL is required"
