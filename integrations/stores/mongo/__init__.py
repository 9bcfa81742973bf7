"""MongoDB backend for the document-storage port (pymongo's native asyncio client)."""

from integrations.stores.mongo.store import MongoStore

__all__ = ["MongoStore"]
