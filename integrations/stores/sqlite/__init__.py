"""SQLite backend for the document-storage port: one file, shared safely by several processes."""

from integrations.stores.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
