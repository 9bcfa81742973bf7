"""Pages rendered on the server with Jinja2 (autoescaped), and the headers every portal answer has."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlencode

import jinja2
from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.shared.pagination import Page
from gateway.portal.access import FORM_TOKEN_FIELD, Visit
from gateway.portal.assets import Assets
from gateway.portal.links import PREFIX

TEMPLATES: Final = Path(__file__).parent / "templates"


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


class Identified(Protocol):
    @property
    def id(self) -> str: ...


Listed = TypeVar("Listed", bound=Identified)


def portal_url(path: str, **query: object) -> str:
    """A portal path with the query parameters that are set (None and "" left out)."""
    kept = {k: str(v) for k, v in query.items() if v is not None and v != ""}
    return f"{PREFIX}{path}" + (f"?{urlencode(kept)}" if kept else "")


def next_page_url(page: Page[Listed], path: str, **query: object) -> str | None:
    """The link to the page after `page` (the same filters, after its last item), if there is one."""
    return portal_url(path, **query, after=page.items[-1].id) if page.has_more else None


class Pages:
    def __init__(self, assets: Assets) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals.update(
            asset=assets.url, url=portal_url, FORM_TOKEN_FIELD=FORM_TOKEN_FIELD, prefix=PREFIX
        )
        self._env.filters.update(when=when, pretty_json=pretty_json)

    def render(self, template: str, visit: Visit | None, code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("section", None)
        context.setdefault("notice", None)
        page = self._env.get_template(template).render(visit=visit, **context)
        return HTMLResponse(page, status_code=code)

    def listing(
        self,
        template: str,
        visit: Visit,
        page: Page[Listed],
        path: str,
        *,
        title: str,
        query: Mapping[str, object] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A page of a list, in the section of its title: its `items`, and as `next_url` the link to
        the page after it (`path` with the same `query`)."""
        later = next_page_url(page, path, **(query or {}))
        return self.render(
            template, visit, title=title, section=title, items=page.items, next_url=later, **context
        )

    def problem(self, status: int, title: str, message: str, visit: Visit | None = None) -> HTMLResponse:
        return self.render("problem.html", visit, status, title=title, message=message)


def see_other(path: str, **query: object) -> RedirectResponse:
    """After a POST: the browser asks for the page again with GET (no form sent twice)."""
    return RedirectResponse(portal_url(path, **query), status_code=303)


def security_headers(frame_ancestors: str) -> Mapping[str, str]:
    """No inline script or style anywhere, forms only to ourselves, framed only where allowed."""
    policy = "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "form-action 'self'",
            "base-uri 'none'",
            f"frame-ancestors {frame_ancestors}",
        )
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if frame_ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"
    return headers


class PortalHeaders:
    """Pure ASGI around the portal: its headers on every answer, errors and redirects included,
    and `Server-Timing` with the time the server spent before the answer started."""

    def __init__(self, app: ASGIApp, frame_ancestors: str) -> None:
        self.app = app
        self.headers = security_headers(frame_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
                # Private pages: never kept by a cache (static assets set their own, longer rule).
                headers.setdefault("Cache-Control", "no-store")
                headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            await send(message)

        await self.app(scope, receive, send_with_headers)
