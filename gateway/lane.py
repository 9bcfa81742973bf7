"""The provider webhook route, dispatched before the REST stack.

`POST /webhooks/{provider}/{connection_id}` is the hottest path by far and needs none of
what the REST API wraps around its routes (rate limits and idempotency by API key, the
router's matching of every `/v1` pattern, the exception middleware): this pure-ASGI
layer, outermost, hands it straight to its handler inside the request's SERVER span.
Everything else goes on to the application unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from integrations.telemetry.tracing import Telemetry

ROUTE = "/webhooks/{provider}/{connection_id}"
_PROPAGATION_HEADERS = (b"traceparent", b"tracestate")
_SEGMENTS = 4  # "", "webhooks", provider, connection id

Handler = Callable[[Request], Awaitable[Response]]


class WebhookLane:
    def __init__(self, app: ASGIApp, handler: Handler, telemetry: Telemetry, span_name: str) -> None:
        self.app = app
        self._handler = handler
        self._telemetry = telemetry
        self._span_name = span_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            parts = scope["path"].split("/")
            # The same matches as the route's `{provider}/{connection_id}` ([^/]+ each).
            if len(parts) == _SEGMENTS and parts[1] == "webhooks" and parts[2] and parts[3]:
                scope["path_params"] = {"provider": parts[2], "connection_id": parts[3]}
                await self._webhook(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        carrier = {
            name.decode(): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _PROPAGATION_HEADERS
        }
        with self._telemetry.continue_trace(carrier, self._span_name, kind=SpanKind.SERVER) as span:
            response = await self._handler(Request(scope, receive))
            if span.is_recording():
                span.set_attribute("http.request.method", "POST")
                span.set_attribute("http.route", ROUTE)
                span.set_attribute("url.path", scope["path"])
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 500:  # noqa: PLR2004 - the server-error class
                    span.set_status(Status(StatusCode.ERROR))
            await response(scope, receive, send)
