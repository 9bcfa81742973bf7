"""SQLite backend for the document-storage port: one file, shared safely by several processes."""

from integrations.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
