"""Portal sessions: a merchant's browser access to its own portal pages.

A session starts as a one-time link. Opening the link consumes it and gives the browser a
session token (its cookie); both tokens are random (256 bits) and only their SHA-256 digests
are stored, so a copy of the store opens nothing. A token is found by its digest through an
index (an equality look-up of a digest, never a comparison of the secret itself). The link and
the browser session end together at `expires_at`, or earlier when the merchant revokes every
session. A read-only session may look at everything and change nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Protocol

from domain.merchants.model import Merchant
from domain.merchants.ports import MerchantRepository
from domain.shared.clock import Clock
from domain.shared.errors import ConcurrencyConflict, DomainError, NotFound, Unauthenticated, ValidationFailed
from domain.shared.ids import new_id
from domain.shared.txn import TxnFn

MIN_EXPIRES_IN: Final = 3600
MAX_EXPIRES_IN: Final = 604_800
DEFAULT_EXPIRES_IN: Final = MIN_EXPIRES_IN
# Tokens are `token_urlsafe(32)`: 43 characters. Anything far longer is not worth hashing.
MAX_TOKEN_LENGTH: Final = 128
_TOKEN_BYTES: Final = 32


class SessionEnded(DomainError):
    """A real link or session that can no longer be used: opened before, expired or revoked."""

    kind = "session_ended"


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalSession:
    id: str
    merchant_id: str
    merchant_name: str
    read_only: bool
    link_hash: str
    # Set when the link is opened: the digest of the browser's session token.
    session_hash: str | None
    created_at: datetime
    expires_at: datetime
    opened_at: datetime | None = None
    revoked_at: datetime | None = None
    version: int = 0

    def ended(self, now: datetime) -> str | None:
        """Why the session can no longer be used at `now`, or None while it can."""
        if self.revoked_at is not None:
            return "this portal session was revoked"
        if now >= self.expires_at:
            return "this portal session has expired"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedLink:
    session: PortalSession
    token: str  # the link's token: shown once, in the link itself


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenedSession:
    session: PortalSession
    token: str  # the browser's session token: goes into its cookie, never stored


def token_digest(token: str) -> str:
    """Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


def form_token(session_token: str) -> str:
    """The anti-forgery token of a browser session's forms: derived from its session token (which
    only the browser holds, in an HttpOnly cookie), so no page of another origin can know it."""
    return hmac.new(session_token.encode(), b"subgate portal form", hashlib.sha256).hexdigest()


def form_token_matches(session_token: str, presented: str | None) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(form_token(session_token).encode(), presented.encode())


def validated_expires_in(expires_in: int | None) -> int:
    if expires_in is None:
        return DEFAULT_EXPIRES_IN
    if isinstance(expires_in, bool) or not MIN_EXPIRES_IN <= expires_in <= MAX_EXPIRES_IN:
        raise ValidationFailed("expires_in", f"seconds from {MIN_EXPIRES_IN} to {MAX_EXPIRES_IN}")
    return expires_in


class PortalSessionRepository(Protocol):
    async def add(self, session: PortalSession) -> None: ...

    async def by_link_hash(self, link_hash: str) -> PortalSession | None: ...

    async def by_session_hash(self, session_hash: str) -> PortalSession | None: ...

    async def update(self, session: PortalSession) -> PortalSession:
        """Compare-and-set on `version`; raises ConcurrencyConflict."""
        ...

    async def revoke_all(self, merchant_id: str, at: datetime) -> int:
        """Mark every session of the merchant not revoked yet as revoked at `at`; how many."""
        ...


class PortalUnit(Protocol):
    @property
    def merchants(self) -> MerchantRepository: ...

    @property
    def portal_sessions(self) -> PortalSessionRepository: ...


def _usable_token(token: str) -> bool:
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH


class PortalSessions:
    """Issue, open, authenticate and revoke portal sessions (External: the gateway and the CLI)."""

    def __init__(self, txn: TxnFn[PortalUnit], clock: Clock) -> None:
        self._txn = txn
        self._clock = clock

    async def issue(
        self, merchant_id: str, *, expires_in: int | None = None, read_only: bool = False
    ) -> IssuedLink:
        """A new one-time link for the merchant; NotFound for a merchant that does not exist."""
        seconds = validated_expires_in(expires_in)
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        now = self._clock()

        async def work(unit: PortalUnit) -> PortalSession:
            merchant: Merchant | None = await unit.merchants.get(merchant_id)
            if merchant is None:
                raise NotFound("merchant", merchant_id)
            session = PortalSession(
                id=new_id("ps"),
                merchant_id=merchant.id,
                merchant_name=merchant.name,
                read_only=bool(read_only),
                link_hash=token_digest(token),
                session_hash=None,
                created_at=now,
                expires_at=now + timedelta(seconds=seconds),
            )
            await unit.portal_sessions.add(session)
            return session

        return IssuedLink(session=await self._txn(work), token=token)

    async def open(self, link_token: str) -> OpenedSession:
        """Consume a link: Unauthenticated for an unknown one, SessionEnded for one opened before,
        expired or revoked. Of two openings at once, one wins; the other finds it opened."""
        if not _usable_token(link_token):
            raise Unauthenticated("unknown portal link")
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        now = self._clock()

        async def work(unit: PortalUnit) -> PortalSession:
            found = await unit.portal_sessions.by_link_hash(token_digest(link_token))
            if found is None:
                raise Unauthenticated("unknown portal link")
            if found.opened_at is not None:
                raise SessionEnded("this portal link was already used; ask for a new one")
            if (why := found.ended(now)) is not None:
                raise SessionEnded(why)
            opened = replace(found, opened_at=now, session_hash=token_digest(token))
            return await unit.portal_sessions.update(opened)

        try:
            session = await self._txn(work)
        except ConcurrencyConflict:
            raise SessionEnded("this portal link was already used; ask for a new one") from None
        return OpenedSession(session=session, token=token)

    async def authenticate(self, session_token: str) -> PortalSession:
        """The live session a browser's token belongs to (Unauthenticated, or SessionEnded)."""
        if not _usable_token(session_token):
            raise Unauthenticated("no portal session")

        async def work(unit: PortalUnit) -> PortalSession | None:
            return await unit.portal_sessions.by_session_hash(token_digest(session_token))

        found = await self._txn(work)
        if found is None:
            raise Unauthenticated("no portal session")
        if (why := found.ended(self._clock())) is not None:
            raise SessionEnded(why)
        return found

    async def revoke_all(self, merchant_id: str) -> int:
        """End every portal session (and unopened link) of the merchant now; how many."""
        now = self._clock()

        async def work(unit: PortalUnit) -> int:
            return await unit.portal_sessions.revoke_all(merchant_id, now)

        return await self._txn(work)
