"""POST a signed webhook with httpx over aiohttp's connection pool.

httpx keeps the client API (and respx for fault injection in tests); its default
transport is slow under concurrency, so the aiohttp transport does the I/O, through a
connector whose resolver checks every address it hands out (`resolver.GuardedResolver`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from opentelemetry.trace import SpanKind, Status, StatusCode

from domain.notifications.ports import OutboundWebhook, SendResult
from integrations.outbound.failures import status_failure, transport_failure
from integrations.outbound.resolver import Classify, GuardedResolver, Lookup, literal_refusal, system_lookup
from integrations.outbound.signing import signature_headers
from integrations.outbound.targets import ForbiddenTarget, UnresolvableTarget, address_class
from integrations.telemetry import Telemetry

EXCERPT_BYTES = 2048
MAX_RETRY_AFTER = 3600.0


def build_client(
    *,
    allow_private_targets: bool,
    max_connections: int = 500,
    lookup: Lookup = system_lookup,
    classify: Classify = address_class,
) -> httpx.AsyncClient:
    """The outbound client: its connector resolves through `GuardedResolver` (pinned, checked)."""

    def session() -> aiohttp.ClientSession:
        # Built on first use, inside the running event loop, as aiohttp wants.
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(allow_private=allow_private_targets, lookup=lookup, classify=classify),
            limit=max_connections,
            ssl=httpx.create_ssl_context(trust_env=False),
        )
        # trust_env=False: a proxy from the environment must not silently carry merchant traffic.
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    transport = AiohttpTransport(
        trust_env=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        client=session,
    )
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


def _retry_after(response: httpx.Response) -> float | None:
    if response.status_code not in (429, 503):
        return None
    raw = response.headers.get("retry-after", "").strip()
    if not raw.isdigit():
        return None
    return min(float(raw), MAX_RETRY_AFTER)


class HttpWebhookSender:
    def __init__(
        self, client: httpx.AsyncClient, telemetry: Telemetry, timeout: float, allow_private_targets: bool
    ) -> None:
        self._client = client
        self._telemetry = telemetry
        self._timeout = timeout
        self._allow_private = allow_private_targets

    async def send(self, webhook: OutboundWebhook) -> SendResult:
        headers = {
            "content-type": "application/json",
            "user-agent": "subgate-webhooks/0.1",
            **signature_headers(webhook.message_id, webhook.timestamp, webhook.body, webhook.secrets),
        }
        with self._telemetry.tracer.start_as_current_span(
            "POST webhook",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "url.full": webhook.url,
                "webhook.id": webhook.message_id,
            },
        ) as span:
            result = await self._post(webhook.url, webhook.body, headers)
            if result.status_code is not None:
                span.set_attribute("http.response.status_code", result.status_code)
            if not result.ok:
                span.set_status(Status(StatusCode.ERROR, result.error or f"HTTP {result.status_code}"))
            return result

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        # Host names are checked by the client's resolver, at connect time; IP literals here.
        refused = None if self._allow_private else literal_refusal(urlsplit(url).hostname or "")
        if refused is not None:
            return SendResult(status_code=None, duration_ms=elapsed(), error=f"refused target: {refused}")
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.stream(
                    "POST", url, content=body, headers=headers, timeout=self._timeout
                ) as response:
                    excerpt = await _excerpt(response)
        except UnresolvableTarget as error:
            return SendResult(status_code=None, duration_ms=elapsed(), error=str(error))
        except ForbiddenTarget as error:
            return SendResult(status_code=None, duration_ms=elapsed(), error=f"refused target: {error}")
        # OSError: the transport lets some socket and TLS errors through unwrapped.
        except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, OSError) as error:
            refused = _refused_in(error)
            text = f"refused target: {refused}" if refused else transport_failure(error, self._timeout)
            return SendResult(status_code=None, duration_ms=elapsed(), error=text)
        result = SendResult(
            status_code=response.status_code,
            duration_ms=elapsed(),
            response_excerpt=excerpt,
            retry_after=_retry_after(response),
        )
        # Every failed attempt says why in words, an HTTP answer included.
        return result if result.ok else replace(result, error=status_failure(response.status_code))


def _refused_in(error: BaseException) -> str | None:
    """The resolver's refusal, when the connector wrapped it on its way up."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ForbiddenTarget) and not isinstance(current, UnresolvableTarget):
            return str(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


async def _excerpt(response: httpx.Response) -> str:
    """Only the first 2 KB of the answer is kept (and read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_BYTES:
            break
    return b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", errors="replace")
