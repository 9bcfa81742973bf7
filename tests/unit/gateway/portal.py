"""A browser's view of the portal for the gateway tests: httpx with cookies, and its forms' token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from domain.merchants.model import Merchant
from tests.unit.gateway.fakes import BASE_URL, Gateway

_FORM_TOKEN = re.compile(r'name="form_token" value="([0-9a-f]+)"')


def form_token(page: str) -> str:
    found = _FORM_TOKEN.search(page)
    assert found is not None, "the page carries no form"
    return found.group(1)


@dataclass
class Visitor:
    """One browser: it opens a link once, then keeps the session cookie."""

    http: httpx.AsyncClient

    async def open(self, url: str) -> httpx.Response:
        return await self.http.get(url.removeprefix(BASE_URL))

    async def get(self, path: str, **params: Any) -> httpx.Response:
        # Without parameters the path's own query stays (httpx would replace it by an empty one).
        return await self.http.get(path, params=params) if params else await self.http.get(path)

    async def submit(self, page: str, action: str, **fields: Any) -> httpx.Response:
        """POST a form of `page` (its token included) to `action`."""
        return await self.http.post(action, data={"form_token": form_token(page), **fields})

    async def post(self, action: str, data: Any = None) -> httpx.Response:
        return await self.http.post(action, data=data)


@asynccontextmanager
async def visitor(gateway: Gateway, peer: str = "203.0.113.20") -> AsyncIterator[Visitor]:
    transport = httpx.ASGITransport(app=gateway.app, client=(peer, 40001))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield Visitor(http)


async def portal_link(gateway: Gateway, api_key: str, **body: Any) -> str:
    async with gateway.client(api_key=api_key) as client:
        made = await client.post("/v1/portal-sessions", json=body)
    assert made.status_code == 201, made.text
    url: str = made.json()["url"]
    return url


@asynccontextmanager
async def signed_in(
    gateway: Gateway, name: str = "Acme", **body: Any
) -> AsyncIterator[tuple[Visitor, Merchant, str]]:
    """A merchant, and a browser in its portal; the merchant's API key too."""
    merchant, api_key = await gateway.merchant(name)
    link = await portal_link(gateway, api_key, **body)
    async with visitor(gateway) as browser:
        opened = await browser.open(link)
        assert opened.status_code == 303, opened.text
        yield browser, merchant, api_key
