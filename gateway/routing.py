"""Routes that carry their own description: what is routed is what `/openapi.json` describes.

Each route is declared as `Operation`s (one per method) naming the schemas of what it takes
and answers; `RouteTable` turns them into Starlette routes (one per path, so a 405 lists every
allowed method) and into the OpenAPI document, so the two cannot drift apart.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

Endpoint = Callable[[Request], Awaitable[Response]]

JSON: Final = "application/json"
_PATH_PARAM: Final = re.compile(r"{(\w+)}")


class Security(enum.Enum):
    NONE = "none"
    API_KEY = "api_key"  # `Authorization: Bearer <api key>`, required
    # `Authorization: Bearer $SUBGATE_METRICS_TOKEN` when that is set (a scheme's name, not a secret)
    METRICS_TOKEN = "metrics_token"  # noqa: S105


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """A documented successful answer: its status and what its body is (a type msgspec describes)."""

    status: int
    schema: Any
    description: str
    media_type: str = JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """A documented request header."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One method on one path: the endpoint Starlette calls, and everything the document says of it."""

    method: str
    path: str
    endpoint: Endpoint
    operation_id: str
    summary: str
    tag: str
    description: str | None = None
    security: Security = Security.NONE
    body: Any = None  # the request body's type; None: the operation reads no body
    body_required: bool = True
    query: Any = None  # a Struct whose fields are the query parameters
    headers: tuple[Header, ...] = ()
    answers: tuple[Answer, ...] = ()
    errors: frozenset[int] = frozenset()  # statuses answered with the error body

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAM.findall(self.path))


class RouteTable:
    """Every route of the app, each one an `Operation`: nothing is routed that is not documented."""

    def __init__(self) -> None:
        self._operations: list[Operation] = []

    def add(self, operations: Iterable[Operation]) -> None:
        self._operations.extend(operations)

    @property
    def operations(self) -> Sequence[Operation]:
        return tuple(self._operations)

    def routes(self) -> list[BaseRoute]:
        by_path: dict[str, dict[str, Endpoint]] = {}
        for operation in self._operations:
            methods = by_path.setdefault(operation.path, {})
            if operation.method in methods:
                raise ValueError(f"{operation.method} {operation.path} is routed twice")
            methods[operation.method] = operation.endpoint
        return [_route(path, methods) for path, methods in by_path.items()]


def _route(path: str, endpoints: Mapping[str, Endpoint]) -> Route:
    by_method = dict(endpoints)
    if "GET" in by_method:
        # Starlette answers HEAD wherever GET is allowed.
        by_method.setdefault("HEAD", by_method["GET"])

    async def dispatch(request: Request) -> Response:
        return await by_method[request.method](request)

    return Route(path, dispatch, methods=list(endpoints))
