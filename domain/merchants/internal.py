"""Merchant operations for operators and workers (Internal). HTTP handlers cannot import this module."""

from __future__ import annotations

from dataclasses import replace

from domain.merchants.model import (
    Connection,
    Merchant,
    hash_api_key,
    new_api_key,
)
from domain.merchants.ports import MerchantsUnit
from domain.shared.clock import Clock
from domain.shared.errors import NotFound, ValidationFailed, existing
from domain.shared.ids import new_id
from domain.shared.txn import TxnFn

MAX_SECRETS = 5

MAX_NAME_LENGTH = 200


class MerchantsInternal:
    """Operator actions (admin CLI): creating merchants, issuing their key, reading connections."""

    def __init__(self, txn: TxnFn[MerchantsUnit], clock: Clock) -> None:
        self._txn = txn
        self._clock = clock

    async def create_merchant(self, name: str) -> tuple[Merchant, str]:
        """Returns the merchant and its API key; only the key's hash is stored."""
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise ValidationFailed("name", f"1 to {MAX_NAME_LENGTH} characters")
        api_key = new_api_key()
        merchant = Merchant(
            id=new_id("mer"), name=name, api_key_hash=hash_api_key(api_key), created_at=self._clock()
        )

        async def work(unit: MerchantsUnit) -> None:
            await unit.merchants.add(merchant)

        await self._txn(work)
        return merchant, api_key

    async def rotate_key(self, merchant_id: str) -> tuple[Merchant, str]:
        """Issue a new API key; the old one stops working with this commit. Returns the new key."""
        api_key = new_api_key()

        async def work(unit: MerchantsUnit) -> Merchant:
            merchant = await unit.merchants.get(merchant_id)
            if merchant is None:
                raise NotFound("merchant", merchant_id)
            rotated = replace(merchant, api_key_hash=hash_api_key(api_key))
            await unit.merchants.update(rotated)
            return rotated

        return await self._txn(work), api_key

    async def connection(self, connection_id: str) -> Connection:
        """Any merchant's connection, secrets included: for operator tools that act as the provider."""

        async def work(unit: MerchantsUnit) -> Connection | None:
            return await unit.connections.get(connection_id)

        return existing(await self._txn(work), "connection", connection_id)

    async def api_key(self, connection_id: str) -> str | None:
        """The provider API key a connection holds, for fetching what an event lacks.

        None when the connection has no key, or no longer exists.
        """

        async def work(unit: MerchantsUnit) -> Connection | None:
            return await unit.connections.get(connection_id)

        found = await self._txn(work)
        return None if found is None else found.api_key
