"""Repositories owned by the merchants context."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.merchants.model import Connection, Merchant


class MerchantRepository(Protocol):
    async def add(self, merchant: Merchant) -> None: ...

    async def get(self, merchant_id: str) -> Merchant | None: ...

    async def by_key_hash(self, api_key_hash: str) -> Merchant | None: ...

    async def update(self, merchant: Merchant) -> None:
        """Replace the stored merchant of the same id (NotFound if there is none)."""
        ...


class ConnectionRepository(Protocol):
    """Connections that are not deleted; a deleted one is gone for every method."""

    async def add(self, connection: Connection) -> None: ...

    async def get(self, connection_id: str) -> Connection | None: ...

    async def list_for(self, merchant_id: str) -> Sequence[Connection]: ...

    async def update(self, connection: Connection) -> None:
        """Replace the stored connection of the same id (NotFound if there is none)."""
        ...

    async def remove(self, connection_id: str, at: datetime) -> bool:
        """Delete the connection; False when there was none. Its stored events stay."""
        ...


class MerchantsUnit(Protocol):
    @property
    def merchants(self) -> MerchantRepository: ...

    @property
    def connections(self) -> ConnectionRepository: ...
