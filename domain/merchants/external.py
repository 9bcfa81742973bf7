"""Merchant services: External for HTTP handlers, Internal for workers and admin commands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.merchants.model import (
    Connection,
    Merchant,
    Provider,
    hash_api_key,
)
from domain.merchants.ports import MerchantsUnit
from domain.shared.clock import Clock
from domain.shared.errors import NotFound, Unauthenticated, ValidationFailed, owned
from domain.shared.ids import new_id
from domain.shared.txn import TxnFn, with_retries

MAX_SECRETS = 5
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 512
MAX_API_KEY_LENGTH = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class NewConnection:
    provider: str
    webhook_secrets: Sequence[str]
    api_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionChange:
    """What a PATCH changes: `None` leaves a field as it is."""

    webhook_secrets: Sequence[str] | None = None  # the new list, replacing every secret
    api_key_changed: bool = False
    api_key: str | None = None  # with api_key_changed: the new key, or None to forget it


def _validated_secrets(secrets: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(s for s in secrets)
    if not cleaned:
        raise ValidationFailed("webhook_secrets", "at least one secret is required")
    if len(cleaned) > MAX_SECRETS:
        raise ValidationFailed("webhook_secrets", f"at most {MAX_SECRETS} secrets")
    for secret in cleaned:
        if (
            not isinstance(secret, str)
            or not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH
            or secret.strip() != secret
        ):
            raise ValidationFailed("webhook_secrets", "each secret is a string of 8 to 512 characters")
    return cleaned


def _validated_api_key(api_key: str | None) -> str | None:
    if api_key is None:
        return None
    if not 1 <= len(api_key) <= MAX_API_KEY_LENGTH or api_key.strip() != api_key:
        raise ValidationFailed("api_key", f"a string of 1 to {MAX_API_KEY_LENGTH} characters, or null")
    return api_key


# Inbound webhooks look their connection up on every request; a short-lived copy saves that
# store round trip. A change made through this service takes effect at once here; another
# process sees it within this long (a rotated-out secret keeps verifying that long there).
WEBHOOK_CONNECTION_TTL = timedelta(seconds=2)
_MAX_CACHED_CONNECTIONS = 10_000


class MerchantsExternal:
    def __init__(self, txn: TxnFn[MerchantsUnit], clock: Clock) -> None:
        self._txn = txn
        self._clock = clock
        self._webhook_connections: dict[str, tuple[Connection, datetime]] = {}

    async def authenticate(self, api_key: str) -> Merchant:
        async def work(unit: MerchantsUnit) -> Merchant | None:
            return await unit.merchants.by_key_hash(hash_api_key(api_key))

        # The prefix test only spares a store read (no stored hash matches another key): its mutants
        # are equivalent.
        merchant = await self._txn(work) if api_key.startswith("sg_") else None  # pragma: no mutate
        if merchant is None:
            raise Unauthenticated("invalid API key")
        return merchant

    async def create_connection(self, merchant_id: str, new: NewConnection) -> Connection:
        try:
            provider = Provider(new.provider)
        except ValueError:
            raise ValidationFailed("provider", f"one of {', '.join(p.value for p in Provider)}") from None
        connection = Connection(
            id=new_id("conn"),
            merchant_id=merchant_id,
            provider=provider,
            webhook_secrets=_validated_secrets(new.webhook_secrets),
            api_key=_validated_api_key(new.api_key),
            created_at=self._clock(),
        )

        async def work(unit: MerchantsUnit) -> None:
            await unit.connections.add(connection)

        await self._txn(work)
        return connection

    async def get_connection(self, merchant_id: str, connection_id: str) -> Connection:
        async def work(unit: MerchantsUnit) -> Connection | None:
            return await unit.connections.get(connection_id)

        return owned(await self._txn(work), merchant_id, "connection", connection_id)

    async def update_connection(
        self, merchant_id: str, connection_id: str, change: ConnectionChange
    ) -> Connection:
        """Rotate secrets (the new list takes effect with this commit) or set the API key."""
        if change.webhook_secrets is None and not change.api_key_changed:
            raise ValidationFailed("body", "give webhook_secrets or api_key")
        secrets = None if change.webhook_secrets is None else _validated_secrets(change.webhook_secrets)
        api_key = _validated_api_key(change.api_key)

        async def work(unit: MerchantsUnit) -> Connection:
            found = owned(await unit.connections.get(connection_id), merchant_id, "connection", connection_id)
            changed = replace(
                found,
                webhook_secrets=found.webhook_secrets if secrets is None else secrets,
                api_key=api_key if change.api_key_changed else found.api_key,
            )
            await unit.connections.update(changed)
            return changed

        try:
            # Read again and re-applied when another write came first (a worker re-sealing the
            # stored secrets with a new key, say): the change is made on what is stored now.
            return await with_retries(self._txn, work)
        finally:
            self._webhook_connections.pop(connection_id, None)

    async def delete_connection(self, merchant_id: str, connection_id: str) -> None:
        """Later webhooks to it answer 404; the events it already received stay."""

        async def work(unit: MerchantsUnit) -> None:
            owned(await unit.connections.get(connection_id), merchant_id, "connection", connection_id)
            await unit.connections.remove(connection_id, self._clock())

        try:
            await self._txn(work)
        finally:
            self._webhook_connections.pop(connection_id, None)

    async def list_connections(self, merchant_id: str) -> Sequence[Connection]:
        async def work(unit: MerchantsUnit) -> Sequence[Connection]:
            return await unit.connections.list_for(merchant_id)

        return await self._txn(work)

    async def note_signing_scheme(self, connection: Connection, scheme: str | None) -> None:
        """Record which way `connection`'s latest verified webhook was signed.

        Written only when it differs from what the connection shows (the webhook lookup's copy,
        then the store's), so a steady stream of webhooks signed one way costs no write.
        """
        if scheme is None or connection.signing_scheme == scheme:
            return

        async def work(unit: MerchantsUnit) -> Connection | None:
            found = await unit.connections.get(connection.id)
            if found is None or found.signing_scheme == scheme:
                return found  # deleted meanwhile, or another request wrote it first
            changed = replace(found, signing_scheme=scheme)
            await unit.connections.update(changed)
            return changed

        noted = await with_retries(self._txn, work)
        if noted is not None and connection.id in self._webhook_connections:
            self._webhook_connections[connection.id] = (noted, self._clock() + WEBHOOK_CONNECTION_TTL)

    async def connection_for_webhook(self, provider: str, connection_id: str) -> Connection:
        """Public lookup for inbound webhooks: unknown or mismatched provider is NotFound."""

        now = self._clock()
        cached = self._webhook_connections.get(connection_id)
        if cached is not None and cached[1] > now:
            found: Connection | None = cached[0]
        else:

            async def work(unit: MerchantsUnit) -> Connection | None:
                return await unit.connections.get(connection_id)

            found = await self._txn(work)
            if found is not None:
                # Only bounds the memory a flood of ids can take; one entry more or less is no behaviour.
                if len(self._webhook_connections) >= _MAX_CACHED_CONNECTIONS:  # pragma: no mutate
                    self._webhook_connections.clear()
                self._webhook_connections[connection_id] = (found, now + WEBHOOK_CONNECTION_TTL)
        if found is None or found.provider.value != provider:
            raise NotFound("connection", connection_id)
        return found
