"""`/v1` operations: authenticated, inputs decoded by their Structs, answers encoded from theirs.

A resource (`Resource`) marks each handler method with `route`: its method, path and summary. A
handler receives the merchant and, where the operation has one, its decoded body (any method but
GET) or query (GET), as its third argument; it returns a Struct, encoded with the operation's
success status. The schemas are read from the handler's own annotations, so what `/openapi.json`
says a route takes and answers is what the route really does.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, TypeVar

from msgspec import Struct
from starlette.requests import Request
from starlette.responses import Response

from domain.merchants.model import Merchant
from gateway.auth import authenticate
from gateway.body import read_limited
from gateway.decoding import decode_body, decode_query
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.routing import Answer, Header, Operation, Security

In = TypeVar("In", bound=Struct)
H = TypeVar("H", bound=Callable[..., Awaitable[Struct]])

PREFIX: Final = "/v1"
IDEMPOTENCY_KEY: Final = Header(
    name="Idempotency-Key",
    description="Retrying with the same key and body within 24 h answers the first response again.",
    schema={"type": "string", "minLength": 1, "maxLength": 255},
)
# Every `/v1` request may be refused before it runs: no or a wrong key, over its rate, store down.
_ALWAYS: Final = frozenset({401, 429, 503})
# Writes may lose a race with a concurrent change (409). A POST with an Idempotency-Key also
# answers 400 for a malformed key (or Content-Length), 413 for an oversized body (the key's
# check reads it, even where the route itself reads none) and 409 for a key reused with
# another request, or still in progress.
_WRITE: Final = frozenset({409})
_POST: Final = frozenset({400, 409, 413})
_BODY: Final = frozenset({400, 413, 422})
# Carried out at a payment provider when one bills the subscription: it may decline the payment
# (402) or fail to answer (502). Declared by the operations that can reach a provider.
AT_PROVIDER: Final = frozenset({402, 502})

Check = Callable[[Request, Merchant], Awaitable[object]]
_Run = Callable[[Request, Merchant], Awaitable[Struct]]


@dataclass(frozen=True, slots=True)
class Body(Generic[In]):
    """A JSON request body decoded as `schema`.

    `required=False`: an empty body reads as `{}`. `found_first` runs before the body is read:
    another merchant's id then answers 404 whatever the body.
    """

    schema: type[In]
    required: bool = True
    found_first: Check | None = None


class V1:
    """Builds the operations of one `/v1` resource (its OpenAPI tag)."""

    def __init__(self, deps: GatewayDeps, tag: str) -> None:
        self._merchants = deps.merchants
        self._max_body_bytes = deps.config.max_body_bytes
        self._tag = tag

    def routed(
        self, handler: Callable[..., Awaitable[Struct]], spec: Route, found_first: Check | None
    ) -> Operation:
        """The operation of a `route`d handler, its schemas read from the handler's annotations."""
        hints = typing.get_type_hints(handler)
        answer = Answer(status=spec.status, schema=hints["return"], description=spec.summary)
        # (request, merchant) and, for an operation that takes one, the body or query.
        taken = list(inspect.signature(handler).parameters)[2:]
        if not taken:
            return self._operation(spec, handler, handler, answer)
        schema: type[Struct] = hints[taken[0]]
        if spec.method == "GET":

            async def with_query(request: Request, merchant: Merchant) -> Struct:
                return await handler(request, merchant, decode_query(request.query_params, schema))

            return self._operation(spec, handler, with_query, answer, errors={422}, query=schema)
        body = Body(schema, required=not spec.optional_body, found_first=found_first)
        return self._operation(spec, handler, self._with_body(handler, body), answer, errors=_BODY, body=body)

    def _with_body(self, handler: Callable[..., Awaitable[Struct]], body: Body[Any]) -> _Run:
        limit = self._max_body_bytes

        async def run(request: Request, merchant: Merchant) -> Struct:
            if body.found_first is not None:
                await body.found_first(request, merchant)
            raw = await read_limited(request, limit)
            return await handler(request, merchant, decode_body(raw, body.schema, required=body.required))

        return run

    def _operation(
        self,
        spec: Route,
        handler: Callable[..., Any],
        run: _Run,
        answer: Answer,
        *,
        errors: Iterable[int] = (),
        query: type[Struct] | None = None,
        body: Body[Any] | None = None,
    ) -> Operation:
        method, path = spec.method, spec.path
        merchants = self._merchants
        status = answer.status

        async def endpoint(request: Request) -> Response:
            merchant = await authenticate(request, merchants)
            return json_response(await run(request, merchant), status_code=status)

        statuses = {*errors, *spec.errors, *_ALWAYS}
        if method != "GET":
            statuses |= _WRITE
        if method == "POST":
            statuses |= _POST
        if "{" in path:
            statuses.add(404)
        return Operation(
            method=method,
            path=PREFIX + path,
            endpoint=endpoint,
            operation_id=f"{self._tag}_{handler.__name__}",
            summary=answer.description,
            tag=self._tag,
            description=inspect.getdoc(handler),
            security=Security.API_KEY,
            body=None if body is None else body.schema,
            body_required=True if body is None else body.required,
            query=query,
            headers=(IDEMPOTENCY_KEY,) if method == "POST" else (),
            answers=(answer,),
            errors=frozenset(statuses),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """How a handler method is routed (see `route`)."""

    method: str
    path: str
    summary: str
    status: int = 200
    errors: frozenset[int] = frozenset()
    # Its body may be empty (read as `{}`).
    optional_body: bool = False
    # The name of a method of the resource run before the body is read (see `Body.found_first`).
    found_first: str | None = None


_ROUTE: Final = "__v1_route__"


def route(
    method: str,
    path: str,
    summary: str,
    *,
    status: int = 200,
    errors: Iterable[int] = (),
    optional_body: bool = False,
    found_first: str | None = None,
) -> Callable[[H], H]:
    """Mark a handler method of a `Resource` as the operation `method path` (path under `/v1`)."""
    spec = Route(
        method=method,
        path=path,
        summary=summary,
        status=status,
        errors=frozenset(errors),
        optional_body=optional_body,
        found_first=found_first,
    )

    def mark(handler: H) -> H:
        setattr(handler, _ROUTE, spec)
        return handler

    return mark


class Resource:
    """One `/v1` resource (its OpenAPI tag): its routed methods, in the order they are defined."""

    tag: ClassVar[str]

    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def operations(self) -> list[Operation]:
        v1 = V1(self._deps, self.tag)
        return [
            v1.routed(getattr(self, name), spec, self._check(spec.found_first))
            for name, member in vars(type(self)).items()
            if (spec := getattr(member, _ROUTE, None)) is not None
        ]

    def _check(self, name: str | None) -> Check | None:
        found: Check | None = None if name is None else getattr(self, name)
        return found
