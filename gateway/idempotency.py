"""Idempotency-Key on REST POSTs: a retried request gets the first answer, not a second effect.

For a `POST /v1/...` carrying the header, after the merchant is authenticated (keys are
per merchant; an unauthenticated request goes on to its route, which answers 401):

- first use of the key: the request runs; its answer (status, body, content type) is
  kept for 24 hours, unless it is a 5xx, after which the key is free again (the client
  may retry, and nothing says the first attempt had an effect worth replaying);
- the same key with the same method, path, query and body (byte for byte): that answer
  again, with `Idempotent-Replayed: true`, and nothing runs;
- the same key with anything else: 409 `idempotency_key_reused`;
- the same key while its first request is still running: 409 `idempotency_key_in_use`
  with `Retry-After: 1`, at once, rather than holding the connection open (the retry
  then gets the first answer);
- the same key after the first request wrote to the store and its process died before its
  answer was kept (the record is marked in the request's own transaction, see
  `integrations.stores.idempotency`): 409 `idempotency_answer_lost`, and nothing runs.

A key is 1 to 255 characters (400 otherwise).
"""

from __future__ import annotations

import hashlib
from typing import Final

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.merchants.external import MerchantsExternal
from domain.merchants.model import Merchant
from domain.shared.errors import Unauthenticated
from gateway.auth import authenticate
from gateway.body import read_limited
from gateway.deps import IdempotencyKeys
from gateway.errors import ApiError
from gateway.ratelimit import REST_PREFIX
from gateway.responses import error_response
from integrations.stores.documents import StorageError
from integrations.stores.idempotency import KeyedRequest, Refused, Replay, SavedResponse, Started, holding

log = structlog.get_logger()

HEADER: Final = "idempotency-key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
MAX_KEY_LENGTH: Final = 255
_SERVER_ERROR: Final = 500


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests the same; each part length-prefixed, so no two splits collide."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def checked_key(raw: str) -> str:
    if not 1 <= len(raw) <= MAX_KEY_LENGTH:
        raise ApiError(400, "invalid_request", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    return raw


def refusal(reason: Refused) -> Response:
    if reason == Refused.ANSWER_LOST:
        return error_response(
            409,
            "idempotency_answer_lost",
            "the first request with this Idempotency-Key wrote to the store, but the service stopped "
            "before its answer was kept; it is not run again: look its result up (GET) instead",
        )
    if reason == Refused.OTHER_REQUEST:
        return error_response(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for another request (method, path or body); "
            "use a new key for a new request",
        )
    return error_response(
        409,
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is still in progress; retry once it has finished",
        {"Retry-After": "1"},
    )


def replay(saved: SavedResponse) -> Response:
    headers = {REPLAYED_HEADER: "true"}
    if saved.content_type is not None:
        headers["content-type"] = saved.content_type
    return Response(saved.body, status_code=saved.status, headers=headers)


def _store_unavailable() -> Response:
    return error_response(503, "service_unavailable", "the store is unavailable, try again later")


def _content_type(start: Message) -> str | None:
    for name, value in start.get("headers", ()):
        if bytes(name).lower() == b"content-type":
            return bytes(value).decode("latin-1")
    return None


class IdempotencyMiddleware:
    """Pure ASGI, inside the exception handlers' reach: it sees 4xx answers as responses."""

    def __init__(
        self, app: ASGIApp, keys: IdempotencyKeys, merchants: MerchantsExternal, max_body_bytes: int
    ) -> None:
        self.app = app
        self.keys = keys
        self.merchants = merchants
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(REST_PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        raw_key = request.headers.get(HEADER)
        try:
            merchant = None if raw_key is None else await self._merchant(request)
            if raw_key is None or merchant is None:
                await self.app(scope, receive, send)
                return
            key = checked_key(raw_key)
            body = await read_limited(request, self.max_body_bytes)
            keyed = KeyedRequest(
                merchant_id=merchant.id,
                key=key,
                fingerprint=fingerprint(scope["method"], scope["path"], scope["query_string"], body),
            )
            begun = await self.keys.begin(keyed)
        except ApiError as error:
            response = error_response(error.status_code, error.error_type, error.message, error.headers)
            await response(scope, receive, send)
            return
        except StorageError:
            log.exception("store_unavailable", path=scope["path"], method="POST")
            await _store_unavailable()(scope, receive, send)
            return
        if isinstance(begun, Started):
            await self._run(begun, body, scope, receive, send)
        elif isinstance(begun, Replay):
            await replay(begun.response)(scope, receive, send)
        else:
            await refusal(begun)(scope, receive, send)

    async def _merchant(self, request: Request) -> Merchant | None:
        try:
            return await authenticate(request, self.merchants)
        except Unauthenticated:
            return None

    async def _run(self, started: Started, body: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request on the body already read; keep its answer before the client sees it."""
        body_given = False

        async def receive_body() -> Message:
            nonlocal body_given
            if body_given:
                return await receive()  # only a disconnect is left to hear about
            body_given = True
            return {"type": "http.request", "body": body, "more_body": False}

        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            # Each unit of work that writes marks the key's record in its own transaction.
            with holding(started):
                await self.app(scope, receive_body, hold)
        except BaseException:
            await self._give_back(started)
            raise
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if start is not None and int(start["status"]) < _SERVER_ERROR:
            answer = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
            saved = SavedResponse(status=int(start["status"]), content_type=_content_type(start), body=answer)
            await self._keep(started, saved)
        else:
            await self._give_back(started)
        for message in held:
            await send(message)

    async def _keep(self, started: Started, saved: SavedResponse) -> None:
        # The request's effect is done: whatever happens to the record, the client gets the answer.
        try:
            kept = await self.keys.complete(started, saved)
        except StorageError:
            log.exception("idempotency_answer_not_kept", record_id=started.record_id)
            return
        if not kept:
            log.warning("idempotency_key_lost", record_id=started.record_id, reason="lease_expired")

    async def _give_back(self, started: Started) -> None:
        try:
            await self.keys.release(started)
        except StorageError:
            # The key stays taken until its lease runs out; retries get 409 until then.
            log.exception("idempotency_key_not_released", record_id=started.record_id)
