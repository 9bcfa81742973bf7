"""Portal sessions in the store (the merchants context's `PortalSessionRepository`).

Looked up by the digest of a token through a unique index; the tokens themselves are never
stored (see `domain.merchants.portal`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from domain.merchants.portal import PortalSession
from integrations.stores.codecs import DocumentCodec, iso
from integrations.stores.documents import DocumentSession
from integrations.stores.versioned import bumped

COLLECTION: Final = "portal_sessions"  # its indexes: integrations.stores.schema
CODEC: Final = DocumentCodec(PortalSession)


class PortalSessionRepo:
    def __init__(self, session: DocumentSession) -> None:
        self._s = session

    async def add(self, session: PortalSession) -> None:
        await self._s.insert(COLLECTION, CODEC.to_doc(session))

    async def by_link_hash(self, link_hash: str) -> PortalSession | None:
        return await self._one("link_hash", link_hash)

    async def by_session_hash(self, session_hash: str) -> PortalSession | None:
        return await self._one("session_hash", session_hash)

    async def _one(self, field: str, digest: str) -> PortalSession | None:
        docs = await self._s.find(COLLECTION, {field: digest}, limit=1)
        return CODEC.from_doc(docs[0]) if docs else None

    async def update(self, session: PortalSession) -> PortalSession:
        return await bumped(self._s, COLLECTION, CODEC.to_doc, session, "portal session")

    async def revoke_all(self, merchant_id: str, at: datetime) -> int:
        return await self._s.update_where(
            COLLECTION, {"merchant_id": merchant_id, "revoked_at": None}, {"revoked_at": iso(at)}
        )
