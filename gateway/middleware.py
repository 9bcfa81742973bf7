"""A SERVER span around every HTTP request, named after the matched route template."""

from __future__ import annotations

from collections.abc import Collection
from http import HTTPStatus
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrations.telemetry.tracing import Telemetry

SPAN_NAME_STATE_KEY = "span_name"
_PROPAGATION_HEADERS = ("traceparent", "tracestate")


def name_request_span(request: Request, name: str) -> None:
    """Let a handler choose its span's name (the route template may hold ids we keep out of names)."""
    setattr(request.state, SPAN_NAME_STATE_KEY, name)


class TracingMiddleware:
    """Pure ASGI, so the handler runs inside the span's context and can capture it for later work."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry, untraced_paths: Collection[str] = ()) -> None:
        self.app = app
        self.telemetry = telemetry
        self.untraced_paths = frozenset(untraced_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.untraced_paths:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        method = request.method
        carrier = {h: v for h in _PROPAGATION_HEADERS if (v := request.headers.get(h)) is not None}
        status: dict[str, int] = {}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        attributes: dict[str, Any] = {"http.request.method": method, "url.path": scope["path"]}
        with self.telemetry.continue_trace(carrier, method, kind=SpanKind.SERVER, **attributes) as span:
            try:
                await self.app(scope, receive, send_and_record)
            finally:
                route = scope.get("route")
                route_path = getattr(route, "path", None)
                if isinstance(route_path, str):
                    span.set_attribute("http.route", route_path)
                chosen = scope.get("state", {}).get(SPAN_NAME_STATE_KEY)
                if isinstance(chosen, str):
                    span.update_name(chosen)
                elif isinstance(route_path, str):
                    span.update_name(f"{method} {route_path}")
                if "code" in status:
                    span.set_attribute("http.response.status_code", status["code"])
                    if status["code"] >= HTTPStatus.INTERNAL_SERVER_ERROR:
                        span.set_status(Status(StatusCode.ERROR))
