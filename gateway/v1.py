"""`/v1` operations: authenticated, inputs decoded by their Structs, answers encoded from theirs.

A handler receives the merchant and, where the operation has one, its decoded body or query;
it returns a Struct, which is encoded with the operation's success status. The schema given
here and the handler's own signature must agree (mypy checks it), so what `/openapi.json`
says a route takes and answers is what the route really does.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

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

R = TypeVar("R", bound=Struct)
In = TypeVar("In", bound=Struct)

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

    def plain(
        self,
        method: str,
        path: str,
        handler: Callable[[Request, Merchant], Awaitable[R]],
        *,
        ok: type[R],
        summary: str,
        status: int = 200,
        errors: Iterable[int] = (),
    ) -> Operation:
        """An operation that reads neither a body nor a query (a GET by id, a DELETE, an action).

        `errors`: statuses it may answer besides those every operation of its kind may.
        """
        answer = Answer(status=status, schema=ok, description=summary)
        return self._operation(method, path, handler, handler, answer=answer, errors=errors)

    def with_query(
        self,
        path: str,
        handler: Callable[[Request, Merchant, In], Awaitable[R]],
        *,
        query: type[In],
        ok: type[R],
        summary: str,
    ) -> Operation:
        """A GET whose query parameters are the fields of `query`."""

        async def run(request: Request, merchant: Merchant) -> R:
            return await handler(request, merchant, decode_query(request.query_params, query))

        answer = Answer(status=200, schema=ok, description=summary)
        return self._operation("GET", path, handler, run, answer=answer, errors={422}, query=query)

    def with_body(
        self,
        method: str,
        path: str,
        handler: Callable[[Request, Merchant, In], Awaitable[R]],
        *,
        body: Body[In],
        ok: type[R],
        summary: str,
        status: int = 200,
        errors: Iterable[int] = (),
    ) -> Operation:
        """An operation taking a JSON body; `errors` as for `plain`."""
        limit = self._max_body_bytes

        async def run(request: Request, merchant: Merchant) -> R:
            if body.found_first is not None:
                await body.found_first(request, merchant)
            raw = await read_limited(request, limit)
            return await handler(request, merchant, decode_body(raw, body.schema, required=body.required))

        answer = Answer(status=status, schema=ok, description=summary)
        return self._operation(method, path, handler, run, answer=answer, errors={*_BODY, *errors}, body=body)

    def _operation(
        self,
        method: str,
        path: str,
        handler: Callable[..., Any],
        run: _Run,
        *,
        answer: Answer,
        errors: Iterable[int] = (),
        query: type[Struct] | None = None,
        body: Body[Any] | None = None,
    ) -> Operation:
        merchants = self._merchants
        status = answer.status

        async def endpoint(request: Request) -> Response:
            merchant = await authenticate(request, merchants)
            return json_response(await run(request, merchant), status_code=status)

        statuses = {*errors, *_ALWAYS}
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
