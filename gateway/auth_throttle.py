"""Failed authentications throttled per client address: past the budget, 429 before any look-up.

Each request that carries credentials (an `Authorization` header: an API key, the metrics
token; or what the app names besides: a portal link's token, a portal session's cookie) and is
answered 401 counts one failure against its client address, the address
`gateway.client_ip` resolves (X-Forwarded-For only through `SUBGATE_TRUSTED_PROXIES`). IPv6
clients are counted per /64 network, the block one host is usually given, so that rotating
addresses inside it gains nothing. Once an address has spent its budget
(`SUBGATE_AUTH_FAILURE_LIMIT`, counted in Redis across every `serve` process), its requests
are answered 429 `rate_limited` with `Retry-After`, before authentication, the per-key rate
limit or the store, until its oldest counted failure leaves the window.

A credential that verified through this process within the last quarter of an hour still goes
through from a throttled address: a merchant behind the same proxy or NAT as an attacker keeps
working, while keys never seen to verify are refused (telling them apart would cost the very
look-up the throttle saves). Each process learns of a spent budget at its own next failure
from that address, so with several processes an address gets at most one look-up more per
process and window; requests already in flight when the budget runs out still finish theirs.

Provider webhooks (their own lane, see `gateway.lane`) and the probes are never throttled:
providers send every merchant's events from the same addresses, and one merchant's wrong
signing secret must not stop the others'.

Memory is bounded: at most `MAX_TRACKED` throttled addresses and as many verified credentials
(digests, never the credential) are kept, the oldest forgotten first.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from http import HTTPStatus
from ipaddress import IPv6Address, IPv6Network, ip_address
from typing import Final

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import AUTHENTICATED
from gateway.client_ip import IPNetwork, client_ip
from gateway.deps import FailureCounter
from gateway.ratelimit import retry_after
from gateway.responses import error_response

log = structlog.get_logger()

MAX_TRACKED: Final = 10_000
VERIFIED_FOR_SECONDS: Final = 900.0
IPV6_PREFIX_LENGTH: Final = 64


def throttled_identity(address: str) -> str:
    """An IPv4 address as it is; an IPv6 address as its /64 network."""
    parsed = ip_address(address)
    if isinstance(parsed, IPv6Address):
        return str(IPv6Network((parsed, IPV6_PREFIX_LENGTH), strict=False))
    return str(parsed)


def credential_digest(authorization: str) -> str:
    return hashlib.sha256(authorization.encode()).hexdigest()


class AuthThrottle:
    """What this process knows: throttled identities until when, and recently verified credentials."""

    def __init__(
        self,
        counter: FailureCounter,
        *,
        max_tracked: int = MAX_TRACKED,
        verified_for: float = VERIFIED_FOR_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counter = counter
        self._max = max_tracked
        self._verified_for = verified_for
        self._monotonic = monotonic
        self._blocked: OrderedDict[str, float] = OrderedDict()  # identity -> until
        self._verified: OrderedDict[str, float] = OrderedDict()  # credential digest -> until

    @property
    def tracked(self) -> int:
        return len(self._blocked) + len(self._verified)

    def refusal(self, identity: str, credential: str | None) -> float | None:
        """Seconds the request must wait, or None when it may go on."""
        now = self._monotonic()
        if credential is not None and self._verified.get(credential, now) > now:
            return None
        until = self._blocked.get(identity)
        if until is None:
            return None
        if until <= now:
            del self._blocked[identity]
            return None
        return until - now

    async def failed(self, identity: str, credential: str) -> None:
        self._verified.pop(credential, None)
        wait = await self._counter.spend(identity)
        if wait is None or wait <= 0:
            return
        self._remember(self._blocked, identity, self._monotonic() + wait)
        log.warning("auth_throttled", client=identity, retry_after=retry_after(wait))

    def verified(self, credential: str) -> None:
        self._remember(self._verified, credential, self._monotonic() + self._verified_for)

    def _remember(self, table: OrderedDict[str, float], key: str, until: float) -> None:
        table.pop(key, None)
        while len(table) >= self._max:
            table.popitem(last=False)
        table[key] = until


class AuthThrottleMiddleware:
    """Pure ASGI, outside the per-key rate limit and idempotency: a refusal costs nothing else."""

    def __init__(
        self,
        app: ASGIApp,
        throttle: AuthThrottle,
        trusted: Sequence[IPNetwork],
        exempt_paths: Collection[str] = (),
        credential: Callable[[Request], str | None] | None = None,
    ) -> None:
        self.app = app
        self.throttle = throttle
        self.trusted = tuple(trusted)
        self.exempt_paths = frozenset(exempt_paths)
        # Credentials a request may carry besides an `Authorization` header (a portal cookie...).
        self.credential = credential

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        identity = self._identity(request)
        if identity is None:  # not a network client (a Unix socket): nothing to count it under
            await self.app(scope, receive, send)
            return
        authorization = request.headers.get("authorization")
        if authorization is None and self.credential is not None:
            authorization = self.credential(request)
        credential = None if authorization is None else credential_digest(authorization)
        wait = self.throttle.refusal(identity, credential)
        if wait is not None:
            seconds = retry_after(wait)
            message = f"too many failed authentications from this address; retry after {seconds} s"
            refusal = error_response(429, "rate_limited", message, {"Retry-After": seconds})
            await refusal(scope, receive, send)
            return
        if credential is None:  # nothing to verify, nothing to count
            await self.app(scope, receive, send)
            return
        await self._counted(identity, credential, scope, receive, send)

    def _identity(self, request: Request) -> str | None:
        peer = request.client.host if request.client else None
        address = client_ip(peer, request.headers.getlist("x-forwarded-for"), self.trusted)
        if address is None and peer is not None:
            # A peer client_ip does not take as it is: a link-local address with its zone
            # (`fe80::1%eth0`), counted without the zone like any other address.
            address = client_ip(peer.partition("%")[0], (), ())
        return None if address is None else throttled_identity(address)

    async def _counted(
        self, identity: str, credential: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        state = scope.setdefault("state", {})

        async def send_counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == HTTPStatus.UNAUTHORIZED:
                # Before the client hears the answer: its next request already finds the count.
                await self.throttle.failed(identity, credential)
            await send(message)

        await self.app(scope, receive, send_counting)
        if state.get(AUTHENTICATED) is True:
            self.throttle.verified(credential)
