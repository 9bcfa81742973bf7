"""POST a signed webhook with aiohttp.

The delivery loop's hot path: aiohttp directly (an httpx layer on top of it cost about a
quarter of a worker's time per delivery). The stored URL is read the one way registration
read it (`urls.endpoint_target`) and that very URL object is requested. The connector resolves
names through `resolver.GuardedResolver`, which checks every address it hands out, and opens
every socket through `resolver.AddressGuard`, which checks the address about to be connected
to, IP literals included: the connection goes only to an address that was checked.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import replace

import aiohttp
from opentelemetry.trace import SpanKind, Status, StatusCode

from domain.notifications.ports import OutboundWebhook, SendResult
from integrations.delivery.http.failures import status_failure, transport_failure
from integrations.delivery.http.resolver import AddressGuard, Classify, GuardedResolver, Lookup, system_lookup
from integrations.delivery.http.signing import signature_headers
from integrations.delivery.http.targets import ForbiddenTarget, UnresolvableTarget, address_class
from integrations.delivery.http.urls import InvalidTargetUrl, endpoint_target
from integrations.telemetry.tracing import Telemetry

EXCERPT_BYTES = 2048
MAX_RETRY_AFTER = 3600.0
USER_AGENT = "subgate-webhooks/0.1"


class OutboundClient:
    """The outbound HTTP session, built on first use inside the running event loop."""

    def __init__(
        self,
        *,
        allow_private_targets: bool,
        max_connections: int = 500,
        lookup: Lookup = system_lookup,
        classify: Classify = address_class,
    ) -> None:
        self._allow_private = allow_private_targets
        self._max_connections = max_connections
        self._lookup = lookup
        self._classify = classify
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(
                    allow_private=self._allow_private, lookup=self._lookup, classify=self._classify
                ),
                socket_factory=AddressGuard(allow_private=self._allow_private, classify=self._classify),
                limit=self._max_connections,
                ssl=ssl.create_default_context(),
            )
            # trust_env=False: a proxy from the environment must not silently carry merchant traffic.
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpWebhookSender:
    def __init__(self, client: OutboundClient, telemetry: Telemetry, timeout: float) -> None:
        self._client = client
        self._telemetry = telemetry
        self._timeout = timeout
        # No redirects (a 3xx is an answer), and one deadline for the whole attempt.
        self._request_timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, webhook: OutboundWebhook) -> SendResult:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(webhook.message_id, webhook.timestamp, webhook.body, webhook.secrets),
        }
        with self._telemetry.tracer.start_as_current_span("POST webhook", kind=SpanKind.CLIENT) as span:
            # The headers are recorded with the attempt (shown in the portal): a signature is
            # no secret, and the attempt's timestamp is in it.
            result = replace(await self._post(webhook.url, webhook.body, headers), headers=dict(headers))
            if span.is_recording():
                span.set_attribute("http.request.method", "POST")
                span.set_attribute("url.full", webhook.url)
                span.set_attribute("webhook.id", webhook.message_id)
                if result.status_code is not None:
                    span.set_attribute("http.response.status_code", result.status_code)
                if not result.ok:
                    span.set_status(Status(StatusCode.ERROR, result.error or f"HTTP {result.status_code}"))
            return result

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            # Stored before it was normalised, or edited by hand: still read the client's way.
            target = endpoint_target(url)
        except InvalidTargetUrl as invalid:
            return SendResult(status_code=None, duration_ms=elapsed(), error=f"refused target: {invalid}")
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.session().post(
                    target.url,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._request_timeout,
                ) as response:
                    status = response.status
                    excerpt = await _excerpt(response)
                    retry_after = _retry_after_of(status, response.headers.get("Retry-After"))
        except UnresolvableTarget as error:
            return SendResult(status_code=None, duration_ms=elapsed(), error=str(error))
        except ForbiddenTarget as error:
            return SendResult(status_code=None, duration_ms=elapsed(), error=f"refused target: {error}")
        # OSError: some socket and TLS errors come through unwrapped; ValueError: a malformed URL.
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as error:
            refused = _refused_in(error)
            text = f"refused target: {refused}" if refused else transport_failure(error, self._timeout)
            return SendResult(status_code=None, duration_ms=elapsed(), error=text)
        result = SendResult(
            status_code=status, duration_ms=elapsed(), response_excerpt=excerpt, retry_after=retry_after
        )
        # Every failed attempt says why in words, an HTTP answer included.
        return result if result.ok else replace(result, error=status_failure(status))


def _retry_after_of(status: int, raw: str | None) -> float | None:
    if status not in (429, 503) or raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit():
        return None
    return min(float(raw), MAX_RETRY_AFTER)


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


async def _excerpt(response: aiohttp.ClientResponse) -> str:
    """Only the first 2 KB of the answer is kept (and read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(EXCERPT_BYTES):
        chunks.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_BYTES:
            break
    return b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", errors="replace")
